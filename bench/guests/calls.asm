; Calls and returns: recursive fib(30), about 2.7 M calls.
%define REPS 200  ; about 2 s under QEMU (guest.inc)
%include "guest.inc"
bench:
    mov edi, 30
    call fib
    ret
fib:
    cmp rdi, 2
    jae .rec
    mov rax, rdi
    ret
.rec:
    push rdi
    dec rdi
    call fib
    pop rdi
    push rax
    sub rdi, 2
    call fib
    pop rdx
    add rax, rdx
    ret
msg_name: db "calls   ", 0
BOOT64_TAIL
