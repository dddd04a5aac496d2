; For migration (tests/cli/migration_test.cpp): prints 0 to COUNT-1 on COM1,
; one decimal number a line, with a busy wait between lines so that a run
; lasts seconds, then leaves through isa-debug-exit with 0. The count lives
; in RAM (0:0500) and the CPU's registers: a migrated machine goes on where
; the source stopped, and the two outputs together are the whole sequence.
%include "uart.inc"
COUNT equ 400
DELAY equ 8000000

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
    mov word [0x500], 0
.line:
    mov ax, [0x500]
    xor cx, cx                      ; digits pushed
.digits:
    xor dx, dx
    mov bx, 10
    div bx
    push dx
    inc cx
    test ax, ax
    jnz .digits
.put:
    pop bx
    add bl, '0'
    call putc
    loop .put
    mov bl, 13
    call putc
    mov bl, 10
    call putc
    mov ecx, DELAY
.wait:
    dec ecx
    jnz .wait
    inc word [0x500]
    cmp word [0x500], COUNT
    jb .line
    EXIT 0
    hlt

putc:                               ; BL to COM1, polling THRE
    mov dx, COM1 + 5
.thre:
    in al, dx
    test al, 0x20
    jz .thre
    mov dx, COM1
    mov al, bl
    out dx, al
    ret

times 0xfff0 - ($ - $$) db 0xff
    jmp 0xf000:start
times 0x10000 - ($ - $$) db 0xff
