; REP MOVS and REP STOS as a firmware and a kernel use them, large enough
; to cross pages and to be done in bulk (src/x86/rep_string.cpp), against
; QEMU's element-at-a-time results:
;   real mode: a copy whose SI wraps at 64 KiB, a fill across a page, a
;     32-bit-address copy, a backward copy whose DI wraps below 0;
;   long mode: copies across pages of every element size, overlapping
;     ones (destination inside the source, by less than an element too,
;     and below it), fills of every size, a backward copy, 32-bit
;     addresses with garbage above them, a zero count;
;   faults part-way: a fill into and a copy from a page that is not
;     present (#PF with CR2 at the boundary and RCX, RSI, RDI counting
;     what is left);
;   a fill over code that has run (it must run as patched).
; Each line is a hash of the destination and the registers after.
%include "uart.inc"

SAVE equ 0x7000                  ; real-mode results
RESUME_AT equ 0x7100             ; where the #PF handler resumes

%macro RS_REAL_MODE 0             ; no stack here yet
    mov ax, 0x2000               ; 0x20000-0x2ffff: a pattern
    mov es, ax
    xor di, di
%%fill:
    mov ax, di
    imul ax, ax, 7
    add al, ah
    mov [es:di], al
    inc di
    jnz %%fill
    cld
    mov ax, 0x2000
    mov ds, ax
    mov ax, 0x3000
    mov es, ax
    mov esi, 0xabcdffe0          ; SI wraps to 0 after 0x20 bytes; the upper half stays
    mov edi, 0x12340ff0          ; across linear 0x31000
    mov cx, 0x60
    rep movsb
    xor bx, bx
    mov fs, bx
    mov [fs:SAVE], esi
    mov [fs:SAVE + 4], edi
    mov [fs:SAVE + 8], cx
    mov ax, 0xa55a
    mov di, 0x1ff8               ; across linear 0x32000
    mov cx, 0x10
    rep stosw
    mov [fs:SAVE + 10], di
    mov [fs:SAVE + 12], cx
    mov esi, 0x100
    mov edi, 0x3000
    mov ecx, 0x900
    a32 rep movsw                ; 32-bit addresses in real mode
    mov [fs:SAVE + 14], esi
    mov [fs:SAVE + 18], edi
    mov [fs:SAVE + 22], ecx
    std
    mov si, 0x8000
    mov di, 0x0005               ; wraps to 0xffff after 6 bytes
    mov cx, 0x10
    rep movsb
    cld
    mov [fs:SAVE + 26], si
    mov [fs:SAVE + 28], di
    mov [fs:SAVE + 30], cx
    mov ax, cs
    mov ds, ax
%endmacro
%define BOOT_REAL_MODE_EXTRA RS_REAL_MODE

%define BOOT_EXTRA_PAGING SPLIT_4K_PAGES 256  ; 0x500000 not present
%include "boot64.inc"
%include "idt64.inc"

PATTERN equ 0x300000             ; 16 KiB of pattern

; REPORT start, length: "hash rsi rdi rcx" of the registers as they are,
; which it keeps
%macro REPORT 2
    mov r12, rsi
    mov r13, rdi
    mov r14, rcx
    mov rsi, %1
    mov rcx, %2
    call report
    mov rsi, r12
    mov rdi, r13
    mov rcx, r14
%endmacro

; COPY_PATTERN dst: the pattern's 16 KiB at dst
%macro COPY_PATTERN 1
    mov esi, PATTERN
    mov edi, %1
    mov ecx, 0x800
    rep movsq
%endmacro

bits 64
lm64:
    mov rsp, 0x90000
    IDT_SETUP
    ; real mode's results
    mov rsi, 0x30000
    mov rcx, 0x10000
    call hash
    mov rdi, rax
    mov ecx, 16
    call print_hex
    mov ebp, SAVE
    mov r10d, 16                 ; ESI EDI CX, DI CX, ESI EDI ECX, SI DI CX as 16 words
.real:
    call space
    movzx edi, word [rbp]
    mov ecx, 4
    call print_hex
    add ebp, 2
    dec r10d
    jnz .real
    call eol

    ; the pattern
    mov edi, PATTERN
    xor ecx, ecx
