; COM1 echo for bench/serial-echo: a real-mode loop that polls the UART's
; line status and sends back each byte it receives, never halting (the
; worst case for input latency: the CPU is always inside guest code).
bits 16
section .text start=0 vstart=0
start:
    mov dx, 0x3fd
.poll:
    in al, dx
    test al, 1                  ; data ready
    jz .poll
    mov dx, 0x3f8
    in al, dx
    out dx, al
    mov dx, 0x3fd
    jmp .poll
    times 0xfff0 - ($ - $$) db 0xff
reset_vector:
    jmp 0xf000:start
    times 0x10000 - ($ - $$) db 0xff
