; Start-up: the first guest instruction at the reset vector leaves through
; isa-debug-exit, so a run's time is the emulator's start-up and exit.
bits 16
section .text start=0 vstart=0
    times 0xfff0 db 0xff
reset_vector:
    mov al, 0
    out 0xf4, al
    hlt
    times 0x10000 - ($ - $$) db 0xff
