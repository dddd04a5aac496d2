; Indirect calls through a table of eight functions, 20 M times.
%define REPS 5  ; about 2 s under QEMU (guest.inc)
%include "guest.inc"
bench:
    xor eax, eax
    mov ecx, 20000000
    lea rbx, [rel table]
.l:
    mov edx, ecx
    and edx, 7
    call [rbx + rdx * 8]
    dec ecx
    jnz .l
    ret
f0: add rax, 1
    ret
f1: add rax, 3
    ret
f2: xor rax, 5
    ret
f3: sub rax, 7
    ret
f4: rol rax, 1
    ret
f5: add rax, rcx
    ret
f6: inc rax
    ret
f7: dec rax
    ret
align 8
table: dq BASE + f0, BASE + f1, BASE + f2, BASE + f3, BASE + f4, BASE + f5, BASE + f6, BASE + f7
msg_name: db "indirect ", 0
BOOT64_TAIL
