; qforge demo firmware: the guest the README's run command boots.
; 64 KiB -bios image. From the reset vector (F000:FFF0) it initialises COM1
; (115200 8N1, FIFOs on), prints a greeting, and leaves through
; isa-debug-exit with value 0 (process exit status 1, as in QEMU).
; Real mode only: the mode switches come with the firmware test suite.

bits 16
COM1        equ 0x3f8
DEBUG_EXIT  equ 0xf4

section .text start=0 vstart=0
start:
    cli
    cld
    mov ax, cs
    mov ds, ax

    mov dx, COM1 + 3        ; LCR: DLAB on
    mov al, 0x80
    out dx, al
    mov dx, COM1            ; divisor 1 = 115200 baud
    mov al, 1
    out dx, al
    inc dx
    xor al, al
    out dx, al
    mov dx, COM1 + 3        ; 8N1, DLAB off
    mov al, 0x03
    out dx, al
    mov dx, COM1 + 2        ; FIFOs on, cleared
    mov al, 0x07
    out dx, al

    mov si, greeting
.next:
    lodsb
    test al, al
    jz .done
    mov bl, al
    mov dx, COM1 + 5
.wait:                      ; wait for THRE
    in al, dx
    test al, 0x20
    jz .wait
    mov dx, COM1
    mov al, bl
    out dx, al
    jmp .next
.done:
    mov dx, DEBUG_EXIT
    xor al, al
    out dx, al
.halt:
    hlt
    jmp .halt

greeting:
    db "Hello from qforge: the demo firmware is running on machine testrig.", 13, 10, 0

    times 0xfff0 - ($ - $$) db 0xff
reset_vector:               ; F000:FFF0
    jmp 0xf000:start
    times 0x10000 - ($ - $$) db 0xff
