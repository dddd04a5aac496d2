; For live migration (tests/cli/migration_test.cpp): a guest that writes
; all over 16 MiB while it runs and checks every page it comes back to. A
; page's first and last dwords hold the last value written there, and a
; table holds what each page should have; a page that does not is a page a
; migration lost or brought back stale: "BAD page" and isa-debug-exit 0x3f.
; Every 128 rounds of the 4096 pages it prints the line number in hex; after
; LINES lines it leaves through isa-debug-exit with 0. Pages go in a stride of 7
; so that each pass of a migration finds them scattered.
%include "uart.inc"
%include "boot32.inc"

AREA   equ 0x1000000             ; 16 MiB of pages
PAGES  equ 4096
TABLE  equ 0x800000              ; a dword a page: what it should hold
LINES  equ 200
VARS   equ 0x500                 ; the line and the value, in RAM with the rest

bits 32
pm32:
    PM32_FLAT
    mov dword [VARS], 0          ; line
    mov dword [VARS + 4], 0      ; value
    xor eax, eax                 ; the table and the area start as zero RAM
    xor ebx, ebx                 ; page index
.line:
    mov ecx, PAGES * 128
.page:
    mov edi, ebx
    shl edi, 12
    add edi, AREA
    mov edx, [TABLE + ebx * 4]
    cmp [edi], edx
    jne .bad
    cmp [edi + 4092], edx
    jne .bad
    mov eax, [VARS + 4]
    inc eax
    mov [VARS + 4], eax
    mov [edi], eax
    mov [edi + 4092], eax
    mov [TABLE + ebx * 4], eax
    add ebx, 7
    and ebx, PAGES - 1
    dec ecx
    jnz .page
    mov edi, [VARS]
    call hex32
    mov dx, COM1
    mov al, 13
    out dx, al
    mov al, 10
    out dx, al
    inc dword [VARS]
    cmp dword [VARS], LINES
    jb .line
    EXIT 0

.bad:
    mov esi, BASE + msg_bad
    PRINT
    shr edi, 12
    call hex32
    EXIT 0x3f

HEX32_CODE
msg_bad: db "BAD page ", 0

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff    ; 0x08: 32-bit code
    dq 0x00cf93000000ffff    ; 0x10: data
gdt_end:

BOOT32_TAIL
