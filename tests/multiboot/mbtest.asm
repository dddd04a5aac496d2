; mbtest: a multiboot (v1) kernel that exercises the PC's devices and prints
; a deterministic report on COM1, then exits through isa-debug-exit. It is
; meant to be run under QEMU 7.2 and under qforge with the same command line
; and the two outputs (and exit statuses) compared:
;
;   qemu-system-x86_64 -M pc -nographic -kernel mbtest.bin \
;       -append "a=1 b=two" -initrd "mod1.txt arg1,mod2.txt" \
;       -fw_cfg name=opt/qf/test,string=hello \
;       -device isa-debug-exit,iobase=0xf4,iosize=4 [-smp 4]
;
; Build (as cmake/QfFirmware.cmake builds the firmware images; the -I is
; for mbconsole.inc):
;   nasm -f bin -w+all -w+error -I tests/multiboot/ -o mbtest.bin \
;       tests/multiboot/mbtest.asm
; run-qemu.sh here builds it and runs it as the expected outputs were made.
;
; Rules that keep the report deterministic:
; - only facts that do not depend on timing or on the host are printed;
;   everything timed (rates, interrupt counts over an interval, the RTC
;   ticking) is printed as ok/FAIL against wide tolerances, never as a
;   number;
; - the kernel and module paths that the loader prepends to command lines
;   are cut to their base names (QEMU passes the path as typed);
; - addresses that a loader may choose (where the MBI and the modules are,
;   the PIIX4 PM I/O base) are used, not printed;
; - application processors come up in any order: their APIC IDs are sorted
;   before printing, and only the bootstrap processor prints.
;
; Each check is one line ending in " ok" or " FAIL". The last line is a
; summary; isa-debug-exit then gets 0x10 when every check passed (QEMU exits
; with (0x10 << 1) | 1 = 33), 0x11 when one failed (35), and 0x12 on an
; unexpected CPU exception (37).
;
; Time is measured with the ACPI PM timer of the PIIX4 PM function (found by
; a PCI scan before anything that needs it) and it is itself checked against
; PIT channel 2, as SeaBIOS calibrates.

bits 32
org 0x100000

; Multiboot v1 header. Bit 16 (the a.out kludge) makes the loader use the
; addresses below instead of parsing ELF: the whole file is loaded at 1 MiB,
; .bss after it is zeroed, and the MBI and modules go above bss_end.
MB_MAGIC        equ 0x1badb002
MB_PAGE_ALIGN   equ 1 << 0          ; modules on 4 KiB boundaries
MB_MEMORY_INFO  equ 1 << 1          ; mem_lower/mem_upper and the mmap
MB_AOUT_KLUDGE  equ 1 << 16
MB_FLAGS        equ MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_AOUT_KLUDGE
MB_BOOT_MAGIC   equ 0x2badb002      ; in EAX at entry

DEBUG_EXIT      equ 0xf4
STATUS_PASS     equ 0x10
STATUS_FAIL     equ 0x11
STATUS_EXCEPTION equ 0x12

; The PM timer counts at 3.579545 MHz. PM(us) is a duration in its ticks.
PM_HZ           equ 3579545
%define PM(us) ((us) * PM_HZ / 1000000)

; Local APIC registers (xAPIC, MMIO at the architectural base).
APIC            equ 0xfee00000
APIC_ID         equ 0x20
APIC_VER        equ 0x30
APIC_TPR        equ 0x80
APIC_PPR        equ 0xa0
APIC_EOI        equ 0xb0
APIC_SVR        equ 0xf0
APIC_ISR        equ 0x100           ; 8 x 32 bits, 16 bytes apart
APIC_TMR        equ 0x180
APIC_IRR        equ 0x200
APIC_ICR_LO     equ 0x300
APIC_ICR_HI     equ 0x310
APIC_LVT_TIMER  equ 0x320
APIC_LVT_LINT0  equ 0x350
APIC_TIMER_INIT equ 0x380
APIC_TIMER_CUR  equ 0x390
APIC_TIMER_DCR  equ 0x3e0
LVT_MASKED      equ 1 << 16
LVT_PERIODIC    equ 1 << 17

IOAPIC          equ 0xfec00000      ; IOREGSEL; IOWIN at +0x10
IOAPIC_RTE      equ 0x10            ; pin n: low dword 0x10 + 2n, high + 1
RTE_LEVEL       equ 1 << 15
RTE_REMOTE_IRR  equ 1 << 14
RTE_MASKED      equ 1 << 16

; Vectors. 0x00-0x1f are exceptions; nothing of the 8259's may reach the CPU
; (both are masked and LINT0 too), so no vector overlaps one of them.
VEC_PIT         equ 0x30            ; ISA IRQ 0 through IOAPIC pin 2
VEC_RTC         equ 0x38            ; ISA IRQ 8 through pin 8, edge
VEC_RTC_LEVEL   equ 0x39            ; the same pin, level-triggered
VEC_TIMER       equ 0x40            ; local APIC timer
VEC_LOW         equ 0x45            ; priority class 4: held back by TPR 0x50
VEC_HIGH        equ 0x65            ; class 6: passes TPR 0x50
VEC_IPI         equ 0x50            ; BSP -> AP fixed IPI
VEC_REPLY       equ 0x51            ; AP -> BSP reply
VEC_HPET_FSB    equ 0x52            ; HPET timer 2's FSB message
VEC_SPURIOUS    equ 0xff

; The AP trampoline is copied here; the SIPI vector is its page number.
TRAMPOLINE      equ 0x8000
SIPI_VECTOR     equ TRAMPOLINE >> 12
MAX_CPUS        equ 16
AP_STACK_SIZE   equ 4096
IPI_ROUNDS      equ 3               ; fixed IPIs sent to each AP

HPET            equ 0xfed00000      ; QEMU's pc: one block, 3 timers, intcap IRQ 2
HPET_CFG        equ 0x10
HPET_COUNTER    equ 0xf0
HPET_TIMER      equ 0x100           ; timer n: config 0x100 + 0x20n, comparator + 8
HPET_ENABLE     equ 1 << 0
HPET_LEGACY     equ 1 << 1
TN_ENABLE       equ 1 << 2
TN_PERIODIC     equ 1 << 3
TN_SETVAL       equ 1 << 6
TN_32BIT        equ 1 << 8
TN_FSB          equ 1 << 14
HPET_HZ         equ 100000000

fw_cfg_ctl      equ 0x510
fw_cfg_data     equ 0x511
fw_cfg_dma      equ 0x514
FW_CFG_SIGNATURE equ 0x00
FW_CFG_ID       equ 0x01
FW_CFG_RAM_SIZE equ 0x03
FW_CFG_NB_CPUS  equ 0x05
FW_CFG_FILE_DIR equ 0x19

; The sections, in this order in the image: .text, .data (both loaded from
; the file), .bss (only reserved). 16-byte alignment so that BSS_ALIGN's
; offsets are addresses too.
section .text
section .data align=16
section .bss align=16

