; Mode switches from the reset vector: real mode, 32-bit protected mode
; through a GDT, then long mode with 4-level paging. Each mode prints a
; line; a 64-bit computation picks the exit code.
; 64 KiB -bios image: it runs from its alias below 1 MiB (BASE).
%include "uart.inc"
%define BOOT_MESSAGES
%include "boot64.inc"

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

BOOT64_TAIL
