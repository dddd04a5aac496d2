; Issue #17's fuzzing found it (tests/fuzz's firmware target): a real-mode
; interrupt's frame pushed over translated code must drop that code.
; Real-mode INT over translated code: the 6-byte frame INT 0x20 pushes
; lands on code that ran once; run again, that code must be the frame's
; bytes (the pushed IP's low byte is 0xcb: RETF at once, BX stays 1), not
; the old INC BX; RETF (BX becomes 2). Prints BX on COM1, exits via 0xf4.
bits 16
org 0
times 0xfe00 db 0xff
start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7000
    mov word [0x600], 0xcb43    ; T at 0:0600: inc bx; retf
    mov word [0x20 * 4], handler
    mov word [0x20 * 4 + 2], 0xf000
    xor bx, bx
    call 0x0000:0x0600          ; BX = 1, T translated
    mov sp, 0x0606              ; the frame goes to 0x600..0x605
    times (0xc9 - (($ - $$) & 0xff)) & 0xff nop
    int 0x20                    ; pushes IP = ...cb, CS = f000, FLAGS
    mov sp, 0x7000
    call 0x0000:0x0600          ; T is now RETF: BX stays 1
    mov al, '0'
    add al, bl
    mov dx, 0x3f8
    out dx, al
    mov al, 10
    out dx, al
    mov dx, 0xf4
    mov al, 0
    out dx, al
    hlt
handler:
    iret
times 0xfff0 - ($ - $$) db 0xff
    jmp 0xf000:start
times 0x10000 - ($ - $$) db 0xff
