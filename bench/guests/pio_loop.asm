; The port I/O round trip: 1,000,000 OUTs to isa-debugcon (port 0xe9), then
; isa-debug-exit. Under KVM each OUT is a KVM_EXIT_IO to user space and
; back; bench/pio-roundtrip subtracts exit_at_reset's time and divides.
COUNT equ 1000000
bits 16
section .text start=0 vstart=0
start:
    mov ecx, COUNT
    mov dx, 0xe9
    mov al, '.'
.loop:
    out dx, al
    dec ecx
    jnz .loop
    mov al, 0
    out 0xf4, al
    hlt
    times 0xfff0 - ($ - $$) db 0xff
reset_vector:
    jmp 0xf000:start
    times 0x10000 - ($ - $$) db 0xff
