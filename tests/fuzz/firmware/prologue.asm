; The fixed part of a random firmware image (tests/fuzz/firmware_image.cpp
; fills in the rest): 128 KiB for -bios, whose start the prologue copies
; to RAM - the tables guest_layout.cpp writes for the mode (IVT, GDT, LDT,
; IDT, TSS, page tables) at 0, the payload at 64 KiB - before it
; enters the mode the configuration block names and jumps to the payload:
; real mode, 16- or 32-bit protected mode (ring 0, ring 3, paging,
; virtual-8086), 64-bit mode (ring 0, ring 3) or compatibility mode,
; with the block's EFLAGS, CR0 and CR4 bits, system-call MSRs and
; registers. The whole image is also seen below 1 MiB (the ISA BIOS
; alias), where the prologue runs from.
BASE  equ 0xe0000           ; linear address of image offset 0 (the alias)
CFG   equ 0x1e000           ; image offset of the configuration block
TABLES_END equ 0x9000      ; the tables guest_layout.cpp writes end below this

; The configuration block (firmware_image.cpp writes it).
C_MODE   equ CFG + 0x00     ; byte: guest_layout.hpp's cpu_mode
C_EFLAGS equ CFG + 0x04     ; dword
C_CR0    equ CFG + 0x08     ; dword: bits to set in CR0
C_CR4    equ CFG + 0x0c     ; dword: bits to set in CR4
C_MSRS   equ CFG + 0x10     ; 7 qwords: STAR LSTAR CSTAR FMASK SYSENTER_CS/ESP/EIP
C_LEN    equ CFG + 0x60     ; word: the payload's length in dwords
C_REGS   equ CFG + 0x80     ; 16 qwords: RAX RCX RDX RBX RSP RBP RSI RDI R8-R15 (RSP unused)

M_REAL equ 0
M_PROT16 equ 1
M_PROT32 equ 2
M_RING3 equ 3
M_PAGING equ 4
M_V86 equ 5
M_LONG64 equ 6
M_LONG3 equ 7
M_COMPAT equ 8

bits 16
section .text start=0
    times CFG db 0
    times 0x100 db 0            ; the configuration block

; Offset 0x1e100: CS = 0xf000, IP = 0xe100.
prologue:
    cli
    cld
    ; The tables to RAM (the stacks above them are zero already), then
    ; the payload, as far as it goes: each REP iteration costs the run
    ; one instruction of its budget.
    mov ax, BASE >> 4
    mov ds, ax
    xor ax, ax
    mov es, ax
    xor si, si
    xor di, di
    mov cx, TABLES_END / 4
    rep movsd
    mov ax, (BASE >> 4) + 0x1000
    mov ds, ax
    mov ax, 0x1000
    mov es, ax
    xor si, si
    xor di, di
    mov cx, [C_LEN - 0x10000]
    rep movsd
    ; ds now addresses image offset 0x10000 and on.
    mov al, [C_MODE - 0x10000]
    cmp al, M_REAL
    jne .protected
    ; Real mode: DS=ES=FS=GS=0x2000, SS:SP=0:0xc000, CS:IP=0x1000:0.
    mov eax, cr0
    or eax, [C_CR0 - 0x10000]
    and eax, 0x7fff_fffe        ; never PE or PG here
    mov cr0, eax
    mov eax, cr4
    or eax, [C_CR4 - 0x10000]
    mov cr4, eax
    xor ax, ax
    mov ss, ax
    mov sp, 0xc000
    push word [C_EFLAGS - 0x10000]
    push word 0x1000
    push word 0
    mov eax, [C_REGS - 0x10000 + 0 * 8]
    mov ecx, [C_REGS - 0x10000 + 1 * 8]
    mov edx, [C_REGS - 0x10000 + 2 * 8]
    mov ebx, [C_REGS - 0x10000 + 3 * 8]
    mov ebp, [C_REGS - 0x10000 + 5 * 8]
    mov esi, [C_REGS - 0x10000 + 6 * 8]
    mov edi, [C_REGS - 0x10000 + 7 * 8]
    push word 0x2000
    pop es
    push word 0x2000
    pop fs
    push word 0x2000
    pop gs
    push word 0x2000
    pop ds
    iret

.protected:
    o32 lgdt [cs:gdt_ptr - 0x10000]
    cmp al, M_LONG64
    jae .idt64
    o32 lidt [cs:idt32_ptr - 0x10000]
    jmp .pe
.idt64:
    o32 lidt [cs:idt64_ptr - 0x10000]
.pe:
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:(BASE + pm32)

gdt_ptr:   dw 0x9f
           dd 0x800
idt32_ptr: dw 0x7ff
           dd 0x1000
idt64_ptr: dw 0xfff
           dd 0x1000

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov esp, 0xf000
    mov ax, 0x50
    ltr ax
    mov ax, 0x60
    lldt ax
    ; The system-call MSRs, and EFER: SCE everywhere, LME and NXE for long mode.
    mov esi, BASE + C_MSRS
    mov ecx, 0xc0000081         ; STAR, LSTAR, CSTAR
.msr:
    mov eax, [esi]
    mov edx, [esi + 4]
    wrmsr
    add esi, 8
    inc ecx
    cmp ecx, 0xc0000084
    jbe .msr                    ; ... and FMASK
    mov ecx, 0x174              ; SYSENTER_CS, ESP, EIP
