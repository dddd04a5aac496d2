; The start-up of the C guest kernels (bench/guests/c/*.c): the firmware
; frame of the other guest images (guest.inc: reset vector to long mode,
; the checksum printed, isa-debug-exit) around a kernel built at build time
; with Debian's gcc (-O2 -ffreestanding -mno-red-zone), linked to run at
; 1 MiB (kernel.ld). Its flat image is kernel.img on the include path
; (one directory per kernel), its name comes in by -DNAME=word; bench
; copies it to 1 MiB, turns SSE on and calls it.
%include "guest.inc"
bench:
    mov rax, cr0
    and rax, ~(1 << 2)              ; EM off
    or rax, 1 << 1                  ; MP
    mov cr0, rax
    mov rax, cr4
    or rax, (1 << 9) | (1 << 10)    ; OSFXSR, OSXMMEXCPT
    mov cr4, rax
    lea rsi, [rel kernel]
    mov edi, 0x100000
    mov ecx, kernel_end - kernel
    rep movsb
    mov eax, 0x100000
    jmp rax                         ; returns to lm64 with the checksum in rax
%defstr NAME_S NAME
msg_name: db NAME_S
    times 8 - ($ - msg_name) db ' '
    db 0
kernel:
    incbin "kernel.img"
kernel_end:
BOOT64_TAIL
