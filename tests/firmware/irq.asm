; External interrupts in long mode: the two 8259As initialised to vectors
; 20-2F, the 8254's channel 0 at 1 kHz on IRQ 0 (ten ticks waited for with
; STI; HLT), a latched count read back, then the UART's transmitter-empty
; interrupt on IRQ 4. A CPU with a local APIC (QEMU's) passes the PIC's
; INTR only once LINT0 is set to ExtINT, which firmware does (a BIOS sets
; up this "virtual wire"); on testrig, which has no APIC, those writes
; reach nothing.

; The local APIC's page (FEE00000, in the fourth GiB), uncached.
%macro APIC_PAGE 0
    mov edi, 0x13000
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov dword [0x11000 + 3 * 8], 0x13000 | 3
    mov dword [0x13000 + 0x1f7 * 8], 0xfee00000 | 0x9b  ; present, writable, PWT, PCD, 2 MiB
%endmacro
%define BOOT_EXTRA_PAGING APIC_PAGE

%include "uart.inc"
%include "boot64.inc"
%include "idt64.inc"

%macro OUTB 2                    ; port, value
    mov al, %2
    out %1, al
%endmacro

bits 64
lm64:
    mov rsp, 0x90000
    IDT_SETUP
    mov eax, 0xfee000f0
    mov dword [rax], 0x1ff       ; spurious-interrupt vector register: APIC on
    mov eax, 0xfee00350
    mov dword [rax], 0x700       ; LVT LINT0: ExtINT, the PIC's INTR
    OUTB 0x20, 0x11              ; ICW1: edge, cascade, ICW4
    OUTB 0xa0, 0x11
    OUTB 0x21, 0x20              ; ICW2: vectors
    OUTB 0xa1, 0x28
    OUTB 0x21, 0x04              ; ICW3: the slave on IRQ 2
    OUTB 0xa1, 0x02
    OUTB 0x21, 0x01              ; ICW4: 8086 mode
    OUTB 0xa1, 0x01
    OUTB 0x21, 0xfe              ; only IRQ 0
    OUTB 0xa1, 0xff
    OUTB 0x43, 0x34              ; channel 0, LSB then MSB, mode 2
    OUTB 0x40, 1193 & 0xff       ; 1 kHz
    OUTB 0x40, 1193 >> 8
    xor r15d, r15d               ; ticks, counted by the handler
    sti
.ticks:
    hlt
    cmp r15d, 10
    jb .ticks
    cli
    lea rsi, [rel msg_ticks]
    call print

    OUTB 0x43, 0x00              ; latch channel 0
    in al, 0x40
    mov bl, al
    in al, 0x40
    mov bh, al
    cmp bx, 1193
    ja .bad_count
    lea rsi, [rel msg_count]
    call print

    OUTB 0x21, 0xef              ; only IRQ 4
    mov dx, COM1 + 4
    mov al, 0x0b                 ; MCR: DTR, RTS, OUT2 (the PC's interrupt enable)
    out dx, al
    mov dx, COM1 + 1
    mov al, 0x02                 ; IER: transmitter empty
    out dx, al
    xor r14d, r14d
    sti
.uart:
    hlt
    test r14d, r14d
    jz .uart
    cli
    lea rsi, [rel msg_uart]
    call print

    jmp chain_test
.bad_count:
    lea rsi, [rel msg_bad]
    call print
    EXIT 0x7e

    ; An interrupt that comes between two TBs, the first ending in a direct
    ; jump to the second (STI; JMP: the interrupt waits for the JMP). The
    ; handler is on the same page, so an engine that linked the JMP's exit
    ; to whatever TB ran next would, on later passes, run the handler
    ; without an interrupt frame. Three passes, one interrupt (IRQ 4, THR
    ; empty, raised while IF is clear); its gate is pointed at chain_isr.
chain_test:
    lea rax, [rel chain_isr]
    mov edi, 0x20000 + 0x24 * 16
    mov [rdi], ax
    shr rax, 16
    mov [rdi + 6], ax
    shr rax, 16
    mov [rdi + 8], eax
    xor r14d, r14d
    mov r13d, 3
    jmp chain_block
    align 256                    ; the loop and its handler share a page
chain_block:
    cli
    cmp r13d, 3
    jne chain_quiet
    mov dx, COM1 + 1
    mov al, 0x02                 ; IER: transmitter empty, which it is
    out dx, al
chain_quiet:
    sti
    jmp chain_after
chain_after:
    dec r13d
    jnz chain_block
    cli
    cmp r14d, 1
    jne chain_bad
    lea rsi, [rel msg_chain]
    call print
    EXIT 0x77
chain_bad:
    lea rsi, [rel msg_bad_chain]
    call print
    EXIT 0x7d
chain_isr:
    push rax
    push rdx
    mov dx, COM1 + 2
    in al, dx
    mov dx, COM1 + 1
    xor eax, eax
    out dx, al
    OUTB 0x20, 0x20
    inc r14d
    pop rdx
    pop rax
    iretq
    times 256 - ($ - chain_block) db 0xcc  ; (fails to assemble if the block outgrew 256 bytes)

ex_common:
    cmp qword [rsp], 0x20
    je .timer
    cmp qword [rsp], 0x24
    je .com1
    EX_SAVE_AND_PRINT
    lea rsi, [rel msg_eol]
    call print
    EXIT 0x7f
.timer:
    inc r15d
    push rax
    OUTB 0x20, 0x20              ; EOI
    pop rax
    add rsp, 16
    iretq
.com1:
    push rax
    push rdx
    mov dx, COM1 + 2
    in al, dx                    ; IIR: reading it clears the THRE interrupt
    mov dx, COM1 + 1
    xor eax, eax
    out dx, al                   ; IER off
    OUTB 0x20, 0x20
    inc r14d
    pop rdx
    pop rax
    add rsp, 16
    iretq

IDT_CODE
msg_ticks: db "10 timer interrupts", 13, 10, 0
msg_count: db "latched count in range", 13, 10, 0
msg_uart:  db "uart interrupt", 13, 10, 0
msg_chain: db "one interrupt in three passes of sti; jmp", 13, 10, 0
msg_bad_chain: db "interrupts in three passes of sti; jmp: not one", 13, 10, 0
msg_bad:   db "latched count out of range", 13, 10, 0
msg_ex:    db "unexpected vector ", 0
msg_err:   db " err ", 0
msg_eol:   db 13, 10, 0

BOOT64_TAIL
