; Bad input on the pc machine (issue #13): what a guest may program that
; makes no sense, and what the machine then does. Each check prints one line
; on COM1 with the facts seen, then "ok" where they are what QEMU 7.2's pc
; does (the architected behaviour where there is one), "BAD" where not.
; The run ends through isa-debug-exit: 0x31 when every line is ok, else
; 0x40 + the number of BAD lines (0x7e: no pci-testdev on the bus; 0x7f:
; an unexpected exception, with its vector and stack printed). Run as
;   -M pc -vga none -nic none -bios badinput.bin -device pci-testdev
;   -device isa-debug-exit,iobase=0xf4,iosize=4
; 1. pci-testdev's memory BAR over RAM, the IOAPIC, the local APIC, the
;    BIOS ROM and the PAM and SMRAM windows below 1 MiB; PAM's write-only
;    mode; its I/O BAR over COM1 and over PIIX IDE's bus-master BAR.
; 2. fw_cfg DMA to and from places that are not RAM.
; 3. IOAPIC redirection of the PIT to a CPU that does not exist.
; 4. CMOS: the NMI-mask bit of the index, indexes 80-FF, registers C and D,
;    read-only bits, word accesses.
; 5. PCI configuration: read-only registers, absent functions, the address
;    register's reserved bits, accesses at 0xcf8-0xcff that are not dwords.
; Nothing here depends on the time of day or on how fast the host is: the
; waits count PIT periods and only say whether interrupts came.
%include "uart.inc"
%include "boot32.inc"

APIC       equ 0xfee00000
IOAPIC     equ 0xfec00000
IDT        equ 0x1000
VARS       equ 0x0500
BAD        equ VARS + 0x00       ; this line has a mismatch
NBAD       equ VARS + 0x04       ; lines with a mismatch
TDADDR     equ VARS + 0x08       ; pci-testdev's config address (bit 31 set)
IDEADDR    equ VARS + 0x0c       ; PIIX IDE's config address
TICKS      equ VARS + 0x10       ; IOAPIC interrupts taken
NFUNCS     equ VARS + 0x14       ; PCI functions found on bus 0
DESC       equ 0x2000            ; a fw_cfg DMA descriptor in RAM
BUF        equ 0x3000
BARFREE    equ 0xe0000000        ; where nothing else decodes
RAMTOP     equ 0x08000000        ; -m 128M, the default
ROMPAD     equ 0xffff0000 + rom_pad   ; bytes of this image nothing runs or reads
IRQ_VEC    equ 0x30
PIT_HZ_DIV equ 1193              ; 1 kHz

; --------------------------------------------------------------- macros
%macro SAY 1                     ; a string literal on COM1
    jmp %%after
%%s: db %1, 0
%%after:
    push esi
    mov esi, BASE + %%s
    call print
    pop esi
%endmacro

%macro HEX 2                     ; HEX value, digits (value: register or memory)
    push edi
    push ecx
    mov edi, %1
    mov ecx, %2
    call hex
    pop ecx
    pop edi
%endmacro

%macro EXPECT 2                  ; EXPECT value, expected: marks the line BAD if they differ
    cmp %1, %2
    je %%ok
    mov byte [BAD], 1
%%ok:
%endmacro

%macro OUTB 2
    mov al, %2
    out %1, al
%endmacro

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    xor eax, eax
    mov edi, VARS
    mov ecx, 0x40
    rep stosd
    call idt_setup
    mov esi, BASE + msg_hello
    call print

    call pci_scan
    call pci_readonly
    call pci_bars
    call bar0_checks
    call pam_writeonly
    call bar1_checks
    call fwcfg_checks
    call ioapic_checks
    call cmos_checks
    call pci_odd_accesses

    SAY "bad lines: "
    HEX [NBAD], 2
    call crlf
    mov eax, [NBAD]
    test eax, eax
    jnz .fail
    EXIT 0x31
.fail:
    add al, 0x40
    mov dx, DEBUG_EXIT
    out dx, al
.halt:
    hlt
    jmp .halt

; --------------------------------------------------------------- output
print:                           ; [esi], NUL-terminated; keeps every register
    pushad
    PRINT
    popad
    ret

putc:                            ; al; keeps every register
    pushad
    mov bl, al
    mov dx, COM1 + 5
.w:
    in al, dx
    test al, 0x20
    jz .w
    mov dx, COM1
    mov al, bl
    out dx, al
    popad
    ret

hex:                             ; edi's low ecx digits; keeps every register
    pushad
    mov eax, 8
    sub eax, ecx
    shl eax, 2
    xchg eax, ecx
    rol edi, cl                  ; the first digit wanted at the top
    mov ecx, eax
.digit:
    rol edi, 4
    mov eax, edi
    and eax, 15
    mov al, [BASE + hexdigits + eax]
    call putc
    loop .digit
    popad
    ret
hexdigits: db "0123456789abcdef"

crlf:
    push esi
    mov esi, BASE + msg_eol
    call print
    pop esi
    ret

space:
    push eax
    mov al, ' '
    call putc
    pop eax
    ret

; The verdict of the line, then CRLF.
endline:
    cmp byte [BAD], 0
    jne .bad
    SAY " ok"
    jmp .done
.bad:
    SAY " BAD"
    inc dword [NBAD]
.done:
    mov byte [BAD], 0
    jmp crlf

; TX empty, so that nothing is in flight while COM1's ports are shadowed.
uart_drain:
    push eax
    push edx
    mov dx, COM1 + 5
.w:
    in al, dx
    test al, 0x40
    jz .w
    pop edx
    pop eax
    ret

; --------------------------------------------------------------- interrupts
; Vectors 0-31: an unexpected exception ends the run. IRQ_VEC counts.
idt_setup:
    mov edi, IDT
    xor ecx, ecx
.fill:
    mov eax, BASE + exc_stubs
    mov ebx, ecx
    shl ebx, 3                   ; 8-byte stubs
    add eax, ebx
    cmp ecx, 32
    jb .gate
    mov eax, BASE + spurious
    cmp ecx, IRQ_VEC
    jne .gate
    mov eax, BASE + irq_handler
.gate:
    mov [edi], ax
    mov word [edi + 2], 0x08
    mov word [edi + 4], 0x8e00
    shr eax, 16
    mov [edi + 6], ax
    add edi, 8
    inc ecx
    cmp ecx, 256
    jb .fill
    lidt [BASE + idt_desc]
    ret

align 8
exc_stubs:
%assign v 0
%rep 32
    push byte v                  ; 2 bytes
    jmp near exc_common          ; 5 bytes
    nop
%assign v v + 1
%endrep
exc_common:                      ; the vector, then the CPU's frame (with or without an error code)
    SAY "unexpected exception "
    pop edi
    HEX edi, 2
    SAY ", stack "
    HEX [esp], 8
    call space
    HEX [esp + 4], 8
    call space
    HEX [esp + 8], 8
    call crlf
    EXIT 0x7f

irq_handler:
    inc dword [TICKS]
    mov dword [APIC + 0xb0], 0   ; EOI
    iretd
spurious:
    iretd

; --------------------------------------------------------------- PIT
pit_read:                        ; ax = channel 0's count
    OUTB 0x43, 0x00
    in al, 0x40
    mov ah, al
    in al, 0x40
    xchg al, ah
    ret

; Channel 0 at 1 kHz in mode 2 (rate generator): an edge on IRQ 0 each ms.
pit_start:
    OUTB 0x43, 0x34
    OUTB 0x40, PIT_HZ_DIV & 0xff
    OUTB 0x40, PIT_HZ_DIV >> 8
    ret

; Waits ecx PIT periods (the count reloads), polling; bounded. With edx
; nonzero, it ends early once [edx] is nonzero (an event came).
wait_periods:
    pushad
    mov ebp, ecx
    call pit_read
    mov bx, ax
    mov esi, 20000000
.poll:
    test edx, edx
    jz .no_event
    cmp dword [edx], 0
    jne .done
.no_event:
    dec esi
    jz .done
    call pit_read
    cmp ax, bx
    mov bx, ax
    jbe .poll
    dec ebp
    jnz .poll
.done:
    popad
    ret

; --------------------------------------------------------------- PCI config
; eax: 0x80000000 | bus << 16 | dev << 11 | fn << 8 | reg
cfg_rd32:
    push edx
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in eax, dx
    pop edx
    ret
cfg_wr32:                        ; eax address, ebx value
    push edx
    push eax
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    mov eax, ebx
    out dx, eax
    pop eax
    pop edx
    ret

; The testdev's register ebx <- ecx; then eax = what reads back.
td_wr:
    mov eax, [TDADDR]
    or eax, ebx
    push ebx
    mov ebx, ecx
    call cfg_wr32
    pop ebx
    call cfg_rd32
    ret

; --------------------------------------------------------------- 1. PCI
; Bus 0 as mechanism #1 shows it: every function, vendor:device.
pci_scan:
    SAY "pci bus 0:"
    xor ebp, ebp                 ; devfn
.dev:
    mov eax, ebp
    shl eax, 8
    or eax, 0x80000000
    call cfg_rd32
    cmp eax, 0xffffffff
    je .next_fn
    mov edx, eax
    call space
    mov edi, ebp
    shr edi, 3
    HEX edi, 2
    mov al, '.'
    call putc
    mov edi, ebp
    and edi, 7
    HEX edi, 1
    call space
    HEX edx, 4                   ; vendor
    mov al, ':'
    call putc
    mov edi, edx
    shr edi, 16
    HEX edi, 4
    inc dword [NFUNCS]
    mov eax, ebp
    shl eax, 8
    or eax, 0x80000000
    cmp edx, 0x00051b36
    jne .not_td
    mov [TDADDR], eax
.not_td:
    cmp edx, 0x70108086
    jne .not_ide
    mov [IDEADDR], eax
.not_ide:
    test ebp, 7
    jnz .step
    or eax, 0x0c
    call cfg_rd32
    test eax, 0x00800000         ; header type bit 7: more functions
    jnz .step
    add ebp, 8                   ; single function: next device
    jmp .more
.next_fn:
    test ebp, 7
    jnz .step
    ; function 0 absent: the whole device is
    add ebp, 8
    jmp .more
.step:
    inc ebp
.more:
    cmp ebp, 256
    jb .dev
    EXPECT dword [NFUNCS], 5
    EXPECT dword [TDADDR], 0x80001000
    EXPECT dword [IDEADDR], 0x80000900
    call endline
    cmp dword [TDADDR], 0
    jne .found
    SAY "no pci-testdev: run with -device pci-testdev"
    call crlf
    EXIT 0x7e
.found:
    ret

; Ones written over the testdev's read-only registers.
pci_readonly:
    SAY "pci-testdev config after writing ones: 00="
    mov ecx, 0xffffffff
    mov ebx, 0x00
    call td_wr
    HEX eax, 8
    EXPECT eax, 0x00051b36
    SAY " 08="
    mov ebx, 0x08
    call td_wr
    HEX eax, 8
    EXPECT eax, 0x00ff0000
    SAY " 0c="
    mov ebx, 0x0c
    call td_wr
    HEX eax, 8
    EXPECT eax, 0x000000ff
    SAY " 2c="
    mov ebx, 0x2c
    call td_wr
    HEX eax, 8
    EXPECT eax, 0x11001af4
    SAY " 3c="
    mov ebx, 0x3c
    call td_wr
    HEX eax, 8
    EXPECT eax, 0x000000ff
    xor ecx, ecx                 ; back to the power-on values
    mov ebx, 0x0c
    call td_wr
    mov ebx, 0x3c
    call td_wr
    call endline

    ; command: only the implemented bits stick; status: write-1-to-clear
    SAY "pci-testdev command after writing ffff: "
    mov ecx, 0x0000fff8          ; every bit but I/O, memory and master: no decoding yet
    mov ebx, 0x04
    call td_wr
    HEX eax, 4
    EXPECT ax, 0x0500
    SAY ", status after writing ffff: "
    mov ecx, 0xffff0000
    call td_wr
    mov edi, eax
    shr edi, 16
    HEX edi, 4
    shr eax, 16
    EXPECT ax, 0x0000
    xor ecx, ecx
    call td_wr
    call endline
    ret

; Sizing: ones into each BAR and the ROM BAR, then the old value back.
pci_bars:
    SAY "pci-testdev bars sized:"
    mov ebx, 0x10
.bar:
    mov eax, [TDADDR]
    or eax, ebx
    call cfg_rd32
    mov esi, eax                 ; the old value
    mov ecx, 0xffffffff
    call td_wr
    call space
    HEX eax, 8
    mov edx, eax
    mov ecx, esi
    call td_wr
    cmp ebx, 0x10
    jne .n1
    EXPECT edx, 0xfffff000
    jmp .nx
.n1:
    cmp ebx, 0x14
    jne .n2
    EXPECT edx, 0xffffff01
    jmp .nx
.n2:
    EXPECT edx, 0
.nx:
    add ebx, 4
    cmp ebx, 0x28
    jb .bar
    SAY " rom "
    mov ecx, 0xfffff801
    mov ebx, 0x30
    call td_wr
    HEX eax, 8
    EXPECT eax, 0
    xor ecx, ecx
    call td_wr
    call endline
    ret

; Testdev BAR0 (4 KiB of memory) at ecx, memory decoding on.
bar0_at:
    push eax
    push ebx
    mov ebx, 0x10
    call td_wr
    mov ecx, 2
    mov ebx, 0x04
    call td_wr
    pop ebx
    pop eax
    ret
bar0_off:
    push eax
    push ebx
    push ecx
    xor ecx, ecx
    mov ebx, 0x04
    call td_wr
    mov ebx, 0x10
    call td_wr
    pop ecx
    pop ebx
    pop eax
    ret

; The selected test's header at [esi]: test, width, offset, data, count, name.
print_header:
    HEX [esi], 8
    call space
    HEX [esi + 4], 8
    call space
    HEX [esi + 8], 8
    call space
    HEX [esi + 12], 8
    call space
    push esi
    push ecx
    add esi, 16
    mov ecx, 32
.c:
    mov al, [esi]
    test al, al
    jz .e
    call putc
    inc esi
    loop .c
.e:
    pop ecx
    pop esi
    ret

bar0_checks:
    ; Where nothing else is: the device's own answer.
    SAY "bar0 at e0000000: "
    mov ecx, BARFREE
    call bar0_at
    mov byte [BARFREE], 0        ; select test 0, mmio-no-eventfd
    mov esi, BARFREE
    call print_header
    EXPECT dword [BARFREE], 0x00000100
    EXPECT dword [BARFREE + 4], 0x00000800
    EXPECT dword [BARFREE + 8], 0x000000fa
    EXPECT dword [BARFREE + 12], 0
    mov byte [BARFREE + 0x800], 0xfa
    SAY ", count after one write "
    HEX [BARFREE + 12], 8
    EXPECT dword [BARFREE + 12], 1
    call endline

    ; Over RAM: RAM is above the PCI window in priority (QEMU's pc maps
    ; the PCI address space at priority -1), so RAM answers.
    SAY "bar0 over ram at 00100000: read "
    call bar0_off
    mov dword [0x100000], 0x11223344
    mov ecx, 0x100000
    call bar0_at
    mov eax, [0x100000]
    HEX eax, 8
    EXPECT eax, 0x11223344
    mov edx, eax
    mov dword [0x100000], 0x55667788
    mov ecx, BARFREE
    call bar0_at
    SAY ", bar header after a write there "
    HEX [BARFREE], 8
    EXPECT dword [BARFREE], 0x00000100
    SAY ", ram "
    HEX [0x100000], 8
    EXPECT dword [0x100000], 0x55667788
    call who_mem
    call endline

    ; Over the IOAPIC: a board device, above the PCI window.
    SAY "bar0 over ioapic at fec00000: ioregsel "
    mov ecx, IOAPIC
    call bar0_at
    mov dword [IOAPIC], 1        ; IOREGSEL: the version register
    mov edx, [IOAPIC]
    HEX edx, 8
    EXPECT edx, 1
    SAY " iowin "
    mov eax, [IOAPIC + 0x10]
    HEX eax, 8
    EXPECT eax, 0x00170020
    mov ecx, BARFREE
    call bar0_at
    SAY ", bar header after "
    HEX [BARFREE], 8
    EXPECT dword [BARFREE], 0x00000100
    mov dword [IOAPIC], 0
    call who_mem
    call endline

    ; Over the local APIC's page, and the page after it (the apic-msi
    ; region is 1 MiB; QEMU decodes the APIC's registers in all of it).
    SAY "bar0 over the local apic at fee00000: version "
    mov ecx, APIC
    call bar0_at
    mov edx, [APIC + 0x30]
    HEX edx, 8
    EXPECT edx, 0x00050014
    call who_mem
    SAY "; at fee01000: fee01030 reads "
    mov ecx, APIC + 0x1000
    call bar0_at
    mov edx, [APIC + 0x1030]
    HEX edx, 8
    EXPECT edx, 0x00050014
    call who_mem
    SAY "; no bar there: "
    call bar0_off
    mov eax, [APIC + 0x1030]
    HEX eax, 8
    EXPECT eax, 0x00050014
    call endline

    ; Over the BIOS ROM at the top of 4 GiB: in QEMU the ROM is in the PCI
    ; address space at priority 0 and a BAR at 1, so the BAR answers.
    SAY "bar0 over the bios rom at ffff0000: "
    mov ecx, 0xffff0000
    call bar0_at
    mov edx, [0xffff0000]
    HEX edx, 8
    EXPECT edx, 0x00000100
    call who_mem
    SAY " (the rom there: "
    call bar0_off
    HEX [0xffff0000], 8
    SAY ")"
    mov eax, [0xffff0000]
    EXPECT eax, [BASE]           ; the same bytes as its alias below 1 MiB
    call endline

    ; Below 1 MiB, where the chipset shows the PCI bus: PAM's PCI view
    ; (E0000, nothing else there with a 64 KiB BIOS) and the SMRAM window
    ; (A0000, no VGA here).
    SAY "bar0 in the pam window at 000e0000: "
    mov ecx, 0xe0000
    call bar0_at
    mov edx, [0xe0000]
    HEX edx, 8
    EXPECT edx, 0x00000100
    call who_mem
    SAY "; in the smram window at 000a0000: "
    mov ecx, 0xa0000
    call bar0_at
    mov edx, [0xa0000]
    HEX edx, 8
    EXPECT edx, 0x00000100
    call who_mem
    call endline

    ; Ending at 4 GiB: the BAR keeps the value but is not decoded.
    SAY "bar0 at fffff000 (its end wraps): bar reads "
    mov ecx, 0xfffff000
    call bar0_at
    mov eax, [TDADDR]
    or eax, 0x10
    call cfg_rd32
    HEX eax, 8
    EXPECT eax, 0xfffff000
    SAY ", fffff000 reads "
    mov edx, [0xfffff000]
    HEX edx, 8
    call who_mem
    call bar0_off
    mov eax, [0xfffff000]
    EXPECT edx, eax              ; the ROM, as with the BAR off
    call endline
    call bar0_off
    ret

; PAM's write-only mode (1 0 in a segment's nibble), which the i440FX
; data sheet gives as reads from the PCI side, writes to DRAM: segment
; E0000 (PAM5 bits 1:0, config 5e). QEMU 7.2's pam.c maps RAM for it,
; reads and writes. The segment goes back to the PCI view after.
pam_writeonly:
    SAY "pam write-only at 000e0000: wrote 5aa5c33c, reads "
    mov eax, 0x8000005c
    call cfg_rd32
    mov esi, eax                 ; PAM3-PAM6 as they were
    mov ebx, eax
    and ebx, 0xfffcffff
    or ebx, 0x00030000           ; E0000: RAM, read and write
    mov eax, 0x8000005c
    call cfg_wr32
    mov dword [0xe0000], 0x11111111
    and ebx, 0xfffcffff
    or ebx, 0x00020000           ; write-only
    call cfg_wr32
    mov dword [0xe0000], 0x5aa5c33c
    mov edx, [0xe0000]
    HEX edx, 8
    EXPECT edx, 0x5aa5c33c
    SAY ", ram then holds "
    and ebx, 0xfffcffff
    or ebx, 0x00030000
    call cfg_wr32
    mov edx, [0xe0000]
    HEX edx, 8
    EXPECT edx, 0x5aa5c33c
    mov ebx, esi
    call cfg_wr32
    call endline
    ret

