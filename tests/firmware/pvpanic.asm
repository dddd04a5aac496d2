; A guest that finds pvpanic as a firmware would and reports through it
; (tests/cli/pvpanic_test.cpp runs it on pc under qforge and under QEMU):
; 1. fw_cfg's directory: "etc/pvpanic-port" (which QEMU's pc adds for
;    -device pvpanic) gives the port; without it, 0x505. What to write
;    comes from "opt/pvpanic-write" (-fw_cfg name=opt/pvpanic-write,
;    string=V, V one hex digit); without it, 1 (the guest panicked).
;    Without fw_cfg at all (testrig): port 0x505, value 1.
; 2. Prints "pvpanic port PPPP reads EE, writing VV" on COM1, then writes
;    V to the port.
; 3. Spins for about a quarter of a second (2^28 iterations), long enough
;    for an emulator to act on the write (stop or end the run), then prints
;    "still running" and leaves through isa-debug-exit with 0x42 (status
;    0x85). Run as
;      -M pc -vga none -nic none -display none -serial stdio -bios pvpanic.bin
;      -device isa-debug-exit,iobase=0xf4,iosize=4 -device pvpanic
;      [-fw_cfg name=opt/pvpanic-write,string=V]
%include "uart.inc"

bits 16
org 0

FW_CFG_SEL  equ 0x510
FW_CFG_DATA equ 0x511
FW_CFG_DIR  equ 0x19
NAME        equ 0x0500          ; 0:0500, a directory entry's name (56 bytes)
KEY         equ 0x0540          ; its key
PORT_KEY    equ 0x0542          ; etc/pvpanic-port's key, 0 if none
WRITE_KEY   equ 0x0544          ; opt/pvpanic-write's key, 0 if none
SPIN        equ 1 << 28

start:
    cli
    xor ax, ax
    mov ss, ax
    mov sp, 0x7000
    mov es, ax                  ; ES: RAM
    mov ax, cs
    mov ds, ax                  ; DS: this image (strings)
    UART_INIT
    mov bp, 0x505               ; the port
    mov bh, 1                   ; the value to write
    xor ax, ax                  ; fw_cfg's signature: "QEMU"
    call fw_select
    call fw_byte
    cmp al, 'Q'
    jne report
    mov ax, FW_CFG_DIR
    call fw_select
    call fw_be32                ; entries (the high word is 0)
    mov cx, ax
    mov word [es:PORT_KEY], 0
    mov word [es:WRITE_KEY], 0
.entry:
    jcxz .scanned
    call fw_be32                ; size
    call fw_be16                ; key
    mov [es:KEY], ax
    call fw_be16                ; reserved
    push cx
    mov di, NAME
    mov cx, 56
.name:
    call fw_byte
    stosb
    loop .name
    pop cx
    mov ax, [es:KEY]
    mov si, port_file
    mov bl, port_file_len
    call name_is
    jne .not_port
    mov [es:PORT_KEY], ax
.not_port:
    mov si, write_file
    mov bl, write_file_len
    call name_is
    jne .next
    mov [es:WRITE_KEY], ax
.next:
    dec cx
    jmp .entry
.scanned:
    mov ax, [es:PORT_KEY]
    test ax, ax
    jz .no_port_file
    call fw_select              ; the port, little-endian
    call fw_byte
    mov bl, al
    call fw_byte
    mov ah, al
    mov al, bl
    mov bp, ax
    jmp .value
.no_port_file:
    mov si, s_no_port
    call puts
.value:
    mov ax, [es:WRITE_KEY]
    test ax, ax
    jz report
    call fw_select              ; one ASCII hex digit
    call fw_byte
    sub al, '0'
    cmp al, 9
    jbe .digit
    sub al, 'a' - '0' - 10
.digit:
    mov bh, al

report:
    mov si, s_port
    call puts
    mov ax, bp
    call hex4
    mov si, s_reads
    call puts
    mov dx, bp
    in al, dx
    call hex2
    mov si, s_writing
    call puts
    mov al, bh
    call hex2
    mov al, 10
    call putc
    mov dx, bp
    mov al, bh
    out dx, al
    jmp .spin                   ; the translation block ends here
.spin:
    mov ecx, SPIN
.loop:
    dec ecx
    jnz .loop
    mov si, s_running
    call puts
    EXIT 0x42

; fw_cfg: select item AX; the next byte of it; big-endian 16 and 32 bits
; (AX: the low 16 of the 32). Clobber DX.
fw_select:
    mov dx, FW_CFG_SEL
    out dx, ax
    ret
fw_byte:
    mov dx, FW_CFG_DATA
    in al, dx
    ret
fw_be16:
    call fw_byte
    mov ah, al
    call fw_byte
    ret
fw_be32:
    call fw_be16
    call fw_be16
    ret

; ZF set when the name at ES:NAME is the string at DS:SI, BL bytes with
; its NUL. Clobbers SI, DI.
name_is:
    push cx
    movzx cx, bl
    mov di, NAME
    repe cmpsb
    pop cx
    ret

; COM1: AL; the NUL-terminated string at DS:SI; AL as 2 hex digits; AX as 4.
putc:
    push dx
    push ax
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop ax
    mov dx, COM1
    out dx, al
    pop dx
    ret
puts:
    lodsb
    test al, al
    jz .done
    call putc
    jmp puts
.done:
    ret
hex2:
    push ax
    shr al, 4
    call nibble
    pop ax
    push ax
    and al, 0x0f
    call nibble
    pop ax
    ret
nibble:
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '9' - 1
.out:
    jmp putc
hex4:
    push ax
    mov al, ah
    call hex2
    pop ax
    jmp hex2

port_file:  db "etc/pvpanic-port", 0
port_file_len equ $ - port_file
write_file: db "opt/pvpanic-write", 0
write_file_len equ $ - write_file
s_no_port:  db "no etc/pvpanic-port", 10, 0
s_port:     db "pvpanic port ", 0
s_reads:    db " reads ", 0
s_writing:  db ", writing ", 0
s_running:  db "still running", 10, 0

times 0xfff0 - ($ - $$) db 0xff
    jmp 0xf000:start
times 0x10000 - ($ - $$) db 0xff
