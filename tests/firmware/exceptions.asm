; Exceptions and interrupts in long mode: an IDT of 64-bit interrupt gates,
; then #DE, #UD, #BP, INT 0x80, #GP with a selector error code, #PF for a
; page that is not present and #PF for a write to a read-only page (CR0.WP).
; The handler prints the vector, the error code (and CR2 for #PF), skips the
; faulting instruction (its length is in r15) and returns with IRETQ.
%include "uart.inc"
%macro RO_PAGE 0                 ; 0x400000-0x5fffff read-only
    mov dword [0x12000 + 2 * 8], 0x400000 | 0x81
%endmacro
%define BOOT_EXTRA_PAGING RO_PAGE
%include "boot64.inc"

bits 64
lm64:
    mov rsp, 0x90000
    ; The IDT at 0x20000: 256 interrupt gates to the stubs below.
    mov edi, 0x20000
    lea rbx, [rel stubs]
    xor ecx, ecx
.idt:
    mov rax, rbx
    mov rdx, rax
    and edx, 0xffff
    mov r8, 0x00008e0000180000   ; present, DPL 0, interrupt gate; selector 0x18
    or rdx, r8
    mov r8, rax
    shr r8, 16
    and r8d, 0xffff
    shl r8, 48
    or rdx, r8
    mov [rdi], rdx
    mov rdx, rax
    shr rdx, 32
    mov [rdi + 8], rdx
    add rdi, 16
    add rbx, 16
    inc ecx
    cmp ecx, 256
    jne .idt
    lidt [rel idt_desc]
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
    lea rsi, [rel msg_ok]
    call print
    EXIT 0x42

; rsi: NUL-terminated string
print:
    PRINT
    ret

; rdi: value, ecx: hex digits
print_hex:
    mov r8, rdi
    mov r9d, ecx
.digit:
    mov rax, r8
    lea ecx, [r9d * 4 - 4]
    shr rax, cl
    and eax, 15
    lea rsi, [rel hexdigits]
    mov al, [rsi + rax]
    mov bl, al
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    mov dx, COM1
    mov al, bl
    out dx, al
    dec r9d
    jnz .digit
    ret

ex_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    lea rsi, [rel msg_ex]
    call print
    mov rdi, [rsp + 64]          ; vector
    mov ecx, 2
    call print_hex
    lea rsi, [rel msg_err]
    call print
    mov rdi, [rsp + 72]          ; error code
    mov ecx, 8
    call print_hex
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
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16                  ; vector and error code
    iretq

align 16
stubs:
%assign v 0
%rep 256
  %if v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 || v == 21
    push qword v
    jmp ex_common
  %else
    push qword 0
    push qword v
    jmp ex_common
  %endif
    align 16
%assign v v + 1
%endrep

idt_desc:
    dw 256 * 16 - 1
    dq 0x20000
hexdigits: db "0123456789abcdef"
msg_ex:  db "ex ", 0
msg_err: db " err ", 0
msg_cr2: db " cr2 ", 0
msg_eol: db 13, 10, 0
msg_ok:  db "exceptions ok", 13, 10, 0

BOOT64_TAIL
