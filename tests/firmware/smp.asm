; Multiprocessor start-up, as a BIOS does it: the bootstrap processor wakes
; the others through its local APIC with INIT and two SIPIs, sent to all
; but itself. Each application processor starts in real mode at the SIPI's
; page (F2000, in this image), enters protected mode, turns its own local
; APIC on, records its APIC ID as CPUID gives it, counts itself in and
; waits with interrupts on. The BSP then sends each a fixed IPI by its
; APIC ID; the handler counts it and signals EOI. How many CPUs to expect:
; CPUID.01H:EBX[23:16] (none other when it is 0). The output is the same
; whatever order the CPUs come up in.
; The handler calls a function in RAM (mov eax, imm32; ret) and records
; what it returned. Once every application processor has run it, the BSP
; rewrites its immediate and sends the IPIs again: each must run the new
; code (an emulator's translations are one per machine in effect, whichever
; CPU wrote the bytes).
%include "uart.inc"
%include "boot32.inc"

APIC     equ 0xfee00000
UP       equ 0x500               ; application processors up (LOCK INC)
SEEN     equ 0x600               ; by local APIC ID: CPUID's APIC ID + 0x100
IPIS     equ 0x700               ; by local APIC ID: fixed IPIs handled
RESULT   equ 0x800               ; by local APIC ID: what FN returned last
FN       equ 0x3000              ; the function the handler calls, patched
IDT      equ 0x1000
IPI_VEC  equ 0x40
SIPI_VEC equ 0xf2                ; the application processors start at F2000
TIMEOUT  equ 0x4000000

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    mov edi, UP
    xor eax, eax
    mov ecx, 0x400 / 4
    rep stosd
    mov byte [FN], 0xb8          ; mov eax, 0x11111111
    mov dword [FN + 1], 0x11111111
    mov byte [FN + 5], 0xc3      ; ret
    mov edi, IDT                 ; one interrupt gate: the IPI's
    mov ecx, (IPI_VEC + 1) * 2
    rep stosd
    mov eax, BASE + ipi
    mov [IDT + IPI_VEC * 8], ax
    mov word [IDT + IPI_VEC * 8 + 2], 0x08
    mov word [IDT + IPI_VEC * 8 + 4], 0x8e00
    shr eax, 16
    mov [IDT + IPI_VEC * 8 + 6], ax
    lidt [BASE + idt_desc]

    mov eax, 1
    cpuid
    shr ebx, 16
    movzx ebp, bl                ; the CPUs
    cmp ebp, 1
    adc ebp, 0                   ; 0 means one
    mov esi, BASE + msg_cpus
    call print
    mov edi, ebp
    call hex32
    mov esi, BASE + msg_eol
    call print
    cmp ebp, 1
    je .alone

    mov dword [APIC + 0xf0], 0x1ff          ; spurious-interrupt vector register: APIC on
    mov dword [APIC + 0x310], 0
    mov dword [APIC + 0x300], 0x000c4500    ; INIT, to all but self
    call icr_wait
    call delay
    mov dword [APIC + 0x300], 0x000c4600 | SIPI_VEC
    call icr_wait
    call delay
    mov dword [APIC + 0x300], 0x000c4600 | SIPI_VEC  ; the second SIPI of the MP spec
    call icr_wait
    lea ebx, [ebp - 1]
    mov ecx, TIMEOUT
.wait_up:
    cmp [UP], ebx
    je .all_up
    pause
    loop .wait_up
.all_up:
    mov esi, BASE + msg_up
    call print
    mov edi, [UP]
    call hex32
    mov esi, BASE + msg_eol
    call print

    mov ecx, 1                   ; each application processor's IDs (print keeps ECX, not EBX)
.ids:
    mov esi, BASE + msg_cpu
    call print
    mov edi, ecx
    call hex32
    mov esi, BASE + msg_cpuid
    call print
    mov edi, [SEEN + ecx * 4]
    sub edi, 0x100
    call hex32
    mov esi, BASE + msg_eol
    call print
    inc ecx
    cmp ecx, ebp
    jb .ids

    lea eax, [ebp - 1]
    call ipi_round
    mov esi, BASE + msg_ipis
    call print
    call hex32
    mov esi, BASE + msg_eol
    call print

    mov dword [FN + 1], 0x22222222  ; patch what each has run, and again
    lea eax, [ebp - 1]
    add eax, eax
    call ipi_round
    xor edi, edi                 ; how many ran the new code
    mov ebx, 1
