; Far transfers in long mode: CALL far through m16:32 and m16:64 with RETF
; back, RETFQ into a 32-bit compatibility-mode segment, and a far JMP back
; to 64-bit code.
%include "uart.inc"
%include "boot64.inc"

bits 64
lm64:
    mov rsp, 0x90000
    call far dword [rel fptr32]  ; m16:32, RETF (32-bit) back
    call far qword [rel fptr64]  ; m16:64 (REX.W), RETFQ back
    push 0x08                    ; RETFQ to 32-bit code
    mov eax, BASE + compat
    push rax
    o64 retf
bits 32
compat:
    mov esi, BASE + msg_compat
    PRINT
    jmp 0x18:(BASE + back64)
bits 64
back64:
    mov rsp, 0x90000
    lea rsi, [rel msg_ok]
    PRINT
    EXIT 0x44

target32:
    lea rsi, [rel msg_t32]
    PRINT
    retf                         ; 32-bit operand size: EIP, CS
target64:
    lea rsi, [rel msg_t64]
    PRINT
    o64 retf

fptr32: dd BASE + target32
        dw 0x18
fptr64: dq BASE + target64
        dw 0x18
msg_t32:    db "far call through m16:32", 13, 10, 0
msg_t64:    db "far call through m16:64", 13, 10, 0
msg_compat: db "compatibility mode", 13, 10, 0
msg_ok:     db "far transfers ok", 13, 10, 0

BOOT64_TAIL