; alignb without its macro (which this nasm's -w+error rejects): pad .bss to
; a multiple of %1 bytes.
%macro BSS_ALIGN 1
    resb (%1 - ($ - $$) % %1) % %1
%endmacro

section .text
mb_header:
    dd MB_MAGIC
    dd MB_FLAGS
    dd -(MB_MAGIC + MB_FLAGS)
    dd mb_header                    ; header_addr
    dd mb_header                    ; load_addr: the file starts here
    dd data_end                     ; load_end_addr: .text and .data
    dd bss_end                      ; bss_end_addr: zeroed by the loader
    dd entry                        ; entry_addr

; The console routines (and SAY, REQUIRE), after the header: it has to be
; the first thing in the file for load_addr = header_addr.
%include "mbconsole.inc"

; ---------------------------------------------------------------------------
; Entry: 32-bit protected mode, paging off, interrupts off, EAX = magic,
; EBX = MBI (multiboot spec). The loader's GDT is not ours to keep: load our
; own before touching a segment register. Nothing may write .bss before the
; check that the loader zeroed it.
entry:
    cli
    cld
    mov [boot_magic], eax
    mov [boot_mbi], ebx
    lgdt [gdt_desc]
    jmp 0x08:.flat
.flat:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    ; Was .bss handed to us zeroed? (Scan it before the stack, which is in
    ; it, is used.)
    mov edi, bss_start
    mov ecx, (bss_end - bss_start) / 4
    xor eax, eax
    repe scasd
    setne [bss_dirty]
    mov esp, bsp_stack_top
    xor edi, edi                    ; the failure count of the current check

    ; The 8259s keep SeaBIOS's vectors (0x08: exception numbers). Mask both
    ; and the local APIC's LINT0 (virtual wire) before anything can sti.
    mov al, 0xff
    out 0xa1, al
    out 0x21, al
    or dword [APIC + APIC_LVT_LINT0], LVT_MASKED

    call uart_init
    call idt_init
    lidt [idt_desc]

    ; The firmware's own console output (SeaBIOS, option ROMs) comes
    ; before this on COM1 and ends mid-line: start on a fresh line, so a
    ; comparison can take everything from the report's first line.
    SAY `\nmbtest: multiboot device report\n`
    call find_pm                    ; silently: the timed checks need it
    call pm_sanity
    call test_multiboot
    call test_cmos
    call test_fw_cfg
    call test_pci
    call test_pm_timer
    call test_lapic
    call test_ioapic
    call test_hpet
    call test_smp

    ; Summary and exit.
    cli
    SAY `unexpected interrupts `
    mov eax, [unexpected]
    call pdec
    cmp dword [unexpected], 0
    REQUIRE e
    call verdict
    SAY `summary: `
    mov eax, [checks]
    call pdec
    SAY ` checks, `
    mov eax, [fails]
    call pdec
    SAY ` failed\n`
    mov al, STATUS_PASS
    cmp dword [fails], 0
    je .exit
    mov al, STATUS_FAIL
.exit:
    push eax
    SAY `result: `
    pop eax
    cmp al, STATUS_PASS
    jne .failed
    SAY `PASS\n`
    jmp exit_with
.failed:
    SAY `FAIL\n`
    jmp exit_with

; AL to isa-debug-exit; QEMU exits with (AL << 1) | 1. If the device is
; missing, halt for good.
exit_with:
    out DEBUG_EXIT, al
.halt:
    cli
    hlt
    jmp .halt

; ---------------------------------------------------------------------------
; 1. Multiboot: what the loader says, and the image it loaded.
test_multiboot:
    SAY `multiboot magic `
    mov eax, [boot_magic]
    call phex8
    cmp eax, MB_BOOT_MAGIC
    REQUIRE e
    call verdict
    cmp dword [boot_magic], MB_BOOT_MAGIC
    je .magic_ok
    ret                             ; EBX is not an MBI: nothing to read
.magic_ok:
    SAY `multiboot image loaded whole`
    cmp dword [image_sentinel], 0x21444e45 ; "END!", the last bytes of .data
    REQUIRE e
    call verdict
    SAY `multiboot bss zeroed`
    cmp byte [bss_dirty], 0
    REQUIRE e
    call verdict

    mov ebx, [boot_mbi]
    SAY `mbi flags `
    mov eax, [ebx]
    call phex8
    ; memory, cmdline, mods, mmap and loader name are what we asked for or
    ; what we test; QEMU also gives the boot device.
    and eax, (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9)
    cmp eax, (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9)
    REQUIRE e
    call verdict

    test dword [ebx], 1 << 0
    jz .no_mem
    SAY `mbi mem_lower `
    mov eax, [ebx + 4]
    call pdec
    SAY ` KiB mem_upper `
    mov eax, [ebx + 8]
    call pdec
    SAY ` KiB`
    cmp dword [ebx + 4], 640
    REQUIRE be
    cmp dword [ebx + 4], 512
    REQUIRE ae
    cmp dword [ebx + 8], 1024
    REQUIRE ae
    call verdict
.no_mem:

    test dword [ebx], 1 << 1
    jz .no_bootdev
    SAY `mbi boot_device `
    mov eax, [ebx + 12]
    call phex8
    SAY `\n`
.no_bootdev:

    test dword [ebx], 1 << 2
    jz .no_cmdline
    SAY `mbi cmdline `
    mov esi, [ebx + 16]
    call print_cmdline
    call verdict
.no_cmdline:

    test dword [ebx], 1 << 3
    jz .no_mods
    SAY `mbi mods `
    mov eax, [ebx + 20]
    call pdec
    cmp eax, 1
    REQUIRE ae
    call verdict
    mov ebp, [ebx + 24]             ; the module list
    xor ecx, ecx
.module:
    cmp ecx, [ebx + 20]
    jae .no_mods
    cmp ecx, 8
    jae .no_mods
    SAY `mod `
    mov eax, ecx
    call pdec
    SAY ` `
    mov esi, [ebp + 8]              ; its command line
    call print_cmdline
    mov eax, [ebp + 4]
    sub eax, [ebp]                  ; mod_end - mod_start
    SAY ` size `
    call pdec
    cmp dword [ebp + 4], 0
    REQUIRE a
    mov edx, [ebp + 4]
    cmp edx, [ebp]
    REQUIRE a
    test dword [ebp], 0xfff         ; MB_PAGE_ALIGN asked for this
    REQUIRE z
    SAY ` page-aligned data `
    push ecx
    mov ecx, eax
    cmp ecx, 24                     ; the first bytes are enough
    jbe .short
    mov ecx, 24
.short:
    mov esi, [ebp]
    call pesc_mem
    pop ecx
    call verdict
    add ebp, 16
    inc ecx
    jmp .module
.no_mods:

    test dword [ebx], 1 << 9
    jz .no_name
    SAY `mbi loader `
    mov esi, [ebx + 64]
    push ecx
    mov ecx, 64
    call pesc_str
    pop ecx
    cmp esi, 0
    REQUIRE ne
    call verdict
.no_name:

    test dword [ebx], 1 << 6
    jz .no_mmap
    ; Entries: size (of the rest, at least 20), base (64), length (64),
    ; type; the next one is size + 4 bytes on. One must be usable RAM that
    ; covers the kernel at 1 MiB.
    mov esi, [ebx + 48]
    mov ebp, esi
    add ebp, [ebx + 44]
    xor ecx, ecx                    ; entries
    xor edx, edx                    ; 1 once RAM at 1 MiB is seen
.entry:
    cmp esi, ebp
    jae .mmap_done
    cmp ecx, 32
    jae .mmap_done
    push edx
    SAY `mmap base `
    mov eax, [esi + 4]
    mov edx, [esi + 8]
    call phex16
    SAY ` length `
    mov eax, [esi + 12]
    mov edx, [esi + 16]
    call phex16
    SAY ` type `
    mov eax, [esi + 20]
    call pdec
    SAY `\n`
    pop edx
    cmp dword [esi], 20
    REQUIRE ae
    cmp dword [esi + 20], 1
    jne .next_entry
    cmp dword [esi + 8], 0
    jne .next_entry
    cmp dword [esi + 4], 0x100000
    ja .next_entry
    mov eax, [esi + 4]
    add eax, [esi + 12]             ; (the high halves are 0 below 4 GiB)
    jc .covers
    cmp eax, bss_end
    jb .next_entry
.covers:
    mov edx, 1
.next_entry:
    inc ecx
    add esi, [esi]
    add esi, 4
    jmp .entry
.mmap_done:
    SAY `mbi mmap `
    mov eax, ecx
    call pdec
    SAY ` entries, RAM at 1 MiB`
    cmp edx, 1
    REQUIRE e
    call verdict
.no_mmap:
    ret

; A multiboot command line at ESI, quoted and escaped, with the directories
; of its first word (the path of the kernel or module file as the user typed
; it, which QEMU puts first) left out. REQUIREs that there is one.
print_cmdline:
    pushad
    test esi, esi
    jz .none
    mov edx, esi                    ; where the base name starts
    mov ecx, esi
.scan:
    mov al, [ecx]
    test al, al
    jz .print
    cmp al, ' '
    je .print
    inc ecx
    cmp al, '/'
    jne .scan
    mov edx, ecx
    jmp .scan
.print:
    mov esi, edx
    mov ecx, 200
    call pesc_str
    popad
    ret
.none:
    SAY `(none)`
    popad
    inc edi
    ret

; ---------------------------------------------------------------------------
; 2. CMOS: the NVRAM bytes that QEMU's pc writes, and the RTC running.
cmos_read:                          ; AL = index -> AL = value
    out 0x70, al
    in al, 0x71
    ret

cmos_write:                         ; AL = index, AH = value
    out 0x70, al
    mov al, ah
    out 0x71, al
    ret

; AL = first index, ECX = count: the bytes, space-separated, in hex.
print_cmos:
    pushad
    mov bl, al
.next:
    SAY ` `
    mov al, bl
    call cmos_read
    call phex2
    inc bl
    loop .next
    popad
    ret

%macro CMOS_LINE 3                  ; text, first index, count
    SAY %1
    mov al, %2
    mov ecx, %3
    call print_cmos
%endmacro

%macro CMOS_WORD 1                  ; AX = the little-endian word at %1
    mov al, %1 + 1
    call cmos_read
    mov ah, al
    mov al, %1
    call cmos_read
%endmacro

test_cmos:
    CMOS_LINE `cmos 15-16 base memory`, 0x15, 2
    CMOS_WORD 0x15
    cmp ax, 640
    REQUIRE e
    call verdict
    CMOS_LINE `cmos 17-18 extended memory`, 0x17, 2
    CMOS_LINE ` 30-31`, 0x30, 2
    CMOS_WORD 0x17
    mov bx, ax
    CMOS_WORD 0x30
    cmp ax, bx                      ; the two copies agree
    REQUIRE e
    call verdict
    ; The RAM below 4 GiB above 16 MiB in 64 KiB units, and above 4 GiB in
    ; 64 KiB units: together with the first 16 MiB they are all of it, as
    ; fw_cfg's RAM_SIZE (key 3, 64-bit little-endian) says. (The MBI's
    ; mem_upper is no measure of it: the loader takes it from the e820
    ; map, where the firmware keeps the top of RAM for itself.)
    CMOS_LINE `cmos 34-35 memory above 16 MiB`, 0x34, 2
    CMOS_LINE ` 5b-5d above 4 GiB`, 0x5b, 3
    SAY `, + 16 MiB = fw_cfg ram_size`
    CMOS_WORD 0x34
    movzx ebx, ax                   ; 64 KiB units
    mov al, 0x5d
    call cmos_read
    movzx eax, al
    shl eax, 16
    mov ecx, eax
    CMOS_WORD 0x5b
    movzx eax, ax
    or eax, ecx
    add ebx, eax
    add ebx, 256                    ; the first 16 MiB
    mov ax, FW_CFG_RAM_SIZE
    call fw_select
    mov dword [fw_word], 0
    mov dword [fw_word + 4], 0
    mov ecx, 8
    push ebx
    mov ebx, fw_word
    call fw_read
    pop ebx
    mov eax, [fw_word]
    mov edx, [fw_word + 4]
    shrd eax, edx, 16               ; in 64 KiB units
    shr edx, 16
    REQUIRE z                       ; (beyond what CMOS can say)
    cmp eax, ebx
    REQUIRE e
    call verdict
    CMOS_LINE `cmos 5f cpus-1`, 0x5f, 1
    SAY `\n`
    CMOS_LINE `cmos 3d 38 boot order`, 0x3d, 1
    mov al, 0x38
    mov ecx, 1
    call print_cmos
    SAY `\n`

    ; RTC registers. UIP (A bit 7) comes and goes with the update cycle, so
    ; it is masked out of what is printed.
    SAY `rtc a `
    mov al, 0x0a
    call cmos_read
    and al, 0x7f
    call phex2
    mov bl, al
    SAY ` b `
    mov al, 0x0b
    call cmos_read
    call phex2
    mov bh, al
    SAY ` d `
    mov al, 0x0d
    call cmos_read
    call phex2
    test al, 0x80                   ; VRT: the battery is good
    REQUIRE nz
    mov al, bl
    and al, 0x70
    cmp al, 0x20                    ; divider: 32.768 kHz, running
    REQUIRE e
    test bh, 0x80                   ; SET: not stopped for setting
    REQUIRE z
    call verdict

    ; UIP is up for the last 244 us of every second: poll for it for a
    ; second at a time. A busy host can deschedule the vCPU right across
    ; the window (on a loaded two-core host QEMU missed most of them), so a
    ; second in which two reads were 150 us or more apart proves nothing
    ; and is tried again, up to 20 times; a second sampled without such a
    ; gap and without UIP fails at once.
    SAY `rtc uip seen`
    mov esi, 20
