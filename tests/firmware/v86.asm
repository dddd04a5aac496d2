; Virtual-8086 mode from 32-bit protected mode: IRETD with VM set enters
; real-mode code copied to 0000:7000 (segments are paragraphs again, CPL
; 3, port I/O through the TSS bitmap); INT 30h goes to a CPL 0 handler on
; SS0:ESP0 with the real-mode segment registers pushed and nulled; IRETD
; goes back; HLT, privileged, is #GP(0) from virtual-8086 mode.
%include "uart.inc"
%include "boot32.inc"

TSS equ 0x30000
IDT equ 0x20000

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    ; The TSS: SS0:ESP0, and an I/O bitmap that allows every port.
    mov edi, TSS
    xor eax, eax
    mov ecx, (0x68 + 0x2000 + 4) / 4
    rep stosd
    mov dword [TSS + 4], 0x8f000
    mov dword [TSS + 8], 0x10
    mov word [TSS + 0x66], 0x68
    mov byte [TSS + 0x68 + 0x2000], 0xff
    mov ax, 0x18
    ltr ax
    ; The IDT: interrupt gates (DPL 3) for #GP and INT 30h.
    mov edi, IDT
    xor eax, eax
    mov ecx, 256 * 2
    rep stosd
    mov eax, BASE + gp_handler
    mov ebx, 13
    call set_gate
    mov eax, BASE + int30_handler
    mov ebx, 0x30
    call set_gate
    lidt [BASE + idt_desc]
    ; The real-mode code to 0000:7000.
    mov esi, BASE + v86_code
    mov edi, 0x7000
    mov ecx, v86_end - v86_code
    rep movsb
    push dword 0                 ; GS
    push dword 0                 ; FS
    push dword 0x0800            ; DS: 0x8000
    push dword 0                 ; ES
    push dword 0x0600            ; SS: 0x6000
    push dword 0x0ff0            ; SP
    push dword (1 << 17) | (3 << 12) | 2   ; VM, IOPL 3
    push dword 0                 ; CS
    push dword 0x7000            ; IP
    iretd

; eax: handler, ebx: vector
set_gate:
    mov edx, eax
    and eax, 0xffff
    or eax, 0x08 << 16
    mov [IDT + ebx * 8], eax
    and edx, 0xffff0000
    or edx, 0xee00               ; present, DPL 3, 32-bit interrupt gate
    mov [IDT + ebx * 8 + 4], edx
    ret

int30_handler:                   ; CPL 0: EIP CS EFLAGS ESP SS ES DS FS GS on the stack
    push ds
    mov ax, 0x10
    mov ds, ax
    mov esi, BASE + msg_int
    call print
    mov ebp, esp
    mov ecx, 9
    mov ebx, 4
.frame:
    mov edi, [ebp + ebx]
    call hex32
    add ebx, 4
    loop .frame
    mov edi, [ebp]               ; DS as the handler found it: null
    call hex32
    mov esi, BASE + msg_eol
    call print
    pop ds
    iretd

gp_handler:                      ; error code, EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS
    mov ax, 0x10
    mov ds, ax
    mov esi, BASE + msg_gp
    call print
    mov ebp, esp
    mov edi, [ebp]
    call hex32
    mov edi, [ebp + 4]
    call hex32
    mov edi, [ebp + 8]
    call hex32
    mov esi, BASE + msg_eol
    call print
    EXIT 0x56

print:
    PRINT
    ret

HEX32_CODE

bits 16
; Runs at 0000:7000 in virtual-8086 mode; its messages come along.
v86_code:
    mov si, 0x7000 + (v86_msg - v86_code)
    push ds
    push cs
    pop ds
    call v86_print
    pop ds
    mov byte [0], 'x'            ; DS 0800: physical 0x8000
    pushf
    pop ax
    int 0x30
    mov si, 0x7000 + (v86_msg2 - v86_code)
    push cs
    pop ds
    call v86_print
    hlt                          ; privileged: #GP(0)
v86_print:
    lodsb
    test al, al
    jz .done
    mov dx, COM1
    out dx, al
    jmp v86_print
.done:
    ret
v86_msg:  db "real-mode code in virtual-8086 mode", 13, 10, 0
v86_msg2: db "back in virtual-8086 mode", 13, 10, 0
v86_end:

msg_int:   db "int 30 from v86, frame: ", 0
msg_gp:    db "#GP from v86: ", 0
msg_eol:   db 13, 10, 0

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff    ; 0x08: 32-bit code
    dq 0x00cf93000000ffff    ; 0x10: data
    dq 0x0000890300002068    ; 0x18: 32-bit TSS at 0x30000 with its I/O bitmap
gdt_end:
idt_desc:
    dw 256 * 8 - 1
    dd IDT

BOOT32_TAIL
