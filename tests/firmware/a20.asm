; The A20 gate through port 92: with it closed, physical address bit 20 is
; 0, so 0x100000 is 0x000000 again (the 8086's wrap-around), for data and
; page walks alike; opened, the two are different memory again.
%include "uart.inc"
%include "boot64.inc"
%include "idt64.inc"

bits 64
lm64:
    mov rsp, 0x90000
    mov dword [0x000000], 0x11111111
    mov dword [0x100000], 0x22222222
    in al, 0x92
    movzx edi, al
    lea rsi, [rel msg_port]
    call show8
    mov edi, [0x100000]
    lea rsi, [rel msg_open]
    call show32
    xor eax, eax                 ; close the gate
    out 0x92, al
    mov edi, [0x100000]
    lea rsi, [rel msg_closed]
    call show32
    mov dword [0x100004], 0x33333333
    mov al, 2                    ; open it again
    out 0x92, al
    in al, 0x92
    movzx edi, al
    lea rsi, [rel msg_port]
    call show8
    mov edi, [0x000004]
    lea rsi, [rel msg_low]
    call show32
    mov edi, [0x100004]
    lea rsi, [rel msg_high]
    call show32
    EXIT 0x20

show8:
    call print
    mov ecx, 2
    jmp show
show32:
    call print
    mov ecx, 8
show:
    call print_hex
    lea rsi, [rel msg_eol]
    jmp print

ex_common:
    EXIT 0x7f

IDT_CODE
msg_port:   db "port 92: ", 0
msg_open:   db "gate open, [100000] = ", 0
msg_closed: db "gate closed, [100000] = ", 0
msg_low:    db "written at 100004 while closed, [000004] = ", 0
msg_high:   db "and [100004] = ", 0
msg_eol:    db 13, 10, 0

BOOT64_TAIL