.sysenter:
    mov eax, [esi]
    mov edx, [esi + 4]
    wrmsr
    add esi, 8
    inc ecx
    cmp ecx, 0x176
    jbe .sysenter
    mov bl, [BASE + C_MODE]
    mov ecx, 0xc0000080
    rdmsr
    or eax, 1                   ; SCE
    cmp bl, M_LONG64
    jb .efer
    or eax, (1 << 8) | (1 << 11)  ; LME, NXE
.efer:
    wrmsr
    mov eax, cr4
    or eax, [BASE + C_CR4]
    cmp bl, M_PAGING
    jne .no_pse
    or eax, 1 << 4              ; PSE
    mov edx, 0x3000
    mov cr3, edx
.no_pse:
    cmp bl, M_LONG64
    jb .cr4
    or eax, 1 << 5              ; PAE
    mov edx, 0x5000
    mov cr3, edx
.cr4:
    mov cr4, eax
    mov eax, cr0
    or eax, [BASE + C_CR0]
    cmp bl, M_PAGING
    je .pg
    cmp bl, M_LONG64
    jb .cr0
.pg:
    or eax, 1 << 31
.cr0:
    mov cr0, eax
    cmp bl, M_LONG64
    jae to_long
    ; An IRET frame for the mode, then the registers.
    cmp bl, M_RING3
    je .ring3
    cmp bl, M_V86
    je .v86
    cmp bl, M_PROT16
    je .prot16
    push dword [BASE + C_EFLAGS]
    push dword 0x08
    push dword 0x10000
    jmp regs32
.prot16:
    push dword [BASE + C_EFLAGS]
    push dword 0x40
    push dword 0
    call load_regs32            ; DS is still flat
    push dword 0x48             ; 16-bit data segments, the GPRs kept
    pop ds
    push dword 0x48
    pop es
    push dword 0x48
    pop fs
    push dword 0x48
    pop gs
    push dword 0x48
    pop ss
    iretd
.ring3:
    mov ax, 0x23
    mov es, ax
    mov fs, ax
    mov gs, ax
    push dword 0x23
    push dword 0xc000
    push dword [BASE + C_EFLAGS]
    push dword 0x1b
    push dword 0x10000
    mov ds, ax
    jmp regs32
.v86:
    push dword 0x2000           ; GS FS DS ES
    push dword 0x2000
    push dword 0x2000
    push dword 0x2000
    push dword 0                ; SS:ESP
    push dword 0xc000
    mov eax, [BASE + C_EFLAGS]
    or eax, 1 << 17             ; VM
    push eax
    push dword 0x1000           ; CS:EIP
    push dword 0
regs32:
    call load_regs32
    iretd
load_regs32:
    mov eax, [BASE + C_REGS + 0 * 8]
    mov ecx, [BASE + C_REGS + 1 * 8]
    mov edx, [BASE + C_REGS + 2 * 8]
    mov ebx, [BASE + C_REGS + 3 * 8]
    mov ebp, [BASE + C_REGS + 5 * 8]
    mov edi, [BASE + C_REGS + 7 * 8]
    mov esi, [BASE + C_REGS + 6 * 8]
    ret

to_long:
    jmp 0x30:(BASE + lm64)

bits 64
lm64:
    mov ax, 0x38
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov rsp, 0xf000
    mov bl, [BASE + C_MODE]
    cmp bl, M_LONG3
    je .ring3
    cmp bl, M_COMPAT
    je .compat
    push qword 0x38
    push qword 0xf000
    mov eax, [BASE + C_EFLAGS]
    push rax
    push qword 0x30
    push qword 0x10000
    jmp regs64
.ring3:
    mov ax, 0x23
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    push qword 0x23
    push qword 0xc000
    mov eax, [BASE + C_EFLAGS]
    push rax
    push qword 0x2b
    push qword 0x10000
    jmp regs64
.compat:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    push qword 0x10
    push qword 0xf000
    mov eax, [BASE + C_EFLAGS]
    push rax
    push qword 0x08
    push qword 0x10000
regs64:
    mov rax, [BASE + C_REGS + 0 * 8]
    mov rcx, [BASE + C_REGS + 1 * 8]
    mov rdx, [BASE + C_REGS + 2 * 8]
    mov rbx, [BASE + C_REGS + 3 * 8]
    mov rbp, [BASE + C_REGS + 5 * 8]
    mov rsi, [BASE + C_REGS + 6 * 8]
    mov rdi, [BASE + C_REGS + 7 * 8]
    mov r8, [BASE + C_REGS + 8 * 8]
    mov r9, [BASE + C_REGS + 9 * 8]
    mov r10, [BASE + C_REGS + 10 * 8]
    mov r11, [BASE + C_REGS + 11 * 8]
    mov r12, [BASE + C_REGS + 12 * 8]
    mov r13, [BASE + C_REGS + 13 * 8]
    mov r14, [BASE + C_REGS + 14 * 8]
    mov r15, [BASE + C_REGS + 15 * 8]
    iretq

bits 16
    times 0x1fff0 - ($ - $$) db 0
reset:                          ; 0xfffffff0
    jmp 0xf000:(prologue - 0x10000)
    times 0x20000 - ($ - $$) db 0
