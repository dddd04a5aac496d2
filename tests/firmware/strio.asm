; String I/O: REP OUTSB prints a line on COM1; OUTSB into the UART's
; scratch register and REP INSB back, forwards and backwards (DF); a lone
; INSB, and REP INSB with a zero count. The registers and memory after
; each are printed.
%include "uart.inc"
%include "boot64.inc"
%include "idt64.inc"

bits 64
lm64:
    mov rsp, 0x90000
    IDT_SETUP
    call wait_tx
    lea rsi, [rel msg_rep]
    mov ecx, msg_rep_len
    mov dx, COM1
    cld
    rep outsb
    mov r12, rsi
    lea rax, [rel msg_rep + msg_rep_len]
    sub r12, rax                 ; 0: RSI ended just past the string
    mov r13, rcx

    mov dx, COM1 + 7             ; scratch
    lea rsi, [rel pattern]
    mov ecx, 3
    rep outsb                    ; the last byte, 0x33, stays
    mov edi, 0x50000
    mov qword [rdi], 0
    mov ecx, 4
    rep insb
    mov r14, rdi                 ; 0x50004
    std
    mov al, 0x5a
    out dx, al
    mov edi, 0x50007
    mov ecx, 2
    rep insb                     ; 0x50007 and 0x50006
    cld
    mov r15, rdi                 ; 0x50005
    mov rdi, [0x50000]
    mov ecx, 16
    call print_hex
    call space
    mov rdi, r12
    mov ecx, 4
    call print_hex
    call space
    mov rdi, r13
    mov ecx, 4
    call print_hex
    call space
    mov rdi, r14
    mov ecx, 8
    call print_hex
    call space
    mov rdi, r15
    mov ecx, 8
    call print_hex
    lea rsi, [rel msg_eol]
    call print

    ; A single INSB without REP, and with a zero count nothing happens.
    mov dx, COM1 + 7
    mov al, 0x77
    out dx, al
    mov edi, 0x50010
    mov byte [rdi], 0
    insb
    xor ecx, ecx
    mov byte [rdi], 0
    rep insb
    mov rdi, [0x5000f]
    and edi, 0xffffff
    mov ecx, 6
    call print_hex
    lea rsi, [rel msg_eol]
    call print
    EXIT 0x6a

wait_tx:
    mov dx, COM1 + 5
.w:
    in al, dx
    test al, 0x40                ; transmitter empty
    jz .w
    ret
space:
    lea rsi, [rel msg_sp]
    jmp print

ex_common:
    EX_SAVE_AND_PRINT
    lea rsi, [rel msg_eol]
    call print
    EXIT 0x6b

IDT_CODE
msg_ex:   db "ex ", 0
msg_err:  db " err ", 0
msg_eol:  db 13, 10, 0
msg_sp:   db " ", 0
msg_rep:  db "rep outsb ok", 13, 10
msg_rep_len equ $ - msg_rep
pattern:  db 0x11, 0x22, 0x33

BOOT64_TAIL