; Says who answered the read in edx: the testdev's header or something else.
who_mem:
    cmp edx, 0x00000100
    jne .other
    SAY ": the bar"
    ret
.other:
    SAY ": not the bar"
    ret

; Testdev BAR1 (256 ports) at cx, I/O decoding on.
bar1_at:
    push eax
    push ebx
    push ecx
    mov ebx, 0x14
    call td_wr
    mov ecx, 1
    mov ebx, 0x04
    call td_wr
    pop ecx
    pop ebx
    pop eax
    ret
bar1_off:
    push eax
    push ebx
    push ecx
    xor ecx, ecx
    mov ebx, 0x04
    call td_wr
    mov ecx, 1
    mov ebx, 0x14
    call td_wr
    pop ecx
    pop ebx
    pop eax
    ret

bar1_checks:
    SAY "bar1 at c000: "
    mov ecx, 0xc000
    call bar1_at
    mov dx, 0xc000
    mov al, 1                    ; select portio test 1, portio-wildcard-eventfd
    out dx, al
    mov esi, BUF                 ; the header, read through the ports
    mov edi, BUF
    mov ecx, 12
.rd:
    in eax, dx
    stosd
    add dx, 4
    loop .rd
    call print_header
    EXPECT dword [BUF], 0x00000104
    EXPECT dword [BUF + 4], 0x00000084
    EXPECT dword [BUF + 8], 0x000000ce
    EXPECT dword [BUF + 12], 0
    call endline

    ; Over COM1: in QEMU a BAR is above the ISA devices (priority 1 against
    ; 0), so the UART's ports read as the testdev's while it is there.
    call uart_drain
    mov dx, COM1 + 7
    mov al, 0x5a                 ; the scratch register
    out dx, al
    mov ecx, 0x300
    call bar1_at
    mov dx, COM1 + 7
    in al, dx
    movzx esi, al
    mov dx, COM1 + 5
    in al, dx
    movzx edi, al
    mov dx, 0x300
    in al, dx
    movzx ebp, al
    mov ecx, 0xc000
    call bar1_at
    SAY "bar1 over com1 at 0300: 3ff="
    HEX esi, 2
    EXPECT esi, 0
    SAY " 3fd="
    HEX edi, 2
    EXPECT edi, 0
    SAY " 300="
    HEX ebp, 2
    EXPECT ebp, 4
    SAY ", scratch after "
    mov dx, COM1 + 7
    in al, dx
    movzx eax, al
    HEX eax, 2
    EXPECT eax, 0x5a
    cmp esi, 0x5a
    je .com_wins
    SAY ": the bar answers at 3f8-3ff"
    jmp .com_done
