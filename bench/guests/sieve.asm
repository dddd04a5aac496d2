; Sieve of Eratosthenes over 4 M bytes at 0x1000000, eight times; the
; checksum is the prime count.
%define REPS 4  ; about 2 s under QEMU (guest.inc)
%include "guest.inc"
N equ 4 * 1024 * 1024
bench:
    mov r12d, 8
.round:
    mov edi, 0x1000000
    mov ecx, N / 8
    mov rax, 0x0101010101010101
    rep stosq
    mov byte [abs 0x1000000], 0
    mov byte [abs 0x1000001], 0
    mov ebx, 2
.outer:
    mov rax, rbx
    imul rax, rbx
    cmp rax, N
    jae .count
    cmp byte [0x1000000 + rbx], 0
    je .next
.inner:
    mov byte [0x1000000 + rax], 0
    add rax, rbx
    cmp rax, N
    jb .inner
.next:
    inc rbx
    jmp .outer
.count:
    dec r12d
    jnz .round
    xor eax, eax
    xor ecx, ecx
.c:
    movzx edx, byte [0x1000000 + rcx]
    add rax, rdx
    inc rcx
    cmp rcx, N
    jb .c
    ret
msg_name: db "sieve   ", 0
BOOT64_TAIL
