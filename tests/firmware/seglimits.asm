; Segment limits and rights on data accesses (SDM vol. 3, 5.3-5.4), which
; QEMU's TCG does not check: hardware (and KVM) does, and so do we.
;   real mode: a word at offset FFFF, a 32-bit offset past 64 KiB, LODSW
;     at SI FFFF (#GP, vector 13) and a word at SS:FFFF (#SS, vector 12);
;   32-bit protected mode: a byte-granular 4 KiB limit, a read-only data
;     segment, expand-down segments (32-bit and 16-bit upper bounds), a
;     write through CS, a read through an execute-only CS, a null DS and
;     SS-relative operands past SS's limit (#SS(0));
;   back in real mode: the 4 GiB limit loaded in protected mode stays
;     ("unreal mode"), even across a real-mode load of DS.
; Each faulting instruction has its resume address in EDI; the handlers
; print the fault and resume there.
%include "uart.inc"

BASE equ 0xf0000
IDT  equ 0x20000

%macro RESUME 1
    mov edi, %1
%endmacro

bits 16
section .text start=0 vstart=0
start:
    cli
    cld
    mov ax, cs
    mov ds, ax
    UART_INIT
    xor ax, ax
    mov ss, ax
    mov sp, 0x7000
    mov es, ax
    mov word [es:12 * 4], rm_ss
    mov word [es:12 * 4 + 2], 0xf000
    mov word [es:13 * 4], rm_gp
    mov word [es:13 * 4 + 2], 0xf000

    mov ax, 0x1000
    mov ds, ax
    RESUME .r1
    mov ax, [0xffff]             ; #GP: the word's second byte is past FFFF
.r1:
    mov ebx, 0x10000
    RESUME .r2
    mov al, [ebx]                ; #GP: a 32-bit offset past the limit
.r2:
    mov si, 0xffff
    RESUME .r3
    lodsw                        ; #GP
.r3:
    mov bp, 0xffff
    RESUME .r4
    mov ax, [bp]                 ; #SS: SS-relative
.r4:
    mov al, [0xffff]             ; the last byte: fine
    mov ax, [0xfffe]
    mov ax, cs
    mov ds, ax
    mov si, msg_rm
    call print16

    lgdt [gdt_desc]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:(BASE + pm32)

rm_gp:
    push si
    mov si, msg_rm_gp
    jmp rm_fault
rm_ss:
    push si
    mov si, msg_rm_ss
rm_fault:                        ; SI saved; then IP, CS, FLAGS
    push ds
    push ax
    push bx
    push dx
    push bp
    mov ax, cs
    mov ds, ax
    call print16
    mov bp, sp
    mov [bp + 12], di            ; the resume IP
    pop bp
    pop dx
    pop bx
    pop ax
    pop ds
    pop si
    iret

print16:
    PRINT
    ret

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    mov edi, IDT
    xor eax, eax
    mov ecx, 256 * 2
    rep stosd
    mov eax, BASE + pm_ss
    mov ebx, 12
    call set_gate
    mov eax, BASE + pm_gp
    mov ebx, 13
    call set_gate
    lidt [BASE + idt_desc]

    mov ax, 0x18                 ; base 40000, limit FFF (byte granular)
    mov ds, ax
    mov al, [0xfff]
    mov eax, [0xffc]
    RESUME BASE + .p1
    mov eax, [0xffd]             ; #GP(0): the last byte is at 1000
.p1:
    mov ax, 0x20                 ; read-only, 4 GiB
    mov es, ax
    mov eax, [es:0x40000]
    RESUME BASE + .p2
    mov [es:0x40000], eax        ; #GP(0)
.p2:
    mov ax, 0x28                 ; expand-down, limit FFF, B: offsets 1000-FFFFFFFF
    mov fs, ax
    mov eax, [fs:0x1000]
    mov eax, [fs:0xfffffffc]
    RESUME BASE + .p3
    mov eax, [fs:0x800]          ; #GP(0): at or below the limit
.p3:
    RESUME BASE + .p4
    mov eax, [fs:0xffe]          ; #GP(0): starts below, ends above
.p4:
    RESUME BASE + .p5
    mov eax, [fs:0xfffffffe]     ; #GP(0): past the upper bound
.p5:
    mov ax, 0x38                 ; expand-down, limit FFF, no B: offsets 1000-FFFF
    mov gs, ax
    mov ax, [gs:0xfffe]
    RESUME BASE + .p6
    mov eax, [gs:0xfffe]         ; #GP(0): past FFFF
.p6:
    mov eax, [cs:BASE + hexdigits]  ; a readable code segment
    RESUME BASE + .p7
    mov [cs:BASE + hexdigits], eax  ; #GP(0): never writable
.p7:
    jmp 0x30:(BASE + xo)         ; execute-only code
xo:
    RESUME BASE + .p8
    mov eax, [cs:BASE + hexdigits]  ; #GP(0)
.p8:
    jmp 0x08:(BASE + .p9)
.p9:
    xor eax, eax
    mov ds, ax                   ; a null selector loads...
    RESUME BASE + .p10
    mov eax, [0x1000]            ; ...but #GP(0) on use
.p10:
    mov ax, 0x40                 ; SS: base 50000, limit FFF
    mov ss, ax
    mov esp, 0x800
    mov ebp, 0x2000
    RESUME BASE + .p11
    mov eax, [ebp]               ; #SS(0)
.p11:
    RESUME BASE + .p12
    mov eax, [esp + 0xffe]       ; #SS(0)
.p12:
    mov eax, [esp + 0x7fc]       ; the last dword: fine
    mov ax, 0x10
    mov ds, ax
    mov ss, ax
    mov esp, 0x90000
    mov esi, BASE + msg_pm
    call print

    ; Back to real mode with DS, ES, SS holding 4 GiB limits.
    jmp 0x48:.pm16
.pm16:
bits 16
    mov eax, cr0
    and al, ~1
    mov cr0, eax
    jmp 0xf000:unreal
unreal:
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov esp, 0x7000              ; SS.B is still set: ESP and SP agree
    mov ebx, 0x20000
    mov dword [ebx], 0x12345678
    mov ax, 0x1000
    mov ds, ax                   ; a real-mode load: base only
    cmp dword [ebx - 0x10000], 0x12345678
    jne .bad
    mov ax, cs
    mov ds, ax
    mov si, msg_unreal
    call print16
    EXIT 0x5e
.bad:
    EXIT 0x7e

bits 32
; eax: handler, ebx: vector
set_gate:
    mov edx, eax
    and eax, 0xffff
    or eax, 0x08 << 16
    mov [IDT + ebx * 8], eax
    and edx, 0xffff0000
    or edx, 0x8e00               ; present, DPL 0, 32-bit interrupt gate
    mov [IDT + ebx * 8 + 4], edx
    ret

pm_ss:
    push dword 12
    jmp pm_fault
pm_gp:
    push dword 13
pm_fault:                        ; vector, error code, EIP, CS, EFLAGS
    push ds
    push edi
    mov di, 0x10
    mov ds, di
    mov esi, BASE + msg_ex
    call print
    mov edi, [esp + 8]
    call hex32
    mov edi, [esp + 12]
    call hex32
    mov esi, BASE + msg_eol
    call print
    pop edi
    mov [esp + 12], edi          ; the resume EIP
    pop ds
    add esp, 8
    iretd

print:
    PRINT
    ret

; edi as eight hex digits and a space
hex32:
    mov ecx, 8
.digit:
    rol edi, 4
    mov eax, edi
    and eax, 15
    mov al, [BASE + hexdigits + eax]
    mov dx, COM1
    out dx, al
    loop .digit
    mov al, ' '
    out dx, al
    ret
hexdigits: db "0123456789abcdef"

msg_rm_gp:  db "real mode #GP", 13, 10, 0
msg_rm_ss:  db "real mode #SS", 13, 10, 0
msg_rm:     db "real-mode limits ok", 13, 10, 0
msg_ex:     db "ex ", 0
msg_eol:    db 13, 10, 0
msg_pm:     db "protected-mode limits ok", 13, 10, 0
msg_unreal: db "unreal mode: the 4 GiB limit stays", 13, 10, 0

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff        ; 08: code, 4 GiB
    dq 0x00cf93000000ffff        ; 10: data, 4 GiB
    dq 0x0040930400000fff        ; 18: data, base 40000, limit FFF
    dq 0x00cf91000000ffff        ; 20: data, read-only, 4 GiB
    dq 0x0040970000000fff        ; 28: data, expand-down, limit FFF, B
    dq 0x00cf99000000ffff        ; 30: code, execute-only, 4 GiB
    dq 0x0000970000000fff        ; 38: data, expand-down, limit FFF
    dq 0x0040930500000fff        ; 40: data, base 50000, limit FFF
    dq 0x00009b0f0000ffff        ; 48: 16-bit code, base F0000
gdt_end:
gdt_desc:
    dw gdt_end - gdt - 1
    dd BASE + gdt
idt_desc:
    dw 256 * 8 - 1
    dd IDT

    times 0xfff0 - ($ - $$) db 0xff
bits 16
reset_vector:
    jmp 0xf000:start
    times 0x10000 - ($ - $$) db 0xff