.com_wins:
    SAY ": com1 answers at 3f8-3ff"
.com_done:
    call endline

    ; Over PIIX IDE's bus-master BAR: two BARs at the same priority; in
    ; QEMU the one mapped last answers.
    SAY "bar1 over ide bar4 at c100: testdev mapped last "
    mov eax, [IDEADDR]
    or eax, 0x20
    call cfg_rd32
    push eax                     ; IDE's BAR4
    mov ebx, 0xc101
    mov eax, [IDEADDR]
    or eax, 0x20
    call cfg_wr32
    mov eax, [IDEADDR]
    or eax, 0x04
    mov ebx, 1                   ; I/O decoding
    call cfg_wr32
    mov ecx, 0xc100
    call bar1_at
    mov dx, 0xc100
    in al, dx
    movzx edx, al
    HEX edx, 2
    EXPECT edx, 4
    call who_io
    SAY "; ide mapped last "
    mov eax, [IDEADDR]
    or eax, 0x04
    xor ebx, ebx
    call cfg_wr32
    mov ebx, 1
    call cfg_wr32
    mov dx, 0xc100
    in al, dx
    movzx edx, al
    HEX edx, 2
    EXPECT edx, 0
    call who_io
    mov eax, [IDEADDR]
    or eax, 0x04
    xor ebx, ebx
    call cfg_wr32
    pop ebx
    mov eax, [IDEADDR]
    or eax, 0x20
    call cfg_wr32
    call bar1_off
    call endline
    ret

