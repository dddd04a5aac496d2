; Exceptions and interrupts in long mode: an IDT of 64-bit interrupt gates,
; then #DE, #UD, #BP, INT 0x80, #GP with a selector error code, #PF for a
; page that is not present (also by a load and a store that cross into it)
; and #PF for a write to a read-only page (CR0.WP).
; The handler prints the vector, the error code (and CR2 for #PF), skips the
; faulting instruction (its length is in r15) and returns with IRETQ.
%include "uart.inc"
%macro RO_PAGE 0                 ; 0x400000-0x5fffff read-only
    mov dword [0x12000 + 2 * 8], 0x400000 | 0x81
%endmacro
%define BOOT_EXTRA_PAGING RO_PAGE
%include "boot64.inc"
%include "idt64.inc"

bits 64
lm64:
    mov rsp, 0x90000
    IDT_SETUP
    mov rax, cr0
    or eax, 1 << 16              ; WP
    mov cr0, rax

    mov r15d, 2                  ; #DE: div ecx
    xor ecx, ecx
    div ecx
    mov r15d, 2                  ; #UD: ud2
    ud2
    xor r15d, r15d               ; #BP: a trap, already past int3
    int3
    int 0x80
    mov r15d, 2                  ; #GP(0x50): past the end of the GDT
    mov ax, 0x50
    mov r15d, 2
    mov ds, ax
    mov r15d, 3                  ; #PF, not present
    mov ebx, 0x40000000
    mov rax, [rbx]
    mov r15d, 8                  ; #PF, write to a read-only page
    mov byte [abs 0x400000], 1
    ; Accesses that cross into the page that is not present: CR2 is that
    ; page's first byte, for a load and for a store (as on hardware and in
    ; QEMU), not the access's last byte.
    mov r15d, 3
    mov ebx, 0x3ffffffc
    mov rax, [rbx]
    mov r15d, 3
    mov [rbx], rax
    lea rsi, [rel msg_ok]
    call print
    EXIT 0x42

ex_common:
    EX_SAVE_AND_PRINT
    cmp qword [rsp + 64], 14
    jne .eol
    lea rsi, [rel msg_cr2]
    call print
    mov rdi, cr2
    mov ecx, 16
    call print_hex
.eol:
    lea rsi, [rel msg_eol]
    call print
    add [rsp + 80], r15          ; skip the faulting instruction
    EX_RESTORE
    iretq

IDT_CODE
msg_ex:  db "ex ", 0
msg_err: db " err ", 0
msg_cr2: db " cr2 ", 0
msg_eol: db 13, 10, 0
msg_ok:  db "exceptions ok", 13, 10, 0

BOOT64_TAIL
