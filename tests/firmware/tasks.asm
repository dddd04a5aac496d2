; Hardware task switches in 32-bit protected mode, with the GDT in RAM (the
; CPU writes the TSS descriptors' busy bits): CALL to a TSS (a nested task:
; back link, NT), IRET back to the caller, then JMP through a task gate to
; the same task, which resumes after its IRET.
%include "uart.inc"
%include "boot32.inc"

GDT2 equ 0x50000
TSS_A equ 0x31000
TSS_B equ 0x32000

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov esp, 0x90000
    mov esi, BASE + gdt          ; the GDT in RAM, with two TSSes and a task gate
    mov edi, GDT2
    mov ecx, 8
    rep movsd
    mov dword [GDT2 + 0x20], ((TSS_A & 0xffff) << 16) | 0x67
    mov dword [GDT2 + 0x24], 0x8900 | (TSS_A >> 16)
    mov dword [GDT2 + 0x28], ((TSS_B & 0xffff) << 16) | 0x67
    mov dword [GDT2 + 0x2c], 0x8900 | (TSS_B >> 16)
    mov dword [GDT2 + 0x30], 0x28 << 16          ; task gate to TSS B
    mov dword [GDT2 + 0x34], 0x8500
    lgdt [BASE + gdt2_desc]
    mov edi, TSS_A
    xor eax, eax
    mov ecx, 0x2000 / 4
    rep stosd
    mov dword [TSS_B + 0x20], BASE + task_b      ; EIP
    mov dword [TSS_B + 0x24], 2                  ; EFLAGS
    mov dword [TSS_B + 0x38], 0x8e000            ; ESP
    mov dword [TSS_B + 0x4c], 0x08               ; CS
    mov eax, 0x10
    mov [TSS_B + 0x48], eax                      ; ES
    mov [TSS_B + 0x50], eax                      ; SS
    mov [TSS_B + 0x54], eax                      ; DS
    mov [TSS_B + 0x58], eax                      ; FS
    mov [TSS_B + 0x5c], eax                      ; GS
    mov ax, 0x20
    ltr ax
    call 0x28:0                  ; to task B, nested
    mov esi, BASE + msg_back
    call print
    str ax
    movzx edi, ax
    call hex32
    mov eax, cr0
    shr eax, 3
    and eax, 1
    mov edi, eax
    call hex32
    mov edi, [GDT2 + 0x2c]       ; task B's descriptor: no longer busy
    call hex32
    mov esi, BASE + msg_eol
    call print
    jmp 0x30:0                   ; through the task gate, to task B again

task_b:
    mov esi, BASE + msg_b
    call print
    movzx edi, word [TSS_B]      ; the back link
    call hex32
    pushfd
    pop edi
    shr edi, 14                  ; NT
    and edi, 1
    call hex32
    str ax
    movzx edi, ax
    call hex32
    mov esi, BASE + msg_eol
    call print
    iretd                        ; back to task A
    mov esi, BASE + msg_again
    call print
    pushfd
    pop edi
    shr edi, 14
    and edi, 1
    call hex32
    mov edi, [GDT2 + 0x24]       ; task A's descriptor: not busy after the JMP
    call hex32
    mov esi, BASE + msg_eol
    call print
    EXIT 0x58

print:
    PRINT
    ret

HEX32_CODE

msg_b:     db "task B: link, NT, TR = ", 0
msg_back:  db "task A again: TR, CR0.TS, B's descriptor = ", 0
msg_again: db "task B resumed after its IRET: NT, A's descriptor = ", 0
msg_eol:   db 13, 10, 0

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff    ; 0x08: 32-bit code
    dq 0x00cf93000000ffff    ; 0x10: data
    dq 0
gdt_end:
gdt2_desc:
    dw 0x37
    dd GDT2

BOOT32_TAIL
