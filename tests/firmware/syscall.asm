; SYSCALL and SYSRET: the kernel enables EFER.SCE, sets STAR/LSTAR/FMASK,
; drops to CPL 3 with SYSRETQ (pages user-accessible), and user code calls
; back twice: once to print its CPL (IN/OUT need the kernel at CPL 3), once
; to finish. SWAPGS switches GS bases on the way in.
%include "uart.inc"
%define BOOT_EXTRA_PAGING USER_PAGES
%include "boot64.inc"

bits 64
lm64:
    mov rsp, 0x90000
    mov ecx, 0xc0000080          ; EFER.SCE
    rdmsr
    or eax, 1
    wrmsr
    mov ecx, 0xc0000081          ; STAR: kernel CS 0x18, SYSRET base 0x18 (CS 0x2b, SS 0x23)
    xor eax, eax
    mov edx, 0x00180018
    wrmsr
    mov ecx, 0xc0000082          ; LSTAR
    mov eax, BASE + kernel_entry
    xor edx, edx
    wrmsr
    mov ecx, 0xc0000084          ; FMASK: clear IF and DF
    mov eax, 0x600
    xor edx, edx
    wrmsr
    mov ecx, 0xc0000102          ; KERNEL_GS_BASE
    mov eax, 0x1234
    xor edx, edx
    wrmsr
    mov rcx, BASE + user
    mov r11d, 0x2
    mov rsp, 0x80000
    o64 sysret

user:                            ; CPL 3
    mov ax, cs
    and eax, 3
    mov edi, eax
    mov eax, 1
    syscall
    mov eax, 2
    syscall

kernel_entry:                    ; CPL 0, on the user's stack
    swapgs
    push rcx
    push r11
    push rax
    mov ecx, 0xc0000101          ; GS_BASE: the kernel's after SWAPGS
    rdmsr
    cmp eax, 0x1234
    jne .bad
    pop rax
    cmp eax, 1
    jne .finish
    lea rsi, [rel msg_sys]
    PRINT
    mov eax, edi
    add al, '0'
    mov bl, al
    mov dx, COM1
    out dx, al
    lea rsi, [rel msg_k]
    PRINT
    mov ax, cs                   ; and the kernel's own CPL
    and eax, 3
    add al, '0'
    mov dx, COM1
    out dx, al
    lea rsi, [rel msg_eol]
    PRINT
    pop r11
    pop rcx
    swapgs
    o64 sysret
.finish:
    lea rsi, [rel msg_done]
    PRINT
    EXIT 0x33
.bad:
    EXIT 0x7e

msg_sys:  db "syscall from cpl ", 0
msg_k:    db ", kernel at cpl ", 0
msg_eol:  db 13, 10, 0
msg_done: db "back in the kernel", 13, 10, 0

BOOT64_TAIL