.uip_second:
    call pm_read
    mov ebx, eax                    ; the second's start
    mov ebp, eax                    ; the previous read
    xor edx, edx                    ; 1 once a gap is seen
.uip:
    mov al, 0x0a
    call cmos_read
    test al, 0x80
    jnz .uip_seen
    pause
    call pm_read
    mov ecx, eax
    sub ecx, ebp
    and ecx, 0xffffff
    mov ebp, eax
    cmp ecx, PM(150)
    jb .no_gap
    mov edx, 1
.no_gap:
    sub eax, ebx
    and eax, 0xffffff
    cmp eax, PM(1000000)
    jb .uip
    test edx, edx
    jz .uip_missing
    dec esi
    jnz .uip_second
.uip_missing:
    inc edi
.uip_seen:
    call verdict

    ; The seconds register moves over 1.2 s (read each time outside an
    ; update: right after UIP drops, the time is stable for ~1 s).
    SAY `rtc ticks`
    call rtc_seconds
    mov bl, al
    mov ecx, PM(1200000)
    call pm_delay
    call rtc_seconds
    cmp al, bl
    REQUIRE ne
    call verdict
    ret

; AL = the RTC's seconds register, read when no update is in progress.
rtc_seconds:
    push ebx
    call pm_read
    mov ebx, eax
.wait:
    mov al, 0x0a
    call cmos_read
    test al, 0x80
    jz .read
    pause
    call pm_elapsed
    cmp eax, PM(10000)
    jb .wait
.read:
    xor al, al
    call cmos_read
    pop ebx
    ret

; ---------------------------------------------------------------------------
; 3. fw_cfg: the I/O interface at 0x510/0x511 and DMA at 0x514.
fw_select:                          ; AX = key
    push edx
    mov dx, fw_cfg_ctl
    out dx, ax
    pop edx
    ret

fw_read:                            ; ECX bytes of the selected item to EBX
    push edx
    push ecx
    push edi
    mov edi, ebx
    mov dx, fw_cfg_data
    rep insb
    pop edi
    pop ecx
    pop edx
    ret

fw_read_be32:                       ; EAX = the next 4 bytes, big-endian
    push ecx
    push ebx
    mov ebx, fw_word
    mov ecx, 4
    call fw_read
    mov eax, [fw_word]
    bswap eax
    pop ebx
    pop ecx
    ret

test_fw_cfg:
    SAY `fw_cfg signature `
    mov ax, FW_CFG_SIGNATURE
    call fw_select
    mov ebx, fw_buf
    mov ecx, 4
    call fw_read
    mov esi, fw_buf
    call pesc_mem
    cmp dword [fw_buf], 0x554d4551  ; "QEMU"
    REQUIRE e
    call verdict

    SAY `fw_cfg id `
    mov ax, FW_CFG_ID
    call fw_select
    mov ebx, fw_word
    mov ecx, 4
    call fw_read
    mov eax, [fw_word]              ; little-endian, unlike the directory
    mov [fw_id], eax
    call phex8
    test eax, 1                     ; traditional interface
    REQUIRE nz
    test eax, 2                     ; DMA
    jz .no_dma_bit
    SAY ` (dma)`
.no_dma_bit:
    call verdict

    SAY `fw_cfg nb_cpus `
    mov ax, FW_CFG_NB_CPUS
    call fw_select
    mov dword [fw_word], 0
    mov ebx, fw_word
    mov ecx, 2
    call fw_read
    mov eax, [fw_word]
    mov [fw_cpus], eax
    call pdec
    cmp eax, 1
    REQUIRE ae
    call verdict

    ; The file directory: a big-endian count, then 64-byte entries (size
    ; BE32, select BE16, reserved, 56-byte name). Look up opt/qf/test.
    mov ax, FW_CFG_FILE_DIR
    call fw_select
    call fw_read_be32
    mov ebp, eax
    cmp ebp, 4096
    jbe .dir
    mov ebp, 4096
.dir:
    test ebp, ebp
    jz .not_found
    mov ebx, fw_entry
    mov ecx, 64
    call fw_read
    push edi
    mov esi, fw_entry + 8
    mov edi, fw_test_name
    mov ecx, fw_test_name_len
    repe cmpsb
    pop edi
    je .found
    dec ebp
    jmp .dir
.not_found:
    SAY `fw_cfg file opt/qf/test not found`
    inc edi
    call verdict
    jmp .dma_sig
.found:
    mov eax, [fw_entry]
    bswap eax
    mov [fw_file_size], eax
    movzx eax, word [fw_entry + 4]
    xchg al, ah
    mov [fw_file_key], eax
    SAY `fw_cfg file opt/qf/test size `
    mov eax, [fw_file_size]
    call pdec
    SAY ` data `
    mov ecx, [fw_file_size]
    cmp ecx, 64
    jbe .small
    mov ecx, 64
.small:
    mov [fw_file_read], ecx
    mov eax, [fw_file_key]
    call fw_select
    mov ebx, fw_buf
    call fw_read
    mov esi, fw_buf
    call pesc_mem
    call verdict

.dma_sig:
    ; The DMA register reads as the 64-bit big-endian "QEMU CFG".
    test dword [fw_id], 2
    jz .no_dma
    SAY `fw_cfg dma signature `
    mov dx, fw_cfg_dma
    in eax, dx
    mov [fw_word], eax
    mov esi, fw_word
    mov ecx, 4
    call pesc_mem
    cmp eax, 0x554d4551             ; "QEMU"
    REQUIRE e
    mov dx, fw_cfg_dma + 4
    in eax, dx
    mov [fw_word], eax
    SAY ` `
    call pesc_mem
    cmp eax, 0x47464320             ; " CFG"
    REQUIRE e
    call verdict

    ; Read the same file by DMA: a FWCfgDmaAccess (control, length,
    ; address; all big-endian) whose address goes, big-endian too, to the
    ; high then low halves of the DMA register; the write to the low half
    ; starts it. QEMU completes it synchronously; poll anyway. Control is 0
    ; when it is done without error.
    cmp dword [fw_file_read], 0
    je .no_dma
    SAY `fw_cfg dma read opt/qf/test `
    mov eax, [fw_file_key]
    shl eax, 16
    or eax, 0x08 | 0x02             ; select, read
    bswap eax
    mov [fw_dma + 0], eax
    mov eax, [fw_file_read]
    bswap eax
    mov [fw_dma + 4], eax
    mov dword [fw_dma + 8], 0       ; address, high
    mov eax, fw_dma_buf
    bswap eax
    mov [fw_dma + 12], eax          ; address, low
    mov dx, fw_cfg_dma
    xor eax, eax
    out dx, eax
    mov dx, fw_cfg_dma + 4
    mov eax, fw_dma
    bswap eax
    out dx, eax
    call pm_read
    mov ebx, eax
.poll:
    mov eax, [fw_dma]
    bswap eax
    test eax, ~1
    jz .dma_done
    pause
    call pm_elapsed
    cmp eax, PM(1000000)
    jb .poll
