; Mode switches from the reset vector: real mode, 32-bit protected mode
; through a GDT, then long mode with 4-level paging (2 MiB pages identity
; mapping the first GiB), EFER.LME and a far jump to a 64-bit code segment.
; Each mode prints a line; a 64-bit computation picks the exit code.
; 64 KiB -bios image: it runs from its alias below 1 MiB (BASE).
%include "uart.inc"
BASE equ 0xf0000

bits 16
section .text start=0 vstart=0
start:
    cli
    cld
    mov ax, cs
    mov ds, ax
    UART_INIT
    mov si, msg_real
    PRINT
    lgdt [gdt_desc]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:(BASE + pm32)

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    mov esi, BASE + msg_pm
    PRINT
    ; Page tables at 0x10000: PML4, PDPT, and a PD of 512 2 MiB pages.
    mov edi, 0x10000
    xor eax, eax
    mov ecx, 3 * 1024
    rep stosd
    mov dword [0x10000], 0x11000 | 3
    mov dword [0x11000], 0x12000 | 3
    mov edi, 0x12000
    mov eax, 0x83            ; present, writable, 2 MiB
    mov ecx, 512
.pd:
    mov [edi], eax
    mov dword [edi + 4], 0
    add eax, 0x200000
    add edi, 8
    loop .pd
    mov eax, cr4
    or eax, 1 << 5           ; PAE
    mov cr4, eax
    mov eax, 0x10000
    mov cr3, eax
    mov ecx, 0xc0000080      ; EFER
    rdmsr
    or eax, 1 << 8           ; LME
    wrmsr
    mov eax, cr0
    or eax, 1 << 31          ; PG: long mode is active
    mov cr0, eax
    jmp 0x18:(BASE + lm64)

bits 64
lm64:
    mov rsp, 0x90000
    mov esi, BASE + msg_lm
    PRINT
    ; The page walk set the accessed bits, and the dirty bit of the page
    ; written here.
    mov qword [0x300000], 1
    mov rax, [0x12000]
    and eax, 0x20
    jz .fail
    mov rax, [0x12008]
    and eax, 0x60
    cmp eax, 0x60
    jne .fail
    ; 64-bit arithmetic: exit code 0x21 from a product that needs 64 bits.
    mov rax, 0x100000001
    mov rcx, 0x21
    imul rax, rcx            ; 0x2100000021
    shr rax, 32              ; 0x21
    mov r12, rax
    mov esi, BASE + msg_ok
    PRINT
    mov rax, r12
    mov dx, DEBUG_EXIT
    out dx, al
.halt:
    hlt
    jmp .halt
.fail:
    EXIT 0x7f

msg_real: db "real mode", 13, 10, 0
msg_pm:   db "32-bit protected mode", 13, 10, 0
msg_lm:   db "64-bit long mode", 13, 10, 0
msg_ok:   db "page walk and 64-bit arithmetic ok", 13, 10, 0

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff    ; 0x08: 32-bit code, accessed (the GDT is in ROM)
    dq 0x00cf93000000ffff    ; 0x10: data
    dq 0x00af9b000000ffff    ; 0x18: 64-bit code
gdt_end:
gdt_desc:
    dw gdt_end - gdt - 1
    dd BASE + gdt

    times 0xfff0 - ($ - $$) db 0xff
bits 16
reset_vector:
    jmp 0xf000:start
    times 0x10000 - ($ - $$) db 0xff
