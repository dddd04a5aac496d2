; The fast system calls of 32-bit protected mode: SYSENTER/SYSEXIT from the
; SYSENTER MSRs, and AMD's legacy SYSCALL/SYSRET from STAR. The kernel
; leaves for CPL 3 (with IOPL 3, so user code may print) each way, and user
; code comes back once each.
%include "uart.inc"

BASE equ 0xf0000

bits 16
section .text start=0 vstart=0
start:
    cli
    cld
    mov ax, cs
    mov ds, ax
    UART_INIT
    lgdt [gdt_desc]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:(BASE + pm32)

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    mov ecx, 0x174               ; SYSENTER_CS 0x08: SYSEXIT's CS 0x1b, SS 0x23
    mov eax, 0x08
    xor edx, edx
    wrmsr
    mov ecx, 0x175               ; SYSENTER_ESP
    mov eax, 0x88000
    wrmsr
    mov ecx, 0x176               ; SYSENTER_EIP
    mov eax, BASE + sysenter_entry
    wrmsr
    pushfd
    or dword [esp], 3 << 12      ; IOPL 3
    popfd
    mov edx, BASE + user1
    mov ecx, 0x80000
    sysexit

user1:                           ; CPL 3
    mov esi, BASE + msg_user
    call print_cpl
    sysenter

sysenter_entry:                  ; CPL 0
    cmp esp, 0x88000
    jne bad
    mov esi, BASE + msg_enter
    call print_cpl
    ; Now SYSCALL: EFER.SCE, STAR with the kernel's CS 0x08 and SYSRET's 0x18.
    mov ecx, 0xc0000080
    rdmsr
    or eax, 1
    wrmsr
    mov ecx, 0xc0000081
    mov eax, BASE + syscall_entry
    mov edx, 0x00180008
    wrmsr
    mov ecx, BASE + user2        ; SYSRET's EIP
    sysret

user2:                           ; CPL 3
    mov esi, BASE + msg_user
    call print_cpl
    syscall

syscall_entry:                   ; CPL 0, interrupts off
    mov esi, BASE + msg_call
    call print_cpl
    EXIT 0x32

bad:
    EXIT 0x7e

; esi: a message, then the CPL and a line end.
print_cpl:
    PRINT
    mov ax, cs
    and eax, 3
    add al, '0'
    mov dx, COM1
    out dx, al
    mov esi, BASE + msg_eol
    PRINT
    ret

msg_user:  db "user code at cpl ", 0
msg_enter: db "sysenter: kernel at cpl ", 0
msg_call:  db "syscall: kernel at cpl ", 0
msg_eol:   db 13, 10, 0

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff    ; 0x08: 32-bit code
    dq 0x00cf93000000ffff    ; 0x10: data
    dq 0x00cffb000000ffff    ; 0x18: user 32-bit code
    dq 0x00cff3000000ffff    ; 0x20: user data
gdt_end:
gdt_desc:
    dw gdt_end - gdt - 1
    dd BASE + gdt

    times 0xfff0 - ($ - $$) db 0xff
bits 16
reset_vector:
    jmp 0xf000:start
    times 0x10000 - ($ - $$) db 0xff