.dma_done:
    mov esi, fw_dma_buf
    mov ecx, [fw_file_read]
    call pesc_mem
    SAY ` control `
    mov eax, [fw_dma]
    bswap eax
    call phex8
    test eax, eax
    REQUIRE z
    push edi                        ; (REQUIRE's counter)
    mov esi, fw_dma_buf
    mov edi, fw_buf
    mov ecx, [fw_file_read]
    repe cmpsb
    pop edi
    REQUIRE e
    SAY `, same as port i/o`
    call verdict
.no_dma:
    ret

; ---------------------------------------------------------------------------
; 4. PCI bus 0 by configuration mechanism #1.
pci_read:                           ; EAX = bus/dev/fn/reg -> EAX = dword
    push edx
    or eax, 0x80000000
    and al, 0xfc
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in eax, dx
    pop edx
    ret

pci_write:                          ; EAX = bus/dev/fn/reg, ECX = dword
    push edx
    or eax, 0x80000000
    and al, 0xfc
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    mov eax, ecx
    out dx, eax
    pop edx
    ret

; Find the PIIX4 PM function (8086:7113) and its PM I/O base, which the
; firmware programs (config 0x40, I/O space; 0x80 bit 0 enables it). If it
; is not enabled, program 0x600 here so the timed checks still run; the
; PCI check reports it. Sets pm_bdf (or -1), pm_fw_enabled, pm_timer.
find_pm:
    pushad
    mov dword [pm_bdf], -1
    xor ebx, ebx                    ; bus 0, device 0, function 0
.scan:
    mov eax, ebx
    call pci_read
    cmp eax, 0x71138086
    je .found
    add ebx, 1 << 8                 ; every function of every device
    cmp ebx, 1 << 16
    jb .scan
    popad
    ret
.found:
    mov [pm_bdf], ebx
    lea eax, [ebx + 0x80]
    call pci_read
    and eax, 1
    mov [pm_fw_enabled], eax
    jnz .enabled
    lea eax, [ebx + 0x40]
    mov ecx, 0x601
    call pci_write
    lea eax, [ebx + 0x80]
    call pci_read
    or al, 1
    mov ecx, eax
    lea eax, [ebx + 0x80]
    call pci_write
.enabled:
    lea eax, [ebx + 0x40]
    call pci_read
    and eax, 0xffc0
    add eax, 8                      ; PM_TMR
    mov [pm_timer], eax
    popad
    ret

; Every wait below is timed by the PM timer: without one that moves they
; would never end. Say so and stop instead.
pm_sanity:
    cmp dword [pm_timer], 0
    je .broken
    call pm_read
    mov ebx, eax
    mov ecx, 10000000
.poll:
    call pm_read
    cmp eax, ebx
    jne .ok
    loop .poll
.broken:
    SAY `pm timer missing or stuck: nothing can be timed`
    inc edi
    call verdict
    mov al, STATUS_FAIL
    jmp exit_with
.ok:
    ret

test_pci:
    xor ebx, ebx                    ; device << 11 | function << 8
.function:
    mov eax, ebx
    call pci_read
    cmp ax, 0xffff
    je .absent
    SAY `pci 00:`
    mov eax, ebx
    shr eax, 11
    call phex2
    SAY `.`
    mov eax, ebx
    shr eax, 8
    and eax, 7
    push ecx
    mov ecx, 1
    call phex
    pop ecx
    SAY ` `
    mov eax, ebx
    call pci_read
    call phex4
    SAY `:`
    shr eax, 16
    call phex4
    SAY ` class `
    lea eax, [ebx + 8]
    call pci_read
    shr eax, 8
    push ecx
    mov ecx, 6
    call phex
    pop ecx
    SAY `\n`
    test ebx, 7 << 8
    jnz .next_function
    lea eax, [ebx + 0x0c]           ; function 0: multi-function?
    call pci_read
    test eax, 0x00800000
    jnz .next_function
.absent:
    test ebx, 7 << 8
    jnz .next_function
    add ebx, 8 << 8                 ; function 0 absent or single: next device
    jmp .next
.next_function:
    add ebx, 1 << 8
.next:
    cmp ebx, 32 << 11
    jb .function

    SAY `pci piix4 pm `
    mov ebx, [pm_bdf]
    cmp ebx, -1
    jne .pm
    SAY `not found`
    inc edi
    call verdict
    ret
.pm:
    SAY `00:`
    mov eax, ebx
    shr eax, 11
    call phex2
    SAY `.`
    mov eax, ebx
    shr eax, 8
    and eax, 7
    push ecx
    mov ecx, 1
    call phex
    pop ecx
    SAY `, pm i/o enabled by firmware`
    cmp dword [pm_fw_enabled], 0
    REQUIRE ne
    call verdict
    ret

; ---------------------------------------------------------------------------
; 5. The PM timer: 24 bits at 3.579545 MHz.
pm_read_raw:                        ; EAX = the PM_TMR dword as read
    push edx
    mov edx, [pm_timer]
    in eax, dx
    pop edx
    ret

pm_read:                            ; EAX = the 24-bit count
    call pm_read_raw
    and eax, 0xffffff
    ret

pm_elapsed:                         ; EAX = ticks since EBX (a pm_read)
    call pm_read
    sub eax, ebx
    and eax, 0xffffff
    ret

pm_delay:                           ; wait ECX ticks (< 2^24); keeps all
    push eax
    push ebx
    call pm_read
    mov ebx, eax
.wait:
    pause
    call pm_elapsed
    cmp eax, ecx
    jb .wait
    pop ebx
    pop eax
    ret

; Wait until the dword at ESI is at least EDX or ECX ticks have passed.
; CF set on time-out; EAX = the ticks waited. Keeps the rest.
wait_ge:
    push ebx
    call pm_read
    mov ebx, eax
.poll:
    cmp [esi], edx
    jae .done
    pause
    call pm_elapsed
    cmp eax, ecx
    jb .poll
    pop ebx
    stc
    ret
.done:
    call pm_elapsed
    pop ebx
    clc
    ret

; EAX = PM ticks that PIT channel 2 takes for 65535 clocks in mode 0 (its
; output, port 0x61 bit 5, goes high at the terminal count; the gate is port
; 0x61 bit 0, the speaker bit 1 stays off), or 0 on time-out. The count
; starts with the write of its high byte.
pit2_measure:
    push ebx
    in al, 0x61
    and al, 0xfc
    or al, 0x01
    out 0x61, al
    mov al, 0xb0                    ; channel 2, lobyte/hibyte, mode 0, binary
    out 0x43, al
    mov al, 0xff
    out 0x42, al
    call pm_read
    mov ebx, eax
    mov al, 0xff
    out 0x42, al
.wait:
    in al, 0x61
    test al, 0x20
    jnz .done
    pause
    call pm_elapsed
    cmp eax, PM(1000000)
    jb .wait
    xor eax, eax
    pop ebx
    ret
.done:
    call pm_elapsed
    pop ebx
    ret

test_pm_timer:
    ; The upper byte of PM_TMR reads 0 (a 24-bit timer, TMR_VAL_EXT clear),
    ; and 2000 reads in a row never go backwards (modulo 2^24).
    SAY `pm timer 24-bit, monotonic over 2000 reads`
    call pm_read_raw
    mov ebx, eax
    mov esi, eax                    ; the first
    mov ecx, 2000
    xor edx, edx                    ; OR of every read
.read:
    call pm_read_raw
    or edx, eax
    push eax
    sub eax, ebx
    and eax, 0xffffff
    cmp eax, 0x800000               ; a step "forward" of half the range or
    REQUIRE b                       ; more is one backwards
    pop ebx
    loop .read
    test edx, 0xff000000
    REQUIRE z
    cmp ebx, esi
    REQUIRE ne                      ; it moved
    call verdict

    ; 65535 PIT clocks at 1.193182 MHz are 54.9 ms = 196605 PM ticks: the
    ; PM timer runs at three times the PIT's rate. Accept +-5%. A busy host
    ; can stall the vCPU right when the count ends, which makes one
    ; measurement long: pass on the first of up to ten that fits.
    SAY `pm timer rate vs pit channel 2 within 5%`
    mov ecx, 10
.try:
    call pit2_measure
    cmp eax, 196605 * 95 / 100
    jb .again
    cmp eax, 196605 * 105 / 100
    jbe .rate_ok
.again:
    loop .try
    inc edi
.rate_ok:
    call verdict
    ret

; ---------------------------------------------------------------------------
; 6. The BSP's local APIC.
lapic_eoi:
    mov dword [APIC + APIC_EOI], 0
    ret

icr_wait:                           ; until the ICR's delivery status is idle
    push eax
    push ebx
    call pm_read
    mov ebx, eax
.poll:
    test dword [APIC + APIC_ICR_LO], 1 << 12
    jz .idle
    pause
    call pm_elapsed
    cmp eax, PM(100000)
    jb .poll
.idle:
    pop ebx
    pop eax
    ret

; The local APIC timer's rate at divide configuration EAX, a divider of
; 2^CL: count down from 2^32-1 for 20 ms of PM time, scale the count by the
; divider and compare it with 1 GHz, 279.365 counts per PM tick, +-5%. A
; busy host can stall the vCPU between the reads of the two clocks: pass on
; the first of up to ten tries that fits (CF clear), else CF set. Leaves the
; timer stopped (initial count 0) with that divider.
apic_rate:
    pushad
    mov [APIC + APIC_TIMER_DCR], eax
    mov esi, 10
.try:
    mov dword [APIC + APIC_TIMER_INIT], 0xffffffff
    call pm_read
    mov ebx, eax
    push ecx
    mov ecx, PM(20000)
    call pm_delay
    pop ecx
    mov edx, [APIC + APIC_TIMER_CUR]
    call pm_elapsed
    not edx                         ; counts done: 0xffffffff - current
    shl edx, cl
    imul ebp, eax, 266
    cmp edx, ebp
    jb .again
    imul ebp, eax, 294
    cmp edx, ebp
    jbe .fits
.again:
    dec esi
    jnz .try
    mov dword [APIC + APIC_TIMER_INIT], 0
    popad
    stc
    ret
.fits:
    mov dword [APIC + APIC_TIMER_INIT], 0
    popad
    clc
    ret

self_ipi:                           ; AL = vector: fixed, edge, to self
    push eax
    movzx eax, al
    or eax, (1 << 18) | (1 << 14)   ; shorthand self, assert
    mov dword [APIC + APIC_ICR_HI], 0
    mov [APIC + APIC_ICR_LO], eax
    call icr_wait
    pop eax
    ret

test_lapic:
    ; IA32_APIC_BASE: base 0xfee00000, BSP (bit 8), enabled (bit 11).
    SAY `lapic base msr `
    mov ecx, 0x1b
    rdmsr
    call phex8
    and eax, 0xfffff900
    cmp eax, APIC | (1 << 11) | (1 << 8)
    REQUIRE e
    call verdict

    SAY `lapic id `
    mov eax, [APIC + APIC_ID]
    shr eax, 24
    mov [bsp_id], eax
    call phex2
    SAY ` cpuid initial id `
    mov eax, 1
    cpuid
    shr ebx, 24
    mov eax, ebx
    call phex2
    cmp eax, [bsp_id]
    REQUIRE e
    call verdict

    SAY `lapic version `
    mov eax, [APIC + APIC_VER]
    call phex8
    cmp al, 0x10                    ; an integrated APIC (0x1x)
    REQUIRE ae
    cmp al, 0x15
    REQUIRE b
    call verdict

    ; Software-enable it with the spurious vector 0xff; TPR 0 lets
    ; everything through.
    mov dword [APIC + APIC_SVR], 0x100 | VEC_SPURIOUS
    mov dword [APIC + APIC_TPR], 0
    SAY `lapic svr `
    mov eax, [APIC + APIC_SVR]
    call phex8
    and eax, 0x1ff
    cmp eax, 0x100 | VEC_SPURIOUS
    REQUIRE e
    call verdict

    ; The timer's rate, at divide by 1 and by 16 (the latter is what the
    ; interrupt checks below use). QEMU's APIC timer counts at 1 GHz (one
    ; tick a nanosecond) before the divider.
    SAY `lapic timer 1 GHz at divide 1 within 5%`
    mov dword [APIC + APIC_LVT_TIMER], LVT_MASKED | VEC_TIMER
    mov eax, 0x0b
    mov cl, 0
    call apic_rate
    REQUIRE nc
    call verdict
    SAY `lapic timer 62.5 MHz at divide 16 within 5%`
    mov eax, 0x03
    mov cl, 4
    call apic_rate
    REQUIRE nc
    call verdict

    ; One-shot, divide by 16: 62500 counts are 1 ms. It interrupts once
    ; (not sooner than 0.9 ms), then the current count stays 0.
    SAY `lapic timer one-shot dcr `
    mov dword [APIC + APIC_TIMER_DCR], 0x03     ; divide by 16
    mov eax, [APIC + APIC_TIMER_DCR]
    call phex2
    cmp eax, 0x03
    REQUIRE e
    mov dword [timer_irqs], 0
    mov dword [APIC + APIC_LVT_TIMER], VEC_TIMER ; one-shot, unmasked
    sti
    call pm_read
    mov ebx, eax                    ; (before arming: never short)
    mov dword [APIC + APIC_TIMER_INIT], 62500
    mov esi, timer_irqs
    mov edx, 1
    mov ecx, PM(1000000)
    call wait_ge
    REQUIRE nc
    call pm_elapsed
    cmp eax, PM(900)
    REQUIRE ae
    mov ecx, PM(20000)
    call pm_delay
    cli
    SAY `: irqs `
    mov eax, [timer_irqs]
    call pdec
    cmp eax, 1
    REQUIRE e
    SAY `, current count `
    mov eax, [APIC + APIC_TIMER_CUR]
    call phex8
    test eax, eax
    REQUIRE z
    call verdict

    ; Periodic, divide by 16: 625000 counts are 10 ms; over 300 ms of PM
    ; time that is 30 interrupts. A stalled vCPU (or QEMU main loop) loses
    ; ticks (QEMU sets the next deadline after the current time, and a
    ; pending interrupt absorbs the next one), never gains any beyond the
    ; one or two pending at the end: accept 15..38, and pass on the first
    ; of up to five tries that fits. (The rate itself is checked above;
    ; this is about periodic mode reloading and interrupting.)
    SAY `lapic timer periodic 10 ms: irqs in 300 ms within 15..38`
    mov esi, 5