.count:
    cmp dword [RESULT + ebx * 4], 0x22222222
    jne .stale
    inc edi
.stale:
    inc ebx
    cmp ebx, ebp
    jb .count
    mov esi, BASE + msg_patch
    call print
    call hex32
    mov esi, BASE + msg_eol
    call print
    EXIT 0x5a
.alone:
    mov esi, BASE + msg_alone
    call print
    EXIT 0x5a

; A fixed IPI to each application processor, by APIC ID; then waits
; (bounded) until the handled count is EAX. EDI: the count.
ipi_round:
    push eax
    mov ebx, 1
.send:
    mov eax, ebx
    shl eax, 24
    mov [APIC + 0x310], eax
    mov dword [APIC + 0x300], 0x00004000 | IPI_VEC  ; fixed, physical, assert
    call icr_wait
    inc ebx
    cmp ebx, ebp
    jb .send
    pop eax
    mov ecx, TIMEOUT
.wait:
    xor edi, edi
    mov ebx, 1
.sum:
    add edi, [IPIS + ebx * 4]
    inc ebx
    cmp ebx, ebp
    jb .sum
    cmp edi, eax
    je .done
    pause
    loop .wait
.done:
    ret

; Until the ICR's delivery status is idle (bounded).
icr_wait:
    mov ecx, TIMEOUT
.poll:
    test dword [APIC + 0x300], 1 << 12
    jz .idle
    pause
    loop .poll
.idle:
    ret

delay:
    mov ecx, 10000
.spin:
    pause
    loop .spin
    ret

; The fixed IPI: call FN and keep its value, count the IPI against this
; CPU's APIC ID, then EOI.
ipi:
    push eax
    push ebx
    mov eax, FN
    call eax
    mov ebx, [APIC + 0x20]
    shr ebx, 24
    mov [RESULT + ebx * 4], eax
    lock inc dword [IPIS + ebx * 4]
    mov dword [APIC + 0xb0], 0
    pop ebx
    pop eax
    iretd

print:
    PRINT
    ret

HEX32_CODE

msg_cpus:  db "cpus: ", 0
msg_up:    db "application processors up: ", 0
msg_cpu:   db "cpu ", 0
msg_cpuid: db "has CPUID APIC ID ", 0
msg_ipis:  db "fixed IPIs handled: ", 0
msg_patch: db "ran the code the BSP patched: ", 0
msg_alone: db "no other CPU to start", 13, 10, 0
msg_eol:   db 13, 10, 0

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff    ; 0x08: 32-bit code
    dq 0x00cf93000000ffff    ; 0x10: data
gdt_end:
idt_desc:
    dw (IPI_VEC + 1) * 8 - 1
    dd IDT

; An application processor, from the SIPI: real mode, CS F200, IP 0.
    times 0x2000 - ($ - $$) db 0xcc
bits 16
ap_start:
    jmp 0xf000:ap_main
ap_main:
    cli
    mov ax, cs
    mov ds, ax
    lgdt [gdt_desc]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:(BASE + ap32)
bits 32
ap32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov ebx, [APIC + 0x20]
    shr ebx, 24                  ; the local APIC's ID
    mov esp, ebx                 ; a stack page of its own
    shl esp, 12
    add esp, 0x81000
    mov eax, 1
    cpuid
    shr ebx, 24
    add ebx, 0x100
    mov eax, [APIC + 0x20]
    shr eax, 24
    mov [SEEN + eax * 4], ebx
    lidt [BASE + idt_desc]
    mov dword [APIC + 0xf0], 0x1ff          ; its APIC on, to take the fixed IPI
    lock inc dword [UP]
    sti
.idle:
    hlt
    jmp .idle

BOOT32_TAIL