who_io:
    cmp edx, 4
    jne .other
    SAY ": testdev"
    ret
.other:
    SAY ": ide"
    ret

; --------------------------------------------------------------- 2. fw_cfg
; One DMA: the descriptor at eax. Writes its address, low half last.
fw_dma:
    push eax
    push edx
    push eax
    xor eax, eax
    mov dx, 0x514
    out dx, eax                  ; high half (big-endian 0)
    pop eax
    bswap eax
    mov dx, 0x518
    out dx, eax                  ; low half: the transfer starts
    pop edx
    pop eax
    ret

; A descriptor at DESC: control ebx, length ecx, address edx (all < 4 GiB).
set_desc:
    push eax
    mov eax, ebx
    bswap eax
    mov [DESC], eax
    mov eax, ecx
    bswap eax
    mov [DESC + 4], eax
    mov dword [DESC + 8], 0
    mov eax, edx
    bswap eax
    mov [DESC + 12], eax
    pop eax
    ret

; eax = the control word at [DESC], byte-swapped back.
get_ctl:
    mov eax, [DESC]
    bswap eax
    ret

; One transfer through DESC: EBX control, ECX length, EDX address; EAX =
; the control word the device left.
dma_transfer:
    call set_desc
    mov eax, DESC
    call fw_dma
    jmp get_ctl

