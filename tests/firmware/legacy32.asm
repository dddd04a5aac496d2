; Instructions that exist only outside 64-bit mode, run in compatibility
; mode and checked against QEMU through hashes of their results: DAA, DAS,
; AAA and AAS over every AL with every CF/AF, AAM and AAD over every AX
; for three bases, and PUSHA/POPA, PUSH/POP of segment registers, LDS/LES,
; the one-byte INC/DEC and INTO (with OF clear).
%include "uart.inc"
%include "boot64.inc"

FNV_BASIS equ 2166136261
FNV_PRIME equ 16777619

%macro HASH 1                    ; ebp = (ebp ^ %1) * FNV_PRIME
    xor ebp, %1
    imul ebp, ebp, FNV_PRIME
%endmacro

bits 64
lm64:
    mov rsp, 0x90000
    push 0x08                    ; RETFQ to the 32-bit code segment
    mov eax, BASE + compat
    push rax
    o64 retf

bits 32
compat:
    mov esp, 0x90000

    ; DAA DAS AAA AAS: edi = op << 10 | AF << 9 | CF << 8 | AL
    mov ebp, FNV_BASIS
    xor edi, edi
.bcd:
    mov eax, edi
    and eax, 0xff
    mov ah, 0xa5                 ; AAA/AAS carry into AH
    pushfd
    pop ecx
    and ecx, ~0x8d5
    bt edi, 8
    jnc .no_cf
    or ecx, 1
.no_cf:
    bt edi, 9
    jnc .no_af
    or ecx, 0x10
.no_af:
    push ecx
    popfd
    mov ecx, edi
    shr ecx, 10
    cmp ecx, 1
    jb .daa
    je .das
    cmp ecx, 2
    je .aaa
    aas
    jmp .ascii
.daa:
    daa
    jmp .decimal
.das:
    das
.decimal:
    pushfd
    pop ecx
    and ecx, 0xd5                ; SF ZF AF PF CF (OF is undefined)
    jmp .bcd_hash
.aaa:
    aaa
.ascii:
    pushfd
    pop ecx
    and ecx, 0x11                ; AF CF (the others are undefined)
.bcd_hash:
    shl ecx, 16
    movzx eax, ax
    or eax, ecx
    HASH eax
    inc edi
    cmp edi, 4 << 10
    jb .bcd
    mov esi, BASE + msg_bcd
    call print32
    call hex32

    ; AAM and AAD with bases 10, 16 and 7 over every AX.
    mov ebp, FNV_BASIS
    xor edi, edi
.aam:
    mov eax, edi
    aam
    call flags_ax
    mov eax, edi
    aam 16
    call flags_ax
    mov eax, edi
    aam 7
    call flags_ax
    mov eax, edi
    aad
    call flags_ax
    mov eax, edi
    aad 16
    call flags_ax
    mov eax, edi
    aad 7
    call flags_ax
    inc edi
    cmp edi, 0x10000
    jb .aam
    mov esi, BASE + msg_aam
    call print32
    call hex32

    ; PUSHA/POPA, segment registers on the stack, LDS/LES, INC/DEC, INTO.
    mov ebp, FNV_BASIS
    mov eax, 0x11111111
    mov ecx, 0x22222222
    mov edx, 0x33333333
    mov ebx, 0x44444444
    mov esi, 0x66666666
    mov edi, 0x77777777
    pusha
    o16 pusha
    mov esi, esp
    mov ecx, 12                  ; 32 + 16 bytes
.stack:
    HASH [esi]
    add esi, 4
    loop .stack
    mov dword [esp + 4], 0       ; POPA skips the ESP slot
    mov [0x8fd00], ebp           ; POPA reloads EBP
    o16 popa
    popa
    mov ebp, [0x8fd00]
    HASH eax
    HASH ecx
    HASH ebx
    HASH esi
    HASH edi
    HASH esp
    push ds                      ; a selector, zero-extended to 32 bits
    push es
    push ss
    pop eax
    HASH eax
    pop es
    pop ds
    mov eax, es
    HASH eax
    o16 push ds
    pop ax
    HASH eax
    mov dword [0x8fe00], 0x12345678
    mov word [0x8fe04], 0x10
    les ecx, [0x8fe00]
    HASH ecx
    mov eax, es
    HASH eax
    lds edx, [0x8fe00]
    HASH edx
    mov ecx, 0x7fffffff
    inc ecx                      ; 0x41: INC r32, OF set
    pushfd
    pop eax
    and eax, 0x8d5
    HASH eax
    dec ecx                      ; 0x49: DEC r32
    HASH ecx
    mov eax, 1
    add eax, 1                   ; OF clear: INTO does nothing
    into
    HASH eax
    mov esi, BASE + msg_legacy
    call print32
    call hex32

    jmp 0x18:(BASE + back64)

; eax (AX) and SF ZF PF (AAM/AAD leave OF AF CF undefined) into the hash.
flags_ax:
    pushfd
    pop ecx
    and ecx, 0xc4
    shl ecx, 16
    movzx eax, ax
    or eax, ecx
    HASH eax
    ret

print32:
    PRINT
    ret

; ebp as eight hex digits and a line end.
hex32:
    mov ecx, 8
.digit:
    rol ebp, 4
    mov eax, ebp
    and eax, 15
    mov bl, [BASE + hexdigits + eax]
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    mov dx, COM1
    mov al, bl
    out dx, al
    loop .digit
    mov esi, BASE + msg_crlf
    PRINT
    ret

bits 64
back64:
    mov rsp, 0x90000
    EXIT 0x55

hexdigits:  db "0123456789abcdef"
msg_bcd:    db "daa das aaa aas ", 0
msg_aam:    db "aam aad ", 0
msg_legacy: db "pusha popa push pop lds les inc dec into ", 0
msg_crlf:   db 13, 10, 0

BOOT64_TAIL