.pattern:
    mov eax, ecx
    imul eax, eax, 13
    mov edx, ecx
    shr edx, 7
    xor eax, edx
    mov [rdi + rcx], al
    inc ecx
    cmp ecx, 0x4000
    jne .pattern

    cld
    ; MOVSB across two page boundaries
    mov rsi, PATTERN + 7
    mov rdi, 0x310ff9
    mov rcx, 0x2345
    rep movsb
    REPORT 0x310000, 0x4000

    ; MOVSD, the destination 3 bytes into the source
    COPY_PATTERN 0x320000
    mov rsi, 0x320000
    mov rdi, 0x320003
    mov rcx, 0x600
    rep movsd
    REPORT 0x320000, 0x4000

    ; MOVSB, the destination 1 byte into the source: a run of one byte
    COPY_PATTERN 0x330000
    mov rsi, 0x330100
    mov rdi, 0x330101
    mov rcx, 0x1800
    rep movsb
    REPORT 0x330000, 0x4000

    ; MOVSQ, the destination below the source
    COPY_PATTERN 0x340000
    mov rsi, 0x340010
    mov rdi, 0x340000
    mov rcx, 0x500
    rep movsq
    REPORT 0x340000, 0x4000

    ; MOVSW, the destination 1 byte into the source (less than an element)
    COPY_PATTERN 0x350000
    mov rsi, 0x350000
    mov rdi, 0x350001
    mov rcx, 0x900
    rep movsw
    REPORT 0x350000, 0x4000

    ; fills of each size, each across a page
    xor esi, esi
    mov al, 0x5a
    mov rdi, 0x360ffd
    mov rcx, 0x1005
    rep stosb
    REPORT 0x360000, 0x8000
    mov ax, 0x1234
    mov rdi, 0x362fff
    mov rcx, 0x803
    rep stosw
    REPORT 0x360000, 0x8000
    mov eax, 0xdeadbeef
    mov rdi, 0x364ffe
    mov rcx, 0x401
    rep stosd
    REPORT 0x360000, 0x8000
    mov rax, 0x0123456789abcdef
    mov rdi, 0x366ff9
    mov rcx, 0x201
    rep stosq
    REPORT 0x360000, 0x8000

    ; MOVSD backwards across pages
    std
    mov rsi, PATTERN + 0x3ffc
    mov rdi, 0x372ffc
    mov rcx, 0x900
    rep movsd
    cld
    REPORT 0x370000, 0x3000

    ; 32-bit addresses: the upper halves are not used, and are cleared
    mov rsi, 0xffffffff00000000 | PATTERN
    mov rdi, 0x1234567800380ff0
    mov rcx, 0xabcdef0000001100
    a32 rep movsb
    REPORT 0x380000, 0x3000

    ; a zero count does nothing
    mov rsi, PATTERN
    mov rdi, 0x380000
    xor ecx, ecx
    rep movsq
    REPORT 0x380000, 0x3000

    ; a fill into the page that is not present: #PF at its first byte
    lea rax, [rel .after_fill]
    mov [RESUME_AT], rax
    mov rax, 0x1111111111111111
    xor esi, esi
    mov rdi, 0x4fff00
    mov rcx, 0x100
    rep stosq
.after_fill:
    REPORT 0x4ff000, 0x1000

    ; a copy from it
    lea rax, [rel .after_copy]
    mov [RESUME_AT], rax
    mov rsi, 0x4fff80
    mov rdi, 0x390000
    mov rcx, 0x100
    rep movsb
.after_copy:
    REPORT 0x390000, 0x100

    ; a fill over code that has run
    lea rsi, [rel smc_blob]
    mov edi, 0x3a0000
    mov ecx, smc_blob_end - smc_blob
    rep movsb
    xor r8d, r8d
    mov eax, 0x3a0000
    call rax                     ; patches nothing: 11111111
    mov r15d, eax
    mov r8d, 4
    mov eax, 0x3a0000
    call rax                     ; patches its next instruction to RETs: 003a00c3
    mov r14d, eax
    mov edi, r15d
    mov ecx, 8
    call print_hex
    call space
    mov edi, r14d
    mov ecx, 8
    call print_hex
    call eol
    EXIT 0x5d

; rsi, rcx: the bytes' FNV-1a hash in rax
hash:
    mov rax, 0xcbf29ce484222325
    mov r11, 0x100000001b3
.h:
    movzx edx, byte [rsi]
    xor rax, rdx
    imul rax, r11
    inc rsi
    dec rcx
    jnz .h
    ret

; the hash of rsi, rcx, then r12 r13 r14 (RSI RDI RCX as they were)
report:
    call hash
    mov rdi, rax
    mov ecx, 16
    call print_hex
    call space
    mov rdi, r12
    mov ecx, 16
    call print_hex
    call space
    mov rdi, r13
    mov ecx, 16
    call print_hex
    call space
    mov rdi, r14
    mov ecx, 16
    call print_hex
    call eol
    ret

space:
    lea rsi, [rel msg_sp]
    jmp print
eol:
    lea rsi, [rel msg_eol]
    jmp print

; a #PF: vector, error, CR2, and RCX RSI RDI at the fault; then on at RESUME_AT
ex_common:
    EX_SAVE_AND_PRINT
    lea rsi, [rel msg_cr2]
    call print
    mov rdi, cr2
    mov ecx, 16
    call print_hex
    call space
    mov rdi, [rsp + 40]          ; rcx
    mov ecx, 4
    call print_hex
    call space
    mov rdi, [rsp + 24]          ; rsi
    mov ecx, 8
    call print_hex
    call space
    mov rdi, [rsp + 16]          ; rdi
    mov ecx, 8
    call print_hex
    call eol
    mov rax, [RESUME_AT]
    mov [rsp + 80], rax
    EX_RESTORE
    iretq

smc_blob:
    mov al, 0xc3                 ; RET
    lea rdi, [rel .patch]
    mov ecx, r8d
    rep stosb
.patch:
    mov eax, 0x11111111
    ret
smc_blob_end:

IDT_CODE
msg_ex:   db "ex ", 0
msg_err:  db " err ", 0
msg_cr2:  db " cr2 ", 0
msg_eol:  db 13, 10, 0
msg_sp:   db " ", 0

BOOT64_TAIL
