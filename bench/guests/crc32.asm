; CRC-32 (reflected, polynomial 0xEDB88320), bit by bit, over 1 MiB of
; generated data.
%define REPS 30  ; about 2 s under QEMU (guest.inc)
%include "guest.inc"
bench:
    ; data: a 64-bit LCG into 0x1000000
    mov edi, 0x1000000
    mov ecx, 1024 * 1024 / 8
    mov rax, 0x123456789
    mov r8, 6364136223846793005
.gen:
    imul rax, r8
    mov r9, 1442695040888963407
    add rax, r9
    mov [rdi], rax
    add rdi, 8
    dec ecx
    jnz .gen
    mov esi, 0x1000000
    mov ecx, 1024 * 1024
    mov eax, 0xffffffff
.byte:
    movzx edx, byte [rsi]
    xor eax, edx
    mov r9d, 8
.bit:
    shr eax, 1
    jnc .nox
    xor eax, 0xedb88320
.nox:
    dec r9d
    jnz .bit
    inc rsi
    dec ecx
    jnz .byte
    not eax
    ret
msg_name: db "crc32   ", 0
BOOT64_TAIL
