; A triple fault: with an empty IDT, INT3 raises #GP, which raises #DF,
; which shuts the machine down. Run with -no-reboot, the process exits 0,
; as QEMU's does; without it the machine would reset and start again.
%include "uart.inc"
%include "boot64.inc"

bits 64
lm64:
    mov rsp, 0x90000
    lea rsi, [rel msg]
    PRINT
    lidt [rel empty_idt]
    int3
    EXIT 0x7f                    ; not reached

empty_idt:
    dw 0
    dq 0
msg: db "triple fault next", 13, 10, 0

BOOT64_TAIL