.periodic:
    mov dword [timer_irqs], 0
    mov dword [APIC + APIC_LVT_TIMER], LVT_PERIODIC | VEC_TIMER
    mov dword [APIC + APIC_TIMER_INIT], 625000
    sti
    mov ecx, PM(300000)
    call pm_delay
    mov dword [APIC + APIC_LVT_TIMER], LVT_MASKED | VEC_TIMER
    mov dword [APIC + APIC_TIMER_INIT], 0
    mov ecx, PM(1000)               ; one already accepted still comes
    call pm_delay
    cli
    mov eax, [timer_irqs]
    cmp eax, 15
    jb .periodic_again
    cmp eax, 38
    jbe .periodic_ok
.periodic_again:
    dec esi
    jnz .periodic
    inc edi
.periodic_ok:
    call verdict

    ; TPR 0x50 holds back vector 0x45 (class 4): a self-IPI stays in IRR
    ; and PPR is the TPR.
    SAY `lapic tpr 50 ppr `
    mov dword [APIC + APIC_TPR], 0x50
    mov dword [cnt_low], 0
    mov dword [cnt_high], 0
    sti
    mov al, VEC_LOW
    call self_ipi
    mov ecx, PM(2000)
    call pm_delay
    mov eax, [APIC + APIC_PPR]
    call phex2
    cmp eax, 0x50
    REQUIRE e
    SAY `: vector 45 held, irr `
    mov eax, [APIC + APIC_IRR + (VEC_LOW / 32) * 16]
    shr eax, VEC_LOW % 32
    and eax, 1
    call pdec
    cmp eax, 1
    REQUIRE e
    SAY ` delivered `
    mov eax, [cnt_low]
    call pdec
    cmp eax, 0
    REQUIRE e
    call verdict

    ; Vector 0x65 (class 6) passes TPR 0x50; in its handler PPR is 0x60.
    SAY `lapic tpr 50: vector 65 delivered `
    mov al, VEC_HIGH
    call self_ipi
    mov ecx, PM(2000)
    call pm_delay
    mov eax, [cnt_high]
    call pdec
    cmp eax, 1
    REQUIRE e
    SAY `, ppr in handler `
    mov eax, [ppr_high]
    call phex2
    cmp eax, 0x60
    REQUIRE e
    call verdict

    ; TPR 0 releases 0x45: in its handler ISR has it and PPR is 0x40; its
    ; EOI clears ISR and PPR drops to 0.
    SAY `lapic tpr 00: vector 45 delivered `
    mov dword [APIC + APIC_TPR], 0
    mov ecx, PM(2000)
    call pm_delay
    cli
    mov eax, [cnt_low]
    call pdec
    cmp eax, 1
    REQUIRE e
    SAY `, in handler ppr `
    mov eax, [ppr_low]
    call phex2
    cmp eax, 0x40
    REQUIRE e
    SAY ` isr `
    mov eax, [isr_low]
    shr eax, VEC_LOW % 32
    and eax, 1
    call pdec
    cmp eax, 1
    REQUIRE e
    SAY `, after eoi isr `
    mov eax, [APIC + APIC_ISR + (VEC_LOW / 32) * 16]
    shr eax, VEC_LOW % 32
    and eax, 1
    call pdec
    cmp eax, 0
    REQUIRE e
    SAY ` ppr `
    mov eax, [APIC + APIC_PPR]
    call phex2
    cmp eax, 0
    REQUIRE e
    call verdict
    ret

; ---------------------------------------------------------------------------
; 7. The IOAPIC, with the PIT and the RTC behind it.
ioapic_read:                        ; ECX = register -> EAX
    mov [IOAPIC], ecx
    mov eax, [IOAPIC + 0x10]
    ret

ioapic_write:                       ; ECX = register, EAX = value
    mov [IOAPIC], ecx
    mov [IOAPIC + 0x10], eax
    ret

; Pin ECX: EAX = low dword, destination APIC ID = bsp_id (physical).
ioapic_route:
    push ecx
    push eax
    lea ecx, [IOAPIC_RTE + ecx * 2 + 1]
    mov eax, [bsp_id]
    shl eax, 24
    call ioapic_write
    dec ecx
    pop eax
    call ioapic_write
    pop ecx
    ret

ioapic_mask:                        ; pin ECX
    push eax
    mov eax, RTE_MASKED
    call ioapic_route
    pop eax
    ret

test_ioapic:
    SAY `ioapic id `
    mov ecx, 0
    call ioapic_read
    shr eax, 24
    and eax, 0x0f
    call phex2
    SAY ` version `
    mov ecx, 1
    call ioapic_read
    call phex8
    mov [ioapic_ver], eax
    shr eax, 16
    and eax, 0xff
    inc eax
    mov [ioapic_pins], eax
    SAY ` (`
    call pdec
    SAY ` pins)`
    cmp eax, 24
    REQUIRE ae
    call verdict

    ; Every redirection entry comes out of reset masked, and nothing
    ; before us (SeaBIOS, the multiboot ROM) unmasks one.
    SAY `ioapic all pins masked at boot`
    xor esi, esi
.pins:
    lea ecx, [IOAPIC_RTE + esi * 2]
    call ioapic_read
    test eax, RTE_MASKED
    REQUIRE nz
    inc esi
    cmp esi, [ioapic_pins]
    jb .pins
    call verdict

    ; The 8259s were masked at entry; their IMRs read back 0xff.
    SAY `8259 imr `
    in al, 0x21
    call phex2
    mov bl, al
    SAY ` `
    in al, 0xa1
    call phex2
    and al, bl
    cmp al, 0xff
    REQUIRE e
    call verdict

    ; PIT channel 0 at 100 Hz (mode 2, 11932) on ISA IRQ 0, which the
    ; IOAPIC has on pin 2 (the interrupt source override), and the RTC's
    ; periodic interrupt at 64 Hz (A rate 10, B PIE) on IRQ 8, pin 8; both
    ; edge-triggered, active high. Over 250 ms of PM time that is ~25 and
    ; ~16 interrupts; as for the APIC timer, a busy host loses some, so
    ; accept 15..32 and 9..21 and pass each on the first of up to five
    ; tries that fits. The RTC's handler reads C, which drops its IRQ line
    ; (so that the next one is an edge).
    mov al, 0x0b
    call cmos_read
    mov [rtc_b], al
    mov al, 0x34
    out 0x43, al
    mov al, 11932 & 0xff
    out 0x40, al
    mov al, 11932 >> 8
    out 0x40, al
    mov esi, 5
    xor ebp, ebp                    ; bit 0: PIT passed, bit 1: RTC passed
