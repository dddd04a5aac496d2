; MOV to and from the debug registers, and MSRs the model does not have,
; as QEMU 7.2's TCG has them: DR0-DR3 hold what is written; DR6 and DR7
; keep their fixed bits (0xffff0ff0, 0x400); DR4 and DR5 are DR6 and DR7
; while CR4.DE is clear and #UD when it is set. RDMSR of an MSR the model
; lacks reads 0 and WRMSR to one is ignored (QEMU's TCG does not #GP;
; Linux reads AMD's SYSCFG that way on qemu64).
%include "uart.inc"
%include "boot64.inc"
%include "idt64.inc"

bits 64
lm64:
    mov rsp, 0x90000
    IDT_SETUP
    mov rax, 0x1111222233334444
    mov dr0, rax
    mov rax, 0x55556666
    mov dr3, rax
    xor eax, eax
    mov dr6, rax
    mov dr7, rax
    mov rdi, dr0
    call hex16
    mov rdi, dr3
    call hex16
    mov rdi, dr6
    call hex16
    mov rdi, dr7
    call hex16
    lea rsi, [rel msg_eol]
    call print
    ; DR4/DR5 with CR4.DE clear: DR6/DR7
    mov rax, 0x3
    mov dr5, rax                 ; DR7 = 3 | 0x400 (breakpoints 0 enabled, none fire)
    mov rdi, dr5
    call hex16
    mov rdi, dr7
    call hex16
    mov rdi, dr4
    call hex16
    xor eax, eax
    mov dr7, rax
    lea rsi, [rel msg_eol]
    call print
    ; CR4.DE set: DR4 is #UD (the handler skips the 3-byte MOV)
    mov rax, cr4
    or rax, 1 << 3
    mov cr4, rax
    xor r15d, r15d
    mov rdi, dr4
    mov rdi, r15
    call hex16
    lea rsi, [rel msg_eol]
    call print
    ; MSRs the model lacks
    mov ecx, 0xc0010010
    mov eax, 0x1234
    xor edx, edx
    wrmsr
    mov eax, -1
    mov edx, -1
    rdmsr
    shl rdx, 32
    or rax, rdx
    mov rdi, rax
    call hex16
    lea rsi, [rel msg_eol]
    call print
    EXIT 0x6d

hex16:
    mov ecx, 16
    call print_hex
    lea rsi, [rel msg_sp]
    jmp print

ex_common:
    cmp qword [rsp], 6
    jne .unexpected
    mov r15d, 6
    add qword [rsp + 16], 3      ; past the MOV from DR4
    add rsp, 16
    iretq
.unexpected:
    EX_SAVE_AND_PRINT
    lea rsi, [rel msg_eol]
    call print
    EXIT 0x6e

IDT_CODE
msg_ex:     db "ex ", 0
msg_err:    db " err ", 0
msg_eol:    db 13, 10, 0
msg_sp:     db " ", 0

BOOT64_TAIL
