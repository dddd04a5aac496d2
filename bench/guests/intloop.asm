; Integer ALU loop: 50 M iterations of add, xor, rotate, multiply.
%define REPS 20  ; about 2 s under QEMU (guest.inc)
%include "guest.inc"
bench:
    mov ecx, 50000000
    xor eax, eax
    mov ebx, 1
    xor edx, edx
.l:
    add rax, rcx
    xor rbx, rax
    rol rbx, 3
    imul rdx, rbx, 7
    add rax, rdx
    dec ecx
    jnz .l
    ret
msg_name: db "intloop ", 0
BOOT64_TAIL