SIG_READ equ 0x0000000a          ; select key 0 (signature), read
CPUS_READ equ 0x0005000a         ; select key 5 (CPU count, 2 bytes: 01 00), read

fwcfg_checks:
    SAY "fw_cfg id "
    mov dx, 0x510
    mov ax, 1
    out dx, ax
    inc dx
    in al, dx
    movzx eax, al
    HEX eax, 2
    EXPECT eax, 3                ; traditional and DMA interfaces
    SAY ", dma to ram: ctl "
    mov dword [BUF], 0
    mov ebx, SIG_READ
    mov ecx, 4
    mov edx, BUF
    call dma_transfer
    HEX eax, 8
    EXPECT eax, 0
    SAY " data "
    HEX [BUF], 8
    EXPECT dword [BUF], 0x554d4551
    call endline

    SAY "fw_cfg dma to unassigned f0000000: ctl "
    mov ebx, SIG_READ
    mov ecx, 4
    mov edx, 0xf0000000
    call dma_transfer
    HEX eax, 8
    EXPECT eax, 1
    SAY "; to the end of ram 08000000: ctl "
    mov edx, RAMTOP
    call dma_transfer
    HEX eax, 8
    EXPECT eax, 1
    call endline

    ; Half in RAM: QEMU writes what falls in RAM and reports the error.
    SAY "fw_cfg dma across the end of ram at 07fffffe: ctl "
    mov dword [RAMTOP - 4], 0xaaaaaaaa
    mov ebx, SIG_READ
    mov ecx, 4
    mov edx, RAMTOP - 2
    call dma_transfer
    HEX eax, 8
    EXPECT eax, 1
    SAY ", 07fffffc holds "
    mov eax, [RAMTOP - 4]
    HEX eax, 8
    EXPECT eax, 0x4551aaaa
    call endline

    ; Into the BIOS ROM: QEMU's memory core refuses a DMA write to ROM.
    SAY "fw_cfg dma into the bios rom at "
    HEX ROMPAD, 8
    SAY ": ctl "
    mov ebx, SIG_READ
    mov ecx, 4
    mov edx, ROMPAD
    call dma_transfer
    HEX eax, 8
    EXPECT eax, 1
    SAY ", rom holds "
    mov eax, [ROMPAD]
    HEX eax, 8
    EXPECT eax, 0xeeeeeeee
    call endline

    ; Into the testdev's BAR: QEMU's DMA reaches MMIO. Two bytes 01 00
    ; written at offset 0 select mmio test 1.
    SAY "fw_cfg dma into pci-testdev's bar0: ctl "
    mov ecx, BARFREE
    call bar0_at
    mov byte [BARFREE], 0xff     ; no test selected: the header reads 0
    mov ebx, CPUS_READ
    mov ecx, 2
    mov edx, BARFREE
    call dma_transfer
    HEX eax, 8
    EXPECT eax, 0
    SAY ", bar header "
    mov eax, [BARFREE]
    HEX eax, 8
    EXPECT eax, 0x00000101
    call endline

    ; The descriptor itself in the BAR: test 0 selected and counted once,
    ; the header as a descriptor asks for nothing (control 00010000), and
    ; QEMU writes the control word back, 0, there: test 0 again, count 0.
    SAY "fw_cfg dma descriptor in pci-testdev's bar0: count before "
    mov byte [BARFREE], 0
    mov byte [BARFREE + 0x800], 0xfa
    HEX [BARFREE + 12], 8
    EXPECT dword [BARFREE + 12], 1
    mov eax, BARFREE
    call fw_dma
    SAY ", after "
    HEX [BARFREE + 12], 8
    EXPECT dword [BARFREE + 12], 0
    call bar0_off
    call endline

    ; Descriptors that cannot be read: nothing happens, the device goes on.
    SAY "fw_cfg dma descriptor at f0000000: data port then reads "
    mov dx, 0x510
    xor ax, ax
    out dx, ax                   ; the signature
    inc dx
    in al, dx                    ; Q
    mov eax, 0xf0000000
    call fw_dma
    mov dx, 0x511
    in al, dx
    movzx eax, al
    HEX eax, 2
    EXPECT eax, 'E'              ; the next byte: no select, no transfer
    SAY "; across the end of ram at 07fffff8: ctl "
    mov ebx, SIG_READ
    mov ecx, 4
    mov edx, BUF
    mov eax, ebx
    bswap eax
    mov [RAMTOP - 8], eax
    mov eax, ecx
    bswap eax
    mov [RAMTOP - 4], eax
    mov eax, RAMTOP - 8
    call fw_dma
    mov eax, [RAMTOP - 8]
    bswap eax
    HEX eax, 8
    EXPECT eax, 1
    mov dx, 0x511
    in al, dx
    movzx eax, al
    SAY ", data port "
    HEX eax, 2
    EXPECT eax, 'M'
    call endline

    ; A descriptor in ROM is read; the control word cannot be written back.
    SAY "fw_cfg dma descriptor in rom: data "
    mov dword [BUF + 0x100], 0
    mov eax, 0xffff0000 + rom_desc
    call fw_dma
    HEX [BUF + 0x100], 8
    EXPECT dword [BUF + 0x100], 0x554d4551
    SAY ", rom ctl "
    mov eax, [0xffff0000 + rom_desc]
    bswap eax
    HEX eax, 8
    EXPECT eax, SIG_READ
    call endline

    ; A DMA write into a read-only entry (the signature).
    SAY "fw_cfg dma write to the signature: ctl "
    mov dword [BUF], 0x64636261
    mov ebx, 0x00000018          ; select key 0, write
    mov ecx, 4
    mov edx, BUF
    call dma_transfer
    HEX eax, 8
    EXPECT eax, 1
    mov dx, 0x510
    xor ax, ax
    out dx, ax
    inc dx
    in al, dx
    movzx eax, al
    SAY ", signature starts "
    HEX eax, 2
    EXPECT eax, 'Q'
    call endline
    ret

