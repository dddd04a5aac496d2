; Port I/O from CPL 3: with IOPL 0 the TSS I/O permission bitmap decides.
; The TSS (at 0x30000) allows COM1's ports and denies the rest; user code
; prints through COM1 itself, then an OUT to isa-debug-exit raises #GP(0),
; delivered on the TSS's RSP0 stack; CLI raises #GP(0) too; the handler
; reports and skips each, and UD2 ends the test from the kernel.
%include "uart.inc"
%define BOOT_EXTRA_PAGING USER_PAGES
%include "boot64.inc"
%include "idt64.inc"

bits 64
lm64:
    mov rsp, 0x90000
    IDT_SETUP
    ; TSS: RSP0, and the I/O bitmap at offset 0x68: all denied but 0x3f8-0x3ff.
    mov edi, 0x30000
    xor eax, eax
    mov ecx, 0x68 / 4
    rep stosd
    mov qword [abs 0x30004], 0x88000     ; RSP0
    mov word [abs 0x30066], 0x68         ; I/O map base
    mov edi, 0x30068
    mov al, 0xff
    mov ecx, 8192 + 1
    rep stosb
    mov byte [abs 0x30068 + 0x3f8 / 8], 0
    mov ax, 0x30
    ltr ax
    ; To CPL 3 with IRETQ: SS, RSP, RFLAGS (IOPL 0), CS, RIP.
    push 0x23
    push 0x80000
    push 0x2
    push 0x2b
    lea rax, [rel user]
    push rax
    iretq

user:                            ; CPL 3
    lea rsi, [rel msg_user]
    call print                   ; COM1 is allowed by the bitmap
    mov r15d, 1                  ; OUT to 0xf4: denied
    mov dx, DEBUG_EXIT
    mov al, 0x7f
    out dx, al
    mov r15d, 1                  ; CLI at CPL 3 > IOPL
    cli
    lea rsi, [rel msg_back]
    call print
    mov r15d, 2
    ud2                          ; ends the test

ex_common:
    cmp qword [rsp], 6
    je .done
    EX_SAVE_AND_PRINT
    mov ax, cs
    and eax, 3
    add al, '0'
    mov [abs 0x8f000], al        ; the handler's CPL, printed from RAM
    mov byte [abs 0x8f001], 0
    lea rsi, [rel msg_cpl]
    call print
    mov esi, 0x8f000
    call print
    lea rsi, [rel msg_eol]
    call print
    add [rsp + 80], r15
    EX_RESTORE
    iretq
.done:
    lea rsi, [rel msg_done]
    call print
    EXIT 0x66

IDT_CODE
msg_user: db "user mode prints through COM1", 13, 10, 0
msg_back: db "back in user mode", 13, 10, 0
msg_ex:   db "ex ", 0
msg_err:  db " err ", 0
msg_cpl:  db " in cpl ", 0
msg_eol:  db 13, 10, 0
msg_done: db "ud2: done", 13, 10, 0

BOOT64_TAIL
