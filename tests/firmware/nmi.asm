; The NMI button (QMP's inject-nmi, the monitor's nmi): an NMI reaches a
; CPU halted with interrupts off, and while its handler runs a second NMI
; waits for the IRET. Where the CPU has a local APIC (pc), the BIOS's part
; is done first: LINT1 set to NMI delivery, as SeaBIOS and Linux set it;
; the handler then sends itself an NMI through the ICR, which must wait.
; Without one (testrig), the test presses the button twice.
; Prints "R" once ready, "N1", "N2" per NMI, "X" for an NMI taken inside
; the handler; exits 0 through port 0xf4 after the second.
bits 16
org 0
times 0xfe00 db 0xff
start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov word [2 * 4], nmi
    mov word [2 * 4 + 2], 0xf000
    mov byte [0x500], 0         ; NMIs taken
    mov byte [0x501], 0         ; inside the handler
    ; FS with a 4 GiB limit (unreal mode) for the APIC's page
    lgdt [cs:gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    mov bx, 8
    mov fs, bx
    and al, 0xfe
    mov cr0, eax
    xor bx, bx
    mov fs, bx
    mov eax, 1
    cpuid
    mov [0x502], dl             ; bit 9 of EDX (APIC) tested below
    mov [0x503], dh
    test edx, 1 << 9
    jz .ready
    mov ebx, 0xfee000f0
    mov dword [fs:ebx], 0x1ff   ; SVR: the APIC on (its LVTs stay masked while it is off)
    mov ebx, 0xfee00360
    mov dword [fs:ebx], 0x400   ; LVT LINT1: NMI, edge, unmasked
.ready:
    mov al, 'R'
    call putc
    mov al, 10
    call putc
.wait:
    hlt
    cmp byte [0x500], 2
    jb .wait
    mov dx, 0xf4
    mov al, 0
    out dx, al
    hlt

nmi:
    cmp byte [0x501], 0
    je .first
    mov al, 'X'
    call putc
.first:
    mov byte [0x501], 1
    inc byte [0x500]
    mov al, 'N'
    call putc
    mov al, '0'
    add al, [0x500]
    call putc
    mov al, 10
    call putc
    cmp byte [0x500], 1
    jne .out
    test byte [0x503], 1 << 1   ; EDX bit 9: a local APIC
    jz .out
    mov ebx, 0xfee00310
    mov dword [fs:ebx], 0       ; ICR high: APIC ID 0
    mov ebx, 0xfee00300
    mov dword [fs:ebx], 0x4400  ; ICR low: NMI, assert, physical
    mov cx, 2000                        ; time for it to arrive, were it not held
.spin:
    loop .spin
.out:
    mov byte [0x501], 0
    iret

putc:
    push dx
    mov dx, 0x3f8
    out dx, al
    pop dx
    ret

align 8
gdt:
    dq 0
    dq 0x00cf93000000ffff       ; data, base 0, 4 GiB, writable, accessed (no write to ROM to set it)
gdtr:
    dw gdtr - gdt - 1
    dd 0xf0000 + gdt

times 0xfff0 - ($ - $$) db 0xff
    jmp 0xf000:start
times 0x10000 - ($ - $$) db 0xff
