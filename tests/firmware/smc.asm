; Self-modifying code, copied from ROM to RAM and run there: a store into
; the next instruction of the same block, a function patched between two
; calls (its translation must go), and a loop that rewrites an immediate of
; its own body every iteration. Then REP MOVSB across a page boundary into
; a page that is not present: #PF with CR2 at the boundary and RCX counting
; what is left; the handler maps the page and the copy resumes.
%include "uart.inc"
%define BOOT_EXTRA_PAGING SPLIT_4K_PAGES 1  ; 0x401000 not present
%include "boot64.inc"
%include "idt64.inc"

CODE_RAM equ 0x200000
PT_CODE equ 0x300000

bits 64
lm64:
    mov rsp, 0x90000
    IDT_SETUP
    lea rsi, [rel smc_code]
    mov edi, CODE_RAM
    mov ecx, smc_end - smc_code
    rep movsb
    mov eax, CODE_RAM
    call rax                     ; eax: same block, ebx: first call, ecx: second call, edx: loop sum
    mov r12d, eax
    mov r13d, ebx
    mov r14d, ecx
    mov r15d, edx
    lea rsi, [rel msg_same]
    call print
    mov edi, r12d
    mov ecx, 8
    call print_hex
    lea rsi, [rel msg_calls]
    call print
    mov edi, r13d
    mov ecx, 8
    call print_hex
    lea rsi, [rel msg_sp]
    call print
    mov edi, r14d
    mov ecx, 8
    call print_hex
    lea rsi, [rel msg_loop]
    call print
    mov edi, r15d
    mov ecx, 8
    call print_hex
    lea rsi, [rel msg_eol]
    call print

    ; REP MOVSB from 0x400ff8 over the boundary into the absent page.
    mov edi, 0x400ff8
    mov rax, 0x0807060504030201
    mov [rdi], rax
    mov esi, 0x400ff8
    mov edi, 0x403000
    mov ecx, 16
    rep movsb
    mov rax, [0x403000]
    cmp rax, [0x400ff8]
    jne .bad
    lea rsi, [rel msg_copy]
    call print
    mov rdi, [0x403008]
    mov ecx, 16
    call print_hex
    lea rsi, [rel msg_eol]
    call print

    ; A page table in a page of translated code: the accessed and dirty bits
    ; the page walk sets rewrite the immediate of a MOV already translated.
    mov edi, PT_CODE
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov word [PT_CODE + 0xfe], 0xb848        ; mov rax, imm64: the PTE of 0x620000
    mov qword [PT_CODE + 0x100], 0x500003
    mov byte [PT_CODE + 0x108], 0xc3         ; ret
    mov dword [0x12000 + 3 * 8], PT_CODE | 3 ; 0x600000-0x7fffff through it
    mov rax, cr3
    mov cr3, rax
    mov ebx, PT_CODE + 0xfe
    call rbx
    mov r12, rax
    mov eax, [0x620000]          ; sets the accessed bit
    call rbx
    mov r13, rax
    mov dword [0x620000], 1      ; sets the dirty bit
    call rbx
    mov r14, rax
    lea rsi, [rel msg_ad]
    call print
    mov rdi, r12
    mov ecx, 8
    call print_hex
    lea rsi, [rel msg_sp]
    call print
    mov rdi, r13
    mov ecx, 8
    call print_hex
    lea rsi, [rel msg_sp]
    call print
    mov rdi, r14
    mov ecx, 8
    call print_hex
    lea rsi, [rel msg_eol]
    call print
    EXIT 0x5c
.bad:
    EXIT 0x7e

ex_common:
    EX_SAVE_AND_PRINT
    lea rsi, [rel msg_cr2]
    call print
    mov rdi, cr2
    mov ecx, 16
    call print_hex
    lea rsi, [rel msg_rcx]
    call print
    mov rdi, [rsp + 40]          ; the saved RCX: what REP has left
    mov ecx, 4
    call print_hex
    lea rsi, [rel msg_eol]
    call print
    cmp qword [rsp + 64], 14
    jne .stop
    mov dword [0x14000 + 8], 0x401000 | 3    ; map it, with known bytes
    mov eax, 0x401000
    invlpg [rax]
    mov rax, 0x1122334455667788
    mov [0x401000], rax
    EX_RESTORE
    iretq
.stop:
    EXIT 0x7d

; Position-independent: it runs from RAM.
smc_code:
    lea rdi, [rel .imm1]
    mov dword [rdi], 42          ; the next instruction's immediate
    db 0xb8                      ; mov eax, imm32
.imm1: dd 7
    push rax
    call .func
    mov ebx, eax
    lea rdi, [rel .imm2]
    mov dword [rdi], 2           ; patch the function after its first call
    call .func
    mov ecx, eax
    xor edx, edx                 ; the loop: its ADD's immediate is the iteration number
    xor esi, esi
.loop:
    lea rdi, [rel .imm3]
    mov [rdi], esi
    db 0x81, 0xc2                ; add edx, imm32
.imm3: dd 0
    inc esi
    cmp esi, 10
    jb .loop
    pop rax
    ret
.func:
    db 0xb8                      ; mov eax, imm32
.imm2: dd 1
    ret
smc_end:

IDT_CODE
msg_same:  db "smc: same block ", 0
msg_calls: db ", calls ", 0
msg_sp:    db " ", 0
msg_loop:  db ", loop ", 0
msg_eol:   db 13, 10, 0
msg_ex:    db "ex ", 0
msg_err:   db " err ", 0
msg_cr2:   db " cr2 ", 0
msg_rcx:   db " rcx ", 0
msg_copy:  db "copy across the page boundary resumed: ", 0
msg_ad:    db "page-walk A/D bits in translated code: ", 0

BOOT64_TAIL
