; The fast system calls of 32-bit protected mode: SYSENTER/SYSEXIT from the
; SYSENTER MSRs, and AMD's legacy SYSCALL/SYSRET from STAR. The kernel
; leaves for CPL 3 (with IOPL 3, so user code may print) each way, and user
; code comes back once each. Then a 32-bit call gate with two parameters
; from CPL 3: the TSS's SS0:ESP0 as the new stack, the parameters copied.
%include "uart.inc"
%include "boot32.inc"


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
    ; A GDT in RAM: the ROM's five entries, a TSS at 0x28, a gate at 0x30.
    mov esi, BASE + gdt
    mov edi, 0x50000
    mov ecx, 10
    rep movsd
    mov dword [0x50028], 0x00000067       ; TSS at 0x30000, limit 0x67
    mov dword [0x5002c], 0x00008903
    mov eax, BASE + gate32
    mov edx, eax
    and edx, 0xffff
    or edx, 0x08 << 16                    ; the target: the kernel's code
    mov [0x50030], edx
    and eax, 0xffff0000
    or eax, 0xec02                        ; present, DPL 3, 32-bit call gate, 2 parameters
    mov [0x50034], eax
    lgdt [BASE + gdt2_desc]
    mov edi, 0x30000
    xor eax, eax
    mov ecx, 0x68 / 4
    rep stosd
    mov dword [0x30004], 0x87000          ; ESP0
    mov dword [0x30008], 0x10             ; SS0
    mov ax, 0x28
    ltr ax
    push 0x23                             ; to CPL 3 with IOPL 3
    push 0x7f000
    push 0x3002
    push 0x1b
    push BASE + user3
    iretd

user3:                           ; CPL 3
    push 0x1111
    push 0x2222
    call 0x33:0                  ; through the gate (the offset is the gate's)

gate32:                          ; CPL 0, on SS0:ESP0
    mov ebp, esp
    mov esi, BASE + msg_gate
    call print_cpl
    mov ecx, 6                   ; EIP CS param param ESP SS
    xor ebx, ebx
.frame:
    mov edi, [ebp + ebx * 4]
    call hex32
    inc ebx
    loop .frame
    mov esi, BASE + msg_eol
    PRINT
    EXIT 0x32

bad:
    EXIT 0x7e

HEX32_CODE

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
msg_gate:  db "call gate: kernel at cpl ", 0
msg_eol:   db 13, 10, 0

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff    ; 0x08: 32-bit code
    dq 0x00cf93000000ffff    ; 0x10: data
    dq 0x00cffb000000ffff    ; 0x18: user 32-bit code
    dq 0x00cff3000000ffff    ; 0x20: user data
gdt_end:
gdt2_desc:
    dw 0x37
    dd 0x50000

BOOT32_TAIL
