; A 64-bit call gate from CPL 3 to CPL 0: a GDT in RAM with the gate (DPL 3)
; to the kernel's code, the TSS's RSP0 as the new stack, the caller's SS,
; RSP, CS and RIP pushed there, and RETFQ back to CPL 3. User code calls
; through the gate twice; the kernel prints what it finds each time.
%include "uart.inc"
%define BOOT_EXTRA_PAGING USER_PAGES
%include "boot64.inc"
%include "idt64.inc"

GDT2 equ 0x50000
TSS equ 0x30000

bits 64
lm64:
    mov rsp, 0x90000
    IDT_SETUP
    lea rsi, [rel gdt]           ; the boot GDT, then the gate at 0x40
    mov edi, GDT2
    mov ecx, 8
    rep movsq
    mov rax, BASE + gate_target
    mov rdx, rax
    and edx, 0xffff
    mov rbx, rax
    shr rbx, 16
    and ebx, 0xffff
    shl rbx, 48
    or rdx, rbx
    mov rbx, 0x0000ec0000180000  ; present, DPL 3, 64-bit call gate; selector 0x18
    or rdx, rbx
    mov [GDT2 + 0x40], rdx
    shr rax, 32
    mov [GDT2 + 0x48], rax
    lgdt [rel gdt2_desc]
    mov edi, TSS                 ; a TSS with RSP0 and nothing else
    xor eax, eax
    mov ecx, 0x68 / 4
    rep stosd
    mov qword [TSS + 4], 0x8f000
    mov ax, 0x30
    ltr ax
    xor r15d, r15d
    push 0x23                    ; to CPL 3
    push 0x80000
    push 0x2
    push 0x2b
    lea rax, [rel user]
    push rax
    iretq

user:                            ; CPL 3
    mov eax, 1
    db 0xff, 0x1d                ; call far [rel gate_ptr] (m16:32, the gate's selector)
    dd gate_ptr - ($ + 4)
    mov eax, 2
    db 0xff, 0x1d
    dd gate_ptr - ($ + 4)

gate_target:                     ; CPL 0, on RSP0's stack
    mov r12, rsp
    mov r13d, eax                ; which call (printing clobbers rax)
    lea rsi, [rel msg_gate]
    call print
    mov rdi, cs
    and edi, 3
    mov ecx, 1
    call print_hex
    lea rsi, [rel msg_rsp]
    call print
    mov rdi, r12
    mov ecx, 8
    call print_hex
    lea rsi, [rel msg_frame]
    call print
    mov rdi, [r12 + 8]           ; the caller's CS
    mov ecx, 4
    call print_hex
    lea rsi, [rel msg_sp]
    call print
    mov rdi, [r12 + 16]          ; its RSP
    mov ecx, 8
    call print_hex
    lea rsi, [rel msg_sp]
    call print
    mov rdi, [r12 + 24]          ; its SS
    mov ecx, 4
    call print_hex
    lea rsi, [rel msg_eol]
    call print
    cmp r13d, 2
    je .done
    o64 retf                     ; back to CPL 3
.done:
    EXIT 0x47

ex_common:
    EX_SAVE_AND_PRINT
    lea rsi, [rel msg_eol]
    call print
    EXIT 0x7f

IDT_CODE
align 8
gdt2_desc:
    dw 0x4f
    dq GDT2
gate_ptr:
    dd 0
    dw 0x43                      ; the gate, RPL 3
msg_gate:  db "call gate: cpl ", 0
msg_rsp:   db ", rsp ", 0
msg_frame: db ", caller's cs:rsp:ss ", 0
msg_sp:    db ":", 0
msg_ex:    db "ex ", 0
msg_err:   db " err ", 0
msg_eol:   db 13, 10, 0

BOOT64_TAIL
