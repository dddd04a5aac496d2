; Task switches between a 32-bit TSS (task A) and an 80286 16-bit TSS
; (task C): CALL to the 16-bit TSS (IP, FLAGS, the 16-bit registers, ES CS
; SS DS and the LDT come from it; the registers' upper halves stay, as
; under QEMU; FS and GS are null), IRET back, which
; saves C in the 16-bit format, and a JMP that resumes C after its IRET.
%include "uart.inc"
%include "boot32.inc"

GDT2 equ 0x50000
TSS_A equ 0x31000
TSS_C equ 0x32000

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov esp, 0x90000
    mov esi, BASE + gdt
    mov edi, GDT2
    mov ecx, (gdt_end - gdt) / 4
    rep movsd
    mov dword [GDT2 + 0x20], ((TSS_A & 0xffff) << 16) | 0x67
    mov dword [GDT2 + 0x24], 0x8900 | (TSS_A >> 16)
    mov dword [GDT2 + 0x38], ((TSS_C & 0xffff) << 16) | 0x2b
    mov dword [GDT2 + 0x3c], 0x8100 | (TSS_C >> 16)   ; available 16-bit TSS
    lgdt [BASE + gdt2_desc]
    mov edi, TSS_A
    xor eax, eax
    mov ecx, 0x2000 / 4
    rep stosd
    mov word [TSS_C + 0x0e], task_c   ; IP, in the code segment at F0000
    mov word [TSS_C + 0x10], 2        ; FLAGS
    mov word [TSS_C + 0x12], 0x1234   ; AX
    mov word [TSS_C + 0x14], 0x5678   ; CX
    mov word [TSS_C + 0x1a], 0xe000   ; SP
    mov word [TSS_C + 0x20], 0x9abc   ; DI
    mov word [TSS_C + 0x22], 0x10     ; ES
    mov word [TSS_C + 0x24], 0x28     ; CS
    mov word [TSS_C + 0x26], 0x40     ; SS: 16-bit, base 80000
    mov word [TSS_C + 0x28], 0x10     ; DS
    mov ax, 0x20
    ltr ax
    mov ebx, 0x11223344
    call 0x38:0                  ; to task C, nested
    mov ebp, ebx
    mov esi, BASE + msg_back
    call print
    mov edi, ebp                 ; kept in task A's TSS
    call hex32
    mov edi, [TSS_C + 0x0e]      ; C's IP and FLAGS as its IRET saved them
    call hex32
    movzx edi, word [TSS_C + 0x12]  ; C's AX
    call hex32
    mov edi, [GDT2 + 0x3c]       ; C's descriptor: available again
    call hex32
    mov esi, BASE + msg_eol
    call print
    jmp 0x38:0                   ; to task C again, which resumes after its IRET

bits 32
task_c:                          ; CS base F0000: offsets are the image's
    push edi
    push ecx
    push eax
    mov esi, BASE + msg_c
    call print
    pop edi                      ; EAX ECX EDI as the 16-bit TSS left them
    call hex32
    pop edi
    call hex32
    pop edi
    call hex32
    mov esi, BASE + msg_sep
    call print
    pushfd
    pop edi
    shr edi, 14                  ; NT
    and edi, 1
    call hex32
    movzx edi, word [TSS_C]      ; the back link
    call hex32
    mov di, fs                   ; null
    movzx edi, di
    call hex32
    mov esi, BASE + msg_eol
    call print
    mov ax, 0xbeef
    iretd                        ; back to task A
    mov esi, BASE + msg_again
    call print
    pushfd
    pop edi
    shr edi, 14
    and edi, 1
    call hex32
    str ax
    movzx edi, ax
    call hex32
    mov esi, BASE + msg_eol
    call print
    EXIT 0x59

print:
    PRINT
    ret

HEX32_CODE

msg_c:     db "task C: EAX ECX EDI = ", 0
msg_sep:   db "NT, link, FS = ", 0
msg_back:  db "task A again: EBX, C's IP and FLAGS, AX, descriptor = ", 0
msg_again: db "task C resumed: NT, TR = ", 0
msg_eol:   db 13, 10, 0

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff    ; 0x08: 32-bit code
    dq 0x00cf93000000ffff    ; 0x10: data
    dq 0
    dq 0                     ; 0x20: TSS A
    dq 0x00cf9b0f0000ffff    ; 0x28: 32-bit code, base F0000
    dq 0
    dq 0                     ; 0x38: TSS C
    dq 0x000093080000ffff    ; 0x40: 16-bit data, base 80000 (task C's stack)
gdt_end:
gdt2_desc:
    dw gdt_end - gdt - 1
    dd GDT2

BOOT32_TAIL
