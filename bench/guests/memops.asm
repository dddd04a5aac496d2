; memset and memcpy: REP STOSQ and REP MOVSB over 8 MiB, and a byte loop
; copying 4 MiB, twenty times.
%include "guest.inc"
bench:
    mov r12d, 20
.round:
    mov edi, 0x1000000
    mov ecx, 8 * 1024 * 1024 / 8
    mov rax, r12
    rep stosq
    mov esi, 0x1000000
    mov edi, 0x2000000
    mov ecx, 8 * 1024 * 1024
    rep movsb
    mov esi, 0x2000000
    mov edi, 0x3000000
    mov ecx, 4 * 1024 * 1024
.copy:
    mov al, [rsi]
    mov [rdi], al
    inc rsi
    inc rdi
    dec ecx
    jnz .copy
    dec r12d
    jnz .round
    mov rax, [abs 0x3000000]
    add rax, [abs 0x2000000 + 8 * 1024 * 1024 - 8]
    ret
msg_name: db "memops  ", 0
BOOT64_TAIL
