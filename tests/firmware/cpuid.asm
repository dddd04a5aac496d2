; CPUID as the default CPU model answers it, leaf by leaf: the vendor and
; signature, the feature words, the extended leaves and the brand string.
; Under QEMU (-M pc, its default qemu64) the output must be the same but
; for SVM, which QEMU's TCG implements and qforge does not: the SVM bit
; (CPUID.80000001:ECX[2]) is masked and leaf 8000000A is left out.
%include "uart.inc"
%include "boot64.inc"

bits 64
lm64:
    mov rsp, 0x90000
    lea r15, [rel leaves]
.next:
    mov eax, [r15]
    cmp eax, -1
    je .done
    lea rsi, [rel msg_leaf]
    call print
    mov edi, [r15]
    call hex32
    lea rsi, [rel msg_colon]
    call print
    mov eax, [r15]
    xor ecx, ecx
    cpuid
    cmp dword [r15], 0x80000001
    jne .print
    and ecx, ~4                  ; SVM
.print:
    mov r12d, ebx
    mov r13d, ecx
    mov r14d, edx
    mov edi, eax
    call hex32
    mov edi, r12d
    call hex32
    mov edi, r13d
    call hex32
    mov edi, r14d
    call hex32
    lea rsi, [rel msg_crlf]
    call print
    add r15, 4
    jmp .next
.done:
    EXIT 0x12

print:
    push rbx
    PRINT
    pop rbx
    ret

; edi as eight hex digits and a space.
hex32:
    push rbx
    mov ecx, 8
.digit:
    rol edi, 4
    mov eax, edi
    and eax, 15
    lea rbx, [rel hexdigits]
    mov bl, [rbx + rax]
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    mov dx, COM1
    mov al, bl
    out dx, al
    dec ecx
    jnz .digit
    mov dx, COM1
    mov al, ' '
    out dx, al
    pop rbx
    ret

leaves:    dd 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xa, 0xb, 0xc, 0xd, 0xe
           dd 0x80000000, 0x80000001, 0x80000002, 0x80000003, 0x80000004, 0x80000005, 0x80000006
           dd 0x80000007, 0x80000008, 0x80000009, 0x8000000b, -1
hexdigits: db "0123456789abcdef"
msg_leaf:  db "cpuid ", 0
msg_colon: db ": ", 0
msg_crlf:  db 13, 10, 0

BOOT64_TAIL
