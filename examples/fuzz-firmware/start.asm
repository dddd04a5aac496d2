; examples/fuzz-firmware's boot: the reset vector to long mode (the test
; firmware's boot64.inc: the first GiB identity-mapped, no IDT), then the
; parser (parser.c, built flat to run at 1 MiB) copied there and entered.
; (boot64.inc also sets COM1 up, with uart.inc.)
%include "uart.inc"
%include "boot64.inc"

bits 64
lm64:
    mov rsp, 0x80000
    lea rsi, [rel image]
    mov edi, 0x100000
    mov ecx, image_end - image
    rep movsb
    mov eax, 0x100000
    jmp rax
image:
    incbin "parser.img"
image_end:
BOOT64_TAIL
