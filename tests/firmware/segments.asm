; Segment loads and their checks in long mode, with a GDT in RAM: a
; not-present data segment (#NP), an execute-only code segment as DS (#GP),
; a selector past the GDT's limit (#GP), a DPL 3 data segment as SS at CPL 0
; (#GP), a readable code segment as DS (allowed), a far jump to a data
; segment (#GP) and a null selector in SS (allowed at CPL 0 in 64-bit mode).
; The handler prints the vector and error code and skips the instruction
; (its length is in r15).
%include "uart.inc"
%include "boot64.inc"
%include "idt64.inc"

GDT2 equ 0x50000

bits 64
lm64:
    mov rsp, 0x90000
    IDT_SETUP
    lea rsi, [rel gdt]           ; the boot GDT (8 entries), then three more
    mov edi, GDT2
    mov ecx, 8
    rep movsq
    mov rax, 0x00cf13000000ffff  ; 0x40: data, not present
    mov [GDT2 + 0x40], rax
    mov rax, 0x00cf98000000ffff  ; 0x48: 32-bit code, execute-only
    mov [GDT2 + 0x48], rax
    mov rax, 0x00cff3000000ffff  ; 0x50: data, DPL 3
    mov [GDT2 + 0x50], rax
    lgdt [rel gdt2_desc]

    mov ax, 0x40
    mov r15d, 2
    mov ds, ax                   ; #NP(0x40)
    mov ax, 0x48
    mov ds, ax                   ; #GP(0x48)
    mov ax, 0x80
    mov es, ax                   ; #GP(0x80): past the limit
    mov ax, 0x50
    mov ss, ax                   ; #GP(0x50): DPL 3 as SS at CPL 0
    mov ax, 0x08
    mov ds, ax                   ; readable code: allowed
    mov ax, ds
    cmp ax, 0x08
    jne .bad
    lea rsi, [rel msg_ds]
    call print
    mov ax, 0x10
    mov ds, ax
    mov r15d, 6
    db 0xff, 0x2d                ; jmp far [rel to_data] (m16:32): #GP(0x10), a data segment
    dd to_data - ($ + 4)
    xor eax, eax
    mov ss, ax                   ; a null SS at CPL 0: allowed in 64-bit mode
    mov ax, ss
    test ax, ax
    jnz .bad
    lea rsi, [rel msg_ss]
    call print
    EXIT 0x46
.bad:
    EXIT 0x7e

ex_common:
    EX_SAVE_AND_PRINT
    lea rsi, [rel msg_eol]
    call print
    add [rsp + 80], r15
    EX_RESTORE
    iretq

IDT_CODE
align 8
gdt2_desc:
    dw 0x57
    dq GDT2
to_data:
    dd 0
    dw 0x10
msg_ex:  db "ex ", 0
msg_err: db " err ", 0
msg_eol: db 13, 10, 0
msg_ds:  db "readable code segment loads into DS", 13, 10, 0
msg_ss:  db "null SS at CPL 0", 13, 10, 0

BOOT64_TAIL
