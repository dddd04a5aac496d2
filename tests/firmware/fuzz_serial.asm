; For qforge-fuzz's serial feed (tests/unit/fuzz_driver_test.cpp): says it
; is ready on port 0x5f0, then reads COM1 until no byte came for a while,
; and writes the count to the done port 0x5f1. The bytes "YX" in a row are
; its planted bug: UD2.
%include "uart.inc"
bits 16
org 0
times 0xfe00 db 0xff
start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    UART_INIT
    mov dx, 0x5f0
    out dx, al                      ; ready: the snapshot, then the input
    xor bx, bx                      ; bytes read
    xor di, di                      ; the previous byte
.poll:
    mov cx, 1000                    ; polls before the input counts as ended
.lsr:
    mov dx, COM1 + 5
    in al, dx
    test al, 1
    jnz .byte
    loop .lsr
    mov ax, bx
    mov dx, 0x5f1
    out dx, al                      ; done
    hlt
.byte:
    mov dx, COM1
    in al, dx
    inc bx
    cmp al, 'X'
    jne .keep
    cmp di, 'Y'
    jne .keep
    ud2
.keep:
    movzx di, al
    jmp .poll
times 0xfff0 - ($ - $$) db 0xff
    jmp 0xf000:start
times 0x10000 - ($ - $$) db 0xff