; --------------------------------------------------------------- 3. IOAPIC
; Pin 2 (the PIT's IRQ 0) redirection: low word eax, high word edx. The
; pin is masked first and what the last route left pending is taken.
ioapic_pin2:
    mov dword [IOAPIC], 0x14
    mov dword [IOAPIC + 0x10], 0x10000
    push ecx
    push edx
    sti
    mov ecx, 2
    xor edx, edx
    call wait_periods
    cli
    pop edx
    pop ecx
    mov dword [IOAPIC], 0x15
    mov [IOAPIC + 0x10], edx
    mov dword [IOAPIC], 0x14
    mov [IOAPIC + 0x10], eax
    ret

; Interrupts taken, in eax: where none are expected (ebx 0), in 20 PIT
; periods; where some are (ebx 1), until the first, within 1000 periods
; (the host may hold the emulator's timers back for a while).
count_irqs:
    push edx
    mov dword [TICKS], 0
    mov ecx, 20
    xor edx, edx
    test ebx, ebx
    jz .wait
    mov ecx, 1000
    mov edx, TICKS
.wait:
    sti
    call wait_periods
    cli
    mov eax, [TICKS]
    pop edx
    ret

; Prints "none" or "some" for eax and checks it against the expectation in ebx.
say_irqs:
    test eax, eax
    jz .none
    SAY "some"
    EXPECT ebx, 1
    ret
.none:
    SAY "none"
    EXPECT ebx, 0
    ret

ioapic_checks:
    mov dword [APIC + 0xf0], 0x1ff   ; software-enabled, spurious vector ff
    mov dword [APIC + 0x80], 0       ; TPR
    call pit_start
    SAY "ioapic pin 2 to physical apic id 05: "
    mov eax, IRQ_VEC             ; fixed, physical, edge, unmasked
    mov edx, 0x05000000
    call ioapic_pin2
    xor ebx, ebx
    call count_irqs
    call say_irqs
    SAY ", irr "
    mov eax, [APIC + 0x210]      ; vectors 20-3f
    shr eax, 16
    and eax, 1
    HEX eax, 1
    EXPECT eax, 0
    SAY ", entry "
    mov dword [IOAPIC], 0x14
    mov eax, [IOAPIC + 0x10]
    HEX eax, 8
    EXPECT eax, IRQ_VEC
    SAY "; to id 00: "
    mov eax, IRQ_VEC
    xor edx, edx
    call ioapic_pin2
    mov ebx, 1
    call count_irqs
    call say_irqs
    SAY "; to id ff (broadcast): "
    mov eax, IRQ_VEC
    mov edx, 0xff000000
    call ioapic_pin2
    mov ebx, 1
    call count_irqs
    call say_irqs
    call endline

    SAY "ioapic pin 2 to logical 02 (flat, cpu 0 is 01): "
    mov dword [APIC + 0xe0], 0xffffffff  ; DFR: flat
    mov dword [APIC + 0xd0], 0x01000000  ; LDR
    mov eax, IRQ_VEC | 0x800
    mov edx, 0x02000000
    call ioapic_pin2
    xor ebx, ebx
    call count_irqs
    call say_irqs
    SAY "; logical 00: "
    mov eax, IRQ_VEC | 0x800
    xor edx, edx
    call ioapic_pin2
    xor ebx, ebx
    call count_irqs
    call say_irqs
    SAY "; logical 01: "
    mov eax, IRQ_VEC | 0x800
    mov edx, 0x01000000
    call ioapic_pin2
    mov ebx, 1
    call count_irqs
    call say_irqs
    SAY "; lowest priority to logical 02: "
    mov eax, IRQ_VEC | 0x900
    mov edx, 0x02000000
    call ioapic_pin2
    xor ebx, ebx
    call count_irqs
    call say_irqs
    mov eax, 0x10000             ; masked again
    xor edx, edx
    call ioapic_pin2
    call endline
    ret

; --------------------------------------------------------------- 4. CMOS
cmos_rd:                         ; al = index as written to port 70; al = data
    out 0x70, al
    in al, 0x71
    ret
cmos_wr:                         ; al = index as written, ah = data
    out 0x70, al
    mov al, ah
    out 0x71, al
    ret

; al as two digits, then a space
hex2sp:
    push eax
    movzx eax, al
    HEX eax, 2
    pop eax
    jmp space

cmos_checks:
    SAY "cmos ports 70 72 73 read: "
    in al, 0x70
    call hex2sp
    EXPECT al, 0xff
    in al, 0x72
    call hex2sp
    EXPECT al, 0xff
    in al, 0x73
    movzx eax, al
    HEX eax, 2
    EXPECT al, 0xff
    call endline

    ; Bit 7 of the index is the NMI mask, not part of the index.
    SAY "cmos index with bit 7: wrote a5 at c8, 48 reads "
    mov ax, 0xa5c8
    call cmos_wr
    mov al, 0x48
    call cmos_rd
    call hex2sp
    EXPECT al, 0xa5
    SAY "c8 reads "
    mov al, 0xc8
    call cmos_rd
    call hex2sp
    EXPECT al, 0xa5
    SAY "; wrote 3c at 7f, ff reads "
    mov ax, 0x3c7f
    call cmos_wr
    mov al, 0xff
    call cmos_rd
    call hex2sp
    EXPECT al, 0x3c
    SAY "; wrote 96 at cd, 4d reads "
    mov ax, 0x96cd
    call cmos_wr
    mov al, 0x4d
    call cmos_rd
    movzx eax, al
    HEX eax, 2
    EXPECT al, 0x96
    call endline

    ; Register D: VRT, read only. Register A: UIP is read only (masked out
    ; of what is printed: it follows the time).
    SAY "cmos d "
    mov al, 0x0d
    call cmos_rd
    call hex2sp
    EXPECT al, 0x80
    SAY "8d "
    mov al, 0x8d
    call cmos_rd
    call hex2sp
    EXPECT al, 0x80
    SAY "after writing 00: "
    mov ax, 0x000d
    call cmos_wr
    mov al, 0x0d
    call cmos_rd
    call hex2sp
    EXPECT al, 0x80
    SAY "; a after writing a6: "
    mov ax, 0xa60a
    call cmos_wr
    mov al, 0x0a
    call cmos_rd
    and al, 0x7f
    movzx eax, al
    HEX eax, 2
    EXPECT al, 0x26
    call endline

    ; Register C: IRQF and PF (UF and AF follow the time: masked out).
    ; The periodic interrupt at 1024 Hz with IRQ 8 masked: C is polled
    ; until PF comes (within 1000 PIT periods); PIE off, then C is empty
    ; once read.
    SAY "cmos c "
    mov al, 0x0c
    call cmos_rd
    and al, 0xc0
    call hex2sp
    EXPECT al, 0
    SAY "after writing ff: "
    mov ax, 0xff0c
    call cmos_wr
    mov al, 0x0c
    call cmos_rd
    and al, 0xc0
    call hex2sp
    EXPECT al, 0
    SAY "; b with pie "
    mov ax, 0x420b               ; B: PIE, 24-hour
    call cmos_wr
    mov al, 0x0b
    call cmos_rd
    call hex2sp
    EXPECT al, 0x42
    SAY "c "
    mov ebp, 1000
    call pit_read
    mov bx, ax
.pf:
    mov al, 0x0c
    call cmos_rd
    mov cl, al
    test al, 0x40
    jnz .pf_seen
    call pit_read
    cmp ax, bx
    mov bx, ax
    jbe .pf
    dec ebp
    jnz .pf
.pf_seen:
    mov ax, 0x020b               ; PIE off
    call cmos_wr
    mov al, cl
    and al, 0xc0
    call hex2sp
    EXPECT al, 0xc0
    SAY "then pie off: "
    mov al, 0x0c
    call cmos_rd                 ; what came before PIE went off
    mov al, 0x0c
    call cmos_rd
    and al, 0xc0
    movzx eax, al
    HEX eax, 2
    EXPECT al, 0
    call endline

    ; Word accesses: 70 as a word is the index then the data (QEMU splits
    ; it); at 71 a word is unaligned in QEMU's 2-byte region: refused.
    SAY "cmos word out 70 (5548): 48 reads "
    mov ax, 0x5548
    out 0x70, ax
    mov al, 0x48
    call cmos_rd
    call hex2sp
    EXPECT al, 0x55
    SAY "; word in 70: "
    mov al, 0x48
    out 0x70, al
    in ax, 0x70
    movzx eax, ax
    HEX eax, 4
    EXPECT eax, 0x55ff
    SAY "; word in 71: "
    in ax, 0x71
    movzx eax, ax
    HEX eax, 4
    EXPECT eax, 0x0000
    SAY "; word out 71 (2233), then 48 reads "
    mov al, 0x48
    out 0x70, al
    mov ax, 0x2233
    out 0x71, ax
    mov al, 0x48
    call cmos_rd
    movzx eax, al
    HEX eax, 2
    EXPECT al, 0x55
    call endline
    ret

; --------------------------------------------------------------- 5. PCI odds
pci_odd_accesses:
    SAY "pci absent functions read: 00:1f.0 "
    mov eax, 0x8000f800
    call cfg_rd32
    HEX eax, 8
    EXPECT eax, 0xffffffff
    SAY " 00:01.2 "
    mov eax, 0x80000a00
    call cfg_rd32
    HEX eax, 8
    EXPECT eax, 0xffffffff
    SAY " 00:02.1 "
    mov eax, 0x80001100
    call cfg_rd32
    HEX eax, 8
    EXPECT eax, 0xffffffff
    SAY " 01:00.0 "
    mov eax, 0x80010000
    call cfg_rd32
    HEX eax, 8
    EXPECT eax, 0xffffffff
    SAY ", after a write "
    mov eax, 0x8000f804
    mov ebx, 0x00000007
    call cfg_wr32
    mov eax, 0x8000f800
    call cfg_rd32
    HEX eax, 8
    EXPECT eax, 0xffffffff
    SAY ", enable bit clear "
    mov eax, 0x00000000
    call cfg_rd32
    HEX eax, 8
    EXPECT eax, 0xffffffff
    call endline

    ; The address register as written, read back; the low two bits in a
    ; config cycle.
    SAY "pci cf8 after writing ffffffff: "
    mov eax, 0xffffffff
    mov dx, 0xcf8
    out dx, eax
    in eax, dx
    HEX eax, 8
    EXPECT eax, 0xffffffff
    SAY ", 7f123457: "
    mov eax, 0x7f123457
    out dx, eax
    in eax, dx
    HEX eax, 8
    EXPECT eax, 0x7f123457
    SAY ", bytes cf8 cfa cfb: "
    in al, dx
    call hex2sp
    EXPECT al, 0x57
    mov dx, 0xcfa
    in al, dx
    call hex2sp
    EXPECT al, 0x57
    mov dx, 0xcfb
    in al, dx
    movzx eax, al
    HEX eax, 2
    EXPECT al, 0x57
    SAY "; 80000002 then byte cfc: "
    mov eax, 0x80000002
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in al, dx
    movzx eax, al
    HEX eax, 2
    EXPECT al, 0x37              ; i440FX's device ID, low byte (offset 2)
    call endline

    ; Accesses to the data window that are not naturally aligned.
    SAY "pci data window at 00:00.0: word cfd "
    mov eax, 0x80000000
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfd
    in ax, dx
    movzx eax, ax
    HEX eax, 4
    EXPECT eax, 0
    SAY " dword cfe "
    mov dx, 0xcfe
    in eax, dx
    HEX eax, 8
    EXPECT eax, 0
    SAY " word cfe "
    in ax, dx
    movzx eax, ax
    HEX eax, 4
    EXPECT eax, 0x1237
    SAY " byte cfd "
    mov dx, 0xcfd
    in al, dx
    movzx eax, al
    HEX eax, 2
    EXPECT eax, 0x80
    SAY "; testdev 40 after word out cfd and dword out cfe: "
    mov eax, [TDADDR]
    or eax, 0x40
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfd
    mov ax, 0xbbaa
    out dx, ax
    mov dx, 0xcfe
    mov eax, 0xddccbbaa
    out dx, eax
    mov eax, [TDADDR]
    or eax, 0x40
    call cfg_rd32
    HEX eax, 8
    EXPECT eax, 0
    SAY ", after byte out cfd and word out cfe: "
    mov eax, [TDADDR]
    or eax, 0x40
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfd
    mov al, 0x11
    out dx, al
    mov dx, 0xcfe
    mov ax, 0x3322
    out dx, ax
    mov eax, [TDADDR]
    or eax, 0x40
    call cfg_rd32
    HEX eax, 8
    EXPECT eax, 0x33221100
    mov eax, [TDADDR]
    or eax, 0x40
    xor ebx, ebx
    call cfg_wr32
    call endline
    ret

; --------------------------------------------------------------- data
msg_hello: db "badinput: bad input on pc", 13, 10, 0
msg_eol:   db 13, 10, 0

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff    ; 0x08: 32-bit code
    dq 0x00cf93000000ffff    ; 0x10: data
gdt_end:
idt_desc:
    dw 256 * 8 - 1
    dd IDT

; A fw_cfg DMA descriptor in ROM: select the signature, read 4 bytes to
; BUF + 0x100 (big-endian fields).
align 16
rom_desc:
    db 0, 0, 0, SIG_READ
    db 0, 0, 0, 4
    dd 0
    db 0, 0, (BUF + 0x100) >> 8, (BUF + 0x100) & 0xff

; A page of ROM that only the DMA check writes to.
    times 0xe000 - ($ - $$) db 0xff
rom_pad:
    times 0x100 db 0xee

BOOT32_TAIL
