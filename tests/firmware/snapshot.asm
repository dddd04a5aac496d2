; For the embedding harness's snapshots (tests/unit/snapshot_test.cpp): a
; routine R in RAM at 0:0600 (add bx, 1; retf) called 100 times, each time
; also bumping a word at 0:2000 and storing BX at 0:3000 (pages of their
; own), then BX's low byte to isa-debug-exit. A test that rewrites R's
; immediate changes the count; a restore must bring R (and its translated
; code) back.
bits 16
org 0
times 0xfe00 db 0xff
start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov dword [0x600], 0xcb01c383   ; R: add bx, 1; retf
    xor bx, bx
    mov cx, 100
.loop:
    call 0x0000:0x0600
    inc word [0x2000]
    mov [0x3000], bx
    loop .loop
    mov al, bl
    out 0xf4, al
    hlt
times 0xfff0 - ($ - $$) db 0xff
    jmp 0xf000:start
times 0x10000 - ($ - $$) db 0xff