.edge_try:
    mov ecx, PM(250000)
    mov al, 1                       ; with the RTC's periodic interrupt
    call count_irqs
    mov eax, [cnt_pit]
    cmp eax, 15
    jb .pit_out
    cmp eax, 32
    ja .pit_out
    or ebp, 1
.pit_out:
    mov eax, [cnt_rtc]
    cmp eax, 9
    jb .rtc_out
    cmp eax, 21
    ja .rtc_out
    or ebp, 2
.rtc_out:
    cmp ebp, 3
    je .edge_done
    dec esi
    jnz .edge_try
    ; Out of tries: say what the last one counted (only then, so that a
    ; passing report stays QEMU's line for line).
    SAY `ioapic edge irqs in the last try: pit `
    mov eax, [cnt_pit]
    call pdec
    SAY ` rtc `
    mov eax, [cnt_rtc]
    call pdec
    SAY `\n`
.edge_done:
    mov ax, 0x260a                  ; A back to SeaBIOS's 1024 Hz
    call cmos_write

    SAY `ioapic pit irq 0 -> pin 2 vector 30: irqs in 250 ms within 15..32`
    test ebp, 1
    REQUIRE nz
    call verdict
    SAY `ioapic rtc irq 8 -> pin 8 vector 38: irqs in 250 ms within 9..21`
    test ebp, 2
    REQUIRE nz
    call verdict

    ; Pin 8 level-triggered: the RTC's line stays up until C is read. In
    ; the first interrupt the entry's remote IRR is set (and the local
    ; APIC's TMR bit, so its EOI is broadcast to the IOAPIC); that handler
    ; leaves the line up and EOIs, which clears remote IRR and, the line
    ; being still up, delivers again at once. The second handler turns PIE
    ; off and reads C (the line drops), then EOIs: remote IRR stays clear
    ; and nothing more comes. So exactly 2 interrupts.
    mov dword [cnt_level], 0
    mov al, 0x0c
    call cmos_read
    mov ecx, 8
    mov eax, RTE_LEVEL | VEC_RTC_LEVEL
    call ioapic_route
    mov ah, [rtc_b]
    or ah, 0x40
    mov al, 0x0b
    call cmos_write                 ; PIE on: 1024 Hz, first one within 1 ms
    sti
    mov esi, cnt_level
    mov edx, 2
    mov ecx, PM(1000000)
    call wait_ge
    mov ecx, PM(20000)              ; and no third
    call pm_delay
    cli
    mov ecx, 8
    call ioapic_mask
    mov ah, [rtc_b]
    mov al, 0x0b
    call cmos_write
    mov al, 0x0c
    call cmos_read

    SAY `ioapic pin 8 level vector 39: remote irr `
    mov eax, [level_rte1]
    shr eax, 14
    and eax, 1
    call pdec
    cmp eax, 1
    REQUIRE e
    SAY ` tmr `
    mov eax, [level_tmr]
    shr eax, VEC_RTC_LEVEL % 32
    and eax, 1
    call pdec
    cmp eax, 1
    REQUIRE e
    SAY ` isr `
    mov eax, [level_isr]
    shr eax, VEC_RTC_LEVEL % 32
    and eax, 1
    call pdec
    cmp eax, 1
    REQUIRE e
    SAY ` in handler; irqs `
    mov eax, [cnt_level]
    call pdec
    cmp eax, 2
    REQUIRE e
    SAY `; remote irr after eoi `
    mov eax, [level_rte2]
    shr eax, 14
    and eax, 1
    call pdec
    cmp eax, 0
    REQUIRE e
    call verdict
    ret

; ---------------------------------------------------------------------------
; 7b. The HPET: its ID and timers' capabilities, its counter's rate against
; the PM timer, and the legacy replacement route, which takes IRQ 0 from the
; PIT (still at 100 Hz from the IOAPIC checks) and IRQ 8 from the RTC and
; gives them to timers 0 and 1 - under KVM the kernel's PIT must fall
; silent (KVM_PIT_FLAGS_HPET_LEGACY) and come back after. SeaBIOS leaves
; the HPET as reset: halted, counter 0.

; Counts IRQ 0 (pin 2, VEC_PIT) and IRQ 8 (pin 8, VEC_RTC) over ECX PM
; ticks into cnt_pit and cnt_rtc; with the RTC's periodic interrupt on when
; AL is nonzero (64 Hz; off again, A back to SeaBIOS's 1024 Hz and C read
; after). The IOAPIC's checks and the HPET's share it.
count_irqs:
    pushad
    mov dword [cnt_pit], 0
    mov dword [cnt_rtc], 0
    mov bl, al
    test bl, bl
    jz .routes
    mov ax, 0x2a0a                  ; A: 64 Hz
    call cmos_write
    mov ah, [rtc_b]
    or ah, 0x40
    mov al, 0x0b
    call cmos_write
    mov al, 0x0c
    call cmos_read
.routes:
    push ecx
    mov ecx, 2
    mov eax, VEC_PIT
    call ioapic_route
    mov ecx, 8
    mov eax, VEC_RTC
    call ioapic_route
    pop ecx
    sti
    call pm_delay
    mov ecx, 2
    call ioapic_mask
    mov ecx, 8
    call ioapic_mask
    mov ecx, PM(1000)               ; one already accepted still comes
    call pm_delay
    cli
    test bl, bl
    jz .done
    mov ah, [rtc_b]
    mov al, 0x0b
    call cmos_write
    mov ax, 0x260a
    call cmos_write
.done:
    mov al, 0x0c
    call cmos_read
    popad
    ret

pm_to_hpet:                         ; EAX PM ticks -> EAX HPET ticks; keeps the rest
    push edx
    push ecx
    mov ecx, HPET_HZ
    mul ecx
    mov ecx, PM_HZ
    div ecx
    pop ecx
    pop edx
    ret

; CF clear when EAX is within [EBX, ECX].
in_range:
    cmp eax, ebx
    jb .out
    cmp ecx, eax
    jb .out
    clc
    ret
.out:
    stc
    ret

test_hpet:
    SAY `hpet id `
    mov eax, [HPET]
    call phex8
    cmp eax, 0x8086a201             ; Intel, legacy route, 64-bit, 3 timers, rev 1
    REQUIRE e
    SAY ` period `
    mov eax, [HPET + 4]
    call pdec
    SAY ` fs`
    cmp eax, 1000000000000000 / HPET_HZ
    REQUIRE e
    SAY ` config `
    mov eax, [HPET + HPET_CFG]
    call phex8
    SAY ` counter `
    mov eax, [HPET + HPET_COUNTER]
    mov edx, [HPET + HPET_COUNTER + 4]
    call phex16
    call verdict

    xor esi, esi
.caps:
    SAY `hpet timer `
    mov eax, esi
    call pdec
    SAY ` config `
    push esi
    shl esi, 5
    mov eax, [HPET + HPET_TIMER + esi + 4]
    call phex8
    SAY ` `
    mov eax, [HPET + HPET_TIMER + esi]
    call phex8
    pop esi
    call verdict
    inc esi
    cmp esi, 3
    jb .caps

    ; Each read of either clock may stall (under KVM each is an exit to
    ; the emulator, slow when nested): bracket the two HPET reads between
    ; PM reads, so that the HPET interval lies between the inner and the
    ; outer PM interval, and take 1% off the inner and add it to the outer.
    ; 20 ms, best of five.
    SAY `hpet counter 100 MHz against the pm timer within 1%`
    mov dword [HPET + HPET_CFG], HPET_ENABLE
    mov esi, 5
.rate:
    call pm_read
    mov ebx, eax                    ; outer start
    mov ebp, [HPET + HPET_COUNTER]
    call pm_read
    push eax                        ; inner start
    mov ecx, PM(20000)
    call pm_delay
    call pm_read
    mov ecx, eax                    ; inner end
    mov edx, [HPET + HPET_COUNTER]
    sub edx, ebp
    mov [hpet_ticks], edx
    call pm_elapsed                 ; the outer interval
    pop ebx
    sub ecx, ebx
    and ecx, 0xffffff               ; the inner one
    call pm_to_hpet
    mov edx, eax
    shr edx, 7
    add eax, edx                    ; + 0.8 %
    xchg eax, ecx                   ; ECX: the most
    call pm_to_hpet
    mov edx, eax
    shr edx, 7
    sub eax, edx
    mov ebx, eax                    ; EBX: the least
    mov eax, [hpet_ticks]
    call in_range
    jnc .rate_ok
    dec esi
    jnz .rate
    inc edi
.rate_ok:
    call verdict

    ; Legacy replacement on, every timer off: neither the PIT's IRQ 0 nor
    ; the RTC's IRQ 8 (periodic at 64 Hz meanwhile) comes through.
    mov dword [HPET + HPET_CFG], HPET_ENABLE | HPET_LEGACY
    mov ecx, PM(100000)
    mov al, 1
    call count_irqs
    SAY `hpet legacy route, timers off: pit irqs `
    mov eax, [cnt_pit]
    call pdec
    cmp eax, 0
    REQUIRE e
    SAY `, rtc irqs `
    mov eax, [cnt_rtc]
    call pdec
    cmp eax, 0
    REQUIRE e
    call verdict

    ; Timers 0 and 1 periodic (32-bit, edge) at 100 and 64 Hz, programmed
    ; while the counter is halted at 0: SETVAL lets the comparator write
    ; set the first match and the period alike. Legacy mode gives them
    ; IRQ 0 and IRQ 8: the windows of the IOAPIC checks, best of five.
    mov esi, 5
.legacy_try:
    mov dword [HPET + HPET_CFG], 0
    mov dword [HPET + HPET_COUNTER], 0
    mov dword [HPET + HPET_COUNTER + 4], 0
    mov dword [HPET + HPET_TIMER], TN_ENABLE | TN_PERIODIC | TN_SETVAL | TN_32BIT
    mov dword [HPET + HPET_TIMER + 8], HPET_HZ / 100
    mov dword [HPET + HPET_TIMER + 0x20], TN_ENABLE | TN_PERIODIC | TN_SETVAL | TN_32BIT
    mov dword [HPET + HPET_TIMER + 0x28], HPET_HZ / 64
    mov dword [HPET + HPET_CFG], HPET_ENABLE | HPET_LEGACY
    mov ecx, PM(250000)
    mov al, 0
    call count_irqs
    mov dword [HPET + HPET_CFG], HPET_ENABLE
    mov dword [HPET + HPET_TIMER], 0
    mov dword [HPET + HPET_TIMER + 0x20], 0
    mov eax, [cnt_pit]
    mov ebx, 15
    mov ecx, 32
    call in_range
    jc .legacy_again
    mov eax, [cnt_rtc]
    mov ebx, 9
    mov ecx, 21
    call in_range
    jnc .legacy_done
.legacy_again:
    dec esi
    jnz .legacy_try
    SAY `hpet legacy irqs in the last try: timer 0 `
    mov eax, [cnt_pit]
    call pdec
    SAY ` timer 1 `
    mov eax, [cnt_rtc]
    call pdec
    SAY `\n`
    inc edi
.legacy_done:
    SAY `hpet legacy route, timer 0 100 Hz -> irq 0, timer 1 64 Hz -> irq 8: irqs in 250 ms within 15..32, 9..21`
    call verdict

    ; Legacy replacement off again: the PIT's IRQ 0 is back.
    mov esi, 5
.pit_try:
    mov ecx, PM(250000)
    mov al, 0
    call count_irqs
    mov eax, [cnt_pit]
    mov ebx, 15
    mov ecx, 32
    call in_range
    jnc .pit_back
    dec esi
    jnz .pit_try
    inc edi
.pit_back:
    SAY `hpet legacy route off: pit irq 0 back, irqs in 250 ms within 15..32`
    call verdict

    ; Timer 2 one-shot as an FSB message (a 32-bit write of the vector to
    ; the BSP's APIC, as an MSI), 1 ms ahead: exactly one interrupt. QEMU's
    ; pc does not advertise FSB delivery, but takes it. The comparator is
    ; set before the timer is enabled: its reset value, all ones, is more
    ; than 2^31 ticks ahead in 32-bit mode, which counts as passed - an
    ; enable before the write would fire at once (or not, if the write came
    ; before the emulator ran the timer: under TCG it does, under KVM not).
    mov dword [HPET + HPET_TIMER + 0x50], VEC_HPET_FSB
    mov eax, [bsp_id]
    shl eax, 12
    or eax, APIC
    mov [HPET + HPET_TIMER + 0x54], eax
    mov eax, [HPET + HPET_COUNTER]
    add eax, HPET_HZ / 1000
    mov [HPET + HPET_TIMER + 0x48], eax
    mov dword [HPET + HPET_TIMER + 0x40], TN_ENABLE | TN_32BIT | TN_FSB
    sti
    mov esi, cnt_fsb
    mov edx, 1
    mov ecx, PM(1000000)
    call wait_ge
    mov ecx, PM(20000)              ; and no second
    call pm_delay
    cli
    mov dword [HPET + HPET_TIMER + 0x40], 0
    SAY `hpet timer 2 one-shot fsb message vector 52: irqs `
    mov eax, [cnt_fsb]
    call pdec
    cmp eax, 1
    REQUIRE e
    call verdict
    mov dword [HPET + HPET_CFG], 0
    ret

; ---------------------------------------------------------------------------
; 8. The application processors: INIT-SIPI-SIPI, an ID each, fixed IPIs
; both ways.
test_smp:
    mov al, 0x5f
    call cmos_read
    movzx eax, al
    inc eax
    mov [cmos_cpus], eax
    mov ebp, [fw_cpus]
    cmp ebp, eax                    ; agree, or trust CMOS if fw_cfg failed
    je .count
    mov ebp, eax
.count:
    cmp ebp, 1
    ja .several
    SAY `smp 1 cpu`
    cmp dword [cmos_cpus], 1
    REQUIRE e
    call verdict
    ret
.several:
    SAY `smp `
    mov eax, ebp
    call pdec
    SAY ` cpus (cmos `
    mov eax, [cmos_cpus]
    call pdec
    SAY `, fw_cfg `
    mov eax, [fw_cpus]
    call pdec
    SAY `)`
    cmp eax, [cmos_cpus]
    REQUIRE e
    cmp ebp, MAX_CPUS
    jbe .fits
    mov ebp, MAX_CPUS
    inc edi
.fits:
    call verdict

    ; The trampoline goes below 1 MiB on a page boundary; the SIPI vector
    ; names the page. SeaBIOS left the APs halted; INIT puts them back in
    ; wait-for-SIPI. The second SIPI is the MP spec's; an AP already
    ; running ignores it.
    mov esi, trampoline
    mov edi, TRAMPOLINE
    mov ecx, trampoline_end - trampoline
    rep movsb
    xor edi, edi
    mov dword [APIC + APIC_ICR_HI], 0
    mov dword [APIC + APIC_ICR_LO], 0x000c4500  ; INIT, all but self
    call icr_wait
    mov ecx, PM(10000)
    call pm_delay
    mov dword [APIC + APIC_ICR_LO], 0x000c4600 | SIPI_VECTOR
    call icr_wait
    mov ecx, PM(200)
    call pm_delay
    mov dword [APIC + APIC_ICR_LO], 0x000c4600 | SIPI_VECTOR
    call icr_wait

    SAY `smp aps started `
    mov esi, ap_up
    lea edx, [ebp - 1]
    mov ecx, PM(1000000)
    call wait_ge
    mov eax, [ap_up]
    call pdec
    lea edx, [ebp - 1]
    cmp eax, edx
    REQUIRE e
    call verdict

    ; All the APIC IDs, the BSP's with them, sorted (insertion sort).
    mov ecx, [ap_up]
    cmp ecx, MAX_CPUS - 1
    jbe .copy
    mov ecx, MAX_CPUS - 1
.copy:
    mov eax, [bsp_id]
    mov [sorted_ids], eax
    xor esi, esi
.copy_one:
    cmp esi, ecx
    jae .copied
    mov eax, [ap_ids + esi * 4]
    mov [sorted_ids + 4 + esi * 4], eax
    inc esi
    jmp .copy_one
.copied:
    inc ecx
    mov [n_ids], ecx
    mov esi, 1
.insert:
    cmp esi, ecx
    jae .sorted
    mov eax, [sorted_ids + esi * 4]
    mov edx, esi
.shift:
    test edx, edx
    jz .place
    cmp [sorted_ids + edx * 4 - 4], eax
    jbe .place
    mov ebx, [sorted_ids + edx * 4 - 4]
    mov [sorted_ids + edx * 4], ebx
    dec edx
    jmp .shift
.place:
    mov [sorted_ids + edx * 4], eax
    inc esi
    jmp .insert
.sorted:
    SAY `smp apic ids`
    xor esi, esi
.print_id:
    SAY ` `
    mov eax, [sorted_ids + esi * 4]
    call phex2
    test esi, esi
    jz .first
    cmp eax, [sorted_ids + esi * 4 - 4]
    REQUIRE a                       ; all different
.first:
    inc esi
    cmp esi, [n_ids]
    jb .print_id
    call verdict

    ; To each AP in ID order, IPI_ROUNDS fixed IPIs (physical destination,
    ; edge), each waited for: its handler counts it per APIC ID and sends
    ; VEC_REPLY back, which the BSP's handler counts.
    sti
    mov esi, -1
.ap:
    inc esi
    cmp esi, [n_ids]
    jae .ipis_done
    mov ebx, [sorted_ids + esi * 4]
    cmp ebx, [bsp_id]
    je .ap
    mov eax, [replies]
    mov [replies_before], eax
    push esi
    mov esi, IPI_ROUNDS
.round:
    mov edx, [replies]              ; before the IPI: the reply can come
    inc edx                         ; back before the ICR write returns
    mov eax, ebx
    shl eax, 24
    mov [APIC + APIC_ICR_HI], eax
    mov dword [APIC + APIC_ICR_LO], (1 << 14) | VEC_IPI
    call icr_wait
    push esi
    mov esi, replies
    mov ecx, PM(1000000)
    call wait_ge
    pop esi
    dec esi
    jnz .round
    pop esi
    cli
    SAY `smp cpu `
    mov eax, ebx
    call phex2
    SAY `: ipis handled `
    mov eax, [ipi_count + ebx * 4]
    call pdec
    cmp eax, IPI_ROUNDS
    REQUIRE e
    SAY `, replies `
    mov eax, [replies]
    sub eax, [replies_before]
    call pdec
    cmp eax, IPI_ROUNDS
    REQUIRE e
    call verdict
    sti
    jmp .ap
.ipis_done:
    mov ecx, PM(10000)              ; anything late would show up now
    call pm_delay
    cli
    SAY `smp bsp replies `
    mov eax, [replies]
    call pdec
    lea edx, [ebp - 1]
    imul edx, edx, IPI_ROUNDS
    cmp eax, edx
    REQUIRE e
    SAY `, bsp ipis `
    mov ebx, [bsp_id]
    mov eax, [ipi_count + ebx * 4]
    call pdec
    cmp eax, 0
    REQUIRE e
    call verdict
    ret

; The AP trampoline, copied to TRAMPOLINE: real mode, CS = SIPI_VECTOR <<
; 8, IP 0. It loads our GDT (a 32-bit base, hence o32) and jumps to 32-bit
; code in the kernel proper; A20 is already on (SeaBIOS).
bits 16
trampoline:
    cli
    mov ax, cs
    mov ds, ax
    o32 lgdt [tramp_gdt_desc - trampoline]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:ap_entry
    align 4
tramp_gdt_desc:
    dw gdt_end - gdt - 1
    dd gdt
trampoline_end:
bits 32

; An AP in protected mode: claim a slot (and with it a stack), enable the
; local APIC, record the APIC ID, count itself in, then wait with
; interrupts on for the BSP's IPIs.
ap_entry:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov eax, 1
    lock xadd [ap_slot], eax        ; this AP's slot (0-based)
    cmp eax, MAX_CPUS - 1
    jae .park                       ; no room: stay out of the way
    mov esp, eax
    inc esp
    shl esp, 12                     ; (slot + 1) * AP_STACK_SIZE
    add esp, ap_stacks
    mov ebx, eax
    lidt [idt_desc]
    mov dword [APIC + APIC_SVR], 0x100 | VEC_SPURIOUS
    mov dword [APIC + APIC_TPR], 0
    or dword [APIC + APIC_LVT_LINT0], LVT_MASKED
    mov eax, [APIC + APIC_ID]
    shr eax, 24
    mov [ap_ids + ebx * 4], eax
    lock inc dword [ap_up]
    sti
.idle:
    hlt
    jmp .idle
.park:
    cli
    hlt
    jmp .park

; ---------------------------------------------------------------------------
; Interrupts. Each vector has a 16-byte stub that pushes an error code (0
; where the CPU pushes none) and the vector, then isr_common calls
; handlers[vector] with EAX = vector, or treats it as unexpected. Handlers
; may use every general register; they do their own EOI.
idt_init:
    pushad
    xor ecx, ecx
.gate:
    mov eax, ecx
    shl eax, 4
    add eax, isr_stubs              ; the stubs are 16 bytes apart
    mov [idt + ecx * 8], ax
    mov word [idt + ecx * 8 + 2], 0x08
    mov word [idt + ecx * 8 + 4], 0x8e00        ; present, DPL 0, 32-bit interrupt gate
    shr eax, 16
    mov [idt + ecx * 8 + 6], ax
    inc ecx
    cmp ecx, 256
    jb .gate
    popad
    ret

    align 16
isr_stubs:
%assign vec 0
%rep 256
  %if vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21
    push dword vec                  ; the CPU pushed an error code
  %else
    push dword 0
    push dword vec
  %endif
    jmp isr_common
    align 16
  %assign vec vec + 1
%endrep

isr_common:
    pushad
    mov eax, [esp + 32]             ; the vector
    mov ebx, [handlers + eax * 4]
    test ebx, ebx
    jz .unhandled
    call ebx
.return:
    popad
    add esp, 8
    iretd
.unhandled:
    cmp eax, 32
    jb exception
    cmp eax, VEC_SPURIOUS
    je .return                      ; a spurious interrupt takes no EOI
    lock inc dword [unexpected]
    call lapic_eoi
    jmp .return

; A CPU exception is a bug (in the kernel or the machine): say which and
; where, and exit with STATUS_EXCEPTION.
exception:
    SAY `exception `
    call phex2
    SAY ` error `
    mov eax, [esp + 36]
    call phex8
    SAY ` eip `
    mov eax, [esp + 40]
    call phex8
    SAY ` apic id `
    mov eax, [APIC + APIC_ID]
    shr eax, 24
    call phex2
    SAY `\n`
    mov al, STATUS_EXCEPTION
    jmp exit_with

h_timer:
    lock inc dword [timer_irqs]
    jmp lapic_eoi

h_low:
    inc dword [cnt_low]
    mov eax, [APIC + APIC_PPR]
    mov [ppr_low], eax
    mov eax, [APIC + APIC_ISR + (VEC_LOW / 32) * 16]
    mov [isr_low], eax
    jmp lapic_eoi

h_high:
    inc dword [cnt_high]
    mov eax, [APIC + APIC_PPR]
    mov [ppr_high], eax
    jmp lapic_eoi

h_pit:
    lock inc dword [cnt_pit]
    jmp lapic_eoi

h_hpet_fsb:
    inc dword [cnt_fsb]
    jmp lapic_eoi

h_rtc:
    mov al, 0x0c                    ; reading C lowers IRQ 8
    call cmos_read
    lock inc dword [cnt_rtc]
    jmp lapic_eoi

h_rtc_level:
    inc dword [cnt_level]
    cmp dword [cnt_level], 1
    jne .second
    mov ecx, IOAPIC_RTE + 8 * 2
    call ioapic_read
    mov [level_rte1], eax
    mov eax, [APIC + APIC_TMR + (VEC_RTC_LEVEL / 32) * 16]
    mov [level_tmr], eax
    mov eax, [APIC + APIC_ISR + (VEC_RTC_LEVEL / 32) * 16]
    mov [level_isr], eax
    jmp lapic_eoi                   ; the line is still up: it comes again
.second:
    mov ah, [rtc_b]                 ; PIE off, C read: the line drops
    mov al, 0x0b
    call cmos_write
    mov al, 0x0c
    call cmos_read
    call lapic_eoi
    mov ecx, IOAPIC_RTE + 8 * 2
    call ioapic_read
    mov [level_rte2], eax
    ret

; On an AP: count the IPI against this CPU's APIC ID, answer the BSP.
h_ipi:
    mov eax, [APIC + APIC_ID]
    shr eax, 24
    lock inc dword [ipi_count + eax * 4]
    mov eax, [bsp_id]
    shl eax, 24
    mov [APIC + APIC_ICR_HI], eax
    mov dword [APIC + APIC_ICR_LO], (1 << 14) | VEC_REPLY
    call icr_wait
    jmp lapic_eoi

h_reply:
    lock inc dword [replies]
    jmp lapic_eoi

; ---------------------------------------------------------------------------
section .data
    align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff           ; 0x08: flat 32-bit code
    dq 0x00cf93000000ffff           ; 0x10: flat data
gdt_end:
gdt_desc:
    dw gdt_end - gdt - 1
    dd gdt
    align 4
idt_desc:
    dw 256 * 8 - 1
    dd idt

    align 4
handlers:
%assign vec 0
%rep 256
  %if vec == VEC_PIT
    dd h_pit
  %elif vec == VEC_RTC
    dd h_rtc
  %elif vec == VEC_RTC_LEVEL
    dd h_rtc_level
  %elif vec == VEC_TIMER
    dd h_timer
  %elif vec == VEC_LOW
    dd h_low
  %elif vec == VEC_HIGH
    dd h_high
  %elif vec == VEC_IPI
    dd h_ipi
  %elif vec == VEC_REPLY
    dd h_reply
  %elif vec == VEC_HPET_FSB
    dd h_hpet_fsb
  %else
    dd 0
  %endif
  %assign vec vec + 1
%endrep

fw_test_name:
    db "opt/qf/test", 0
fw_test_name_len equ $ - fw_test_name

    align 4
boot_magic:     dd 0
boot_mbi:       dd 0
bss_dirty:      db 0

; (the SAY strings land here, between the data above and the sentinel)

section .bss
    BSS_ALIGN 16
bss_start:
checks:         resd 1
fails:          resd 1
unexpected:     resd 1
pm_bdf:         resd 1
pm_fw_enabled:  resd 1
pm_timer:       resd 1
fw_id:          resd 1
fw_cpus:        resd 1
fw_word:        resd 2
fw_file_size:   resd 1
fw_file_key:    resd 1
fw_file_read:   resd 1
bsp_id:         resd 1
cmos_cpus:      resd 1
ioapic_ver:     resd 1
ioapic_pins:    resd 1
rtc_b:          resd 1
hpet_ticks:     resd 1
timer_irqs:     resd 1
cnt_low:        resd 1
cnt_high:       resd 1
ppr_low:        resd 1
ppr_high:       resd 1
isr_low:        resd 1
cnt_pit:        resd 1
cnt_fsb:        resd 1
cnt_rtc:        resd 1
cnt_level:      resd 1
level_rte1:     resd 1
level_rte2:     resd 1
level_tmr:      resd 1
level_isr:      resd 1
ap_slot:        resd 1
ap_up:          resd 1
n_ids:          resd 1
replies:        resd 1
replies_before: resd 1
ap_ids:         resd MAX_CPUS
sorted_ids:     resd MAX_CPUS
ipi_count:      resd 256            ; by APIC ID
    BSS_ALIGN 16
fw_dma:         resb 16
fw_entry:       resb 64
fw_buf:         resb 64
fw_dma_buf:     resb 64
    BSS_ALIGN 8
idt:            resq 256
    BSS_ALIGN 16
bsp_stack:      resb 16384
bsp_stack_top:
ap_stacks:      resb AP_STACK_SIZE * MAX_CPUS
bss_end:

; The last bytes of .data (sections are laid out .text, .data, .bss): if
; the loader stopped short of load_end_addr, this is not there.
section .data
    align 4
image_sentinel: db "END!"
data_end:
