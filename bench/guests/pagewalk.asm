; Page-table-heavy: 4 KiB pages mapping 64 MiB at 1 GiB (a page table per
; 2 MiB), then strided reads that touch a new page each time, 400 rounds.
%define REPS 4  ; about 2 s under QEMU (guest.inc)
%include "guest.inc"
bench:
    ; PDPT[1] -> PD at 0x40000, whose 32 entries point to PTs at 0x41000..
    mov qword [abs 0x11008], 0x40000 | 3
    mov edi, 0x40000
    mov ecx, 32
    mov eax, 0x41000 | 3
.pd:
    mov [rdi], rax
    add rax, 0x1000
    add rdi, 8
    dec ecx
    jnz .pd
    ; PTs: 16384 entries mapping physical 0x4000000.. (64 MiB at 64 MiB)
    mov edi, 0x41000
    mov ecx, 16384
    mov rax, 0x4000000 | 3
.pt:
    mov [rdi], rax
    add rax, 0x1000
    add rdi, 8
    dec ecx
    jnz .pt
    mov rax, cr3
    mov cr3, rax
    xor eax, eax
    mov r12d, 400
.round:
    mov rsi, 0x40000000
    mov ecx, 16384
.touch:
    add rax, [rsi]
    mov [rsi], rcx
    add rsi, 4096
    dec ecx
    jnz .touch
    dec r12d
    jnz .round
    ret
msg_name: db "pagewalk ", 0
BOOT64_TAIL
