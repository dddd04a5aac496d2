; A loop that rewrites its own code for ever (issue #17's probe): in real
; mode, the reset vector writes "mov ax, imm16; inc word [imm]; jmp far"
; at 0:1000 and jumps there, so every pass invalidates the code it runs.
; bench/smc-memory reports what that does to each emulator's memory.
bits 16
start:
    cli
    xor ax, ax
    mov ds, ax
    mov word [0x1000], 0x00b8       ; mov ax, 0
    mov word [0x1002], 0xff00       ; inc word [0x1001] (ff 06 01 10)
    mov word [0x1004], 0x0106
    mov word [0x1006], 0xea10       ; jmp 0000:1000 (ea 00 10 00 00)
    mov word [0x1008], 0x1000
    mov word [0x100a], 0x0000
    jmp 0x0000:0x1000
    times 0xfff0 - ($ - $$) db 0
    jmp 0xf000:start                ; the reset vector
    times 0x10000 - ($ - $$) db 0
