; A minimal bzImage for -kernel on pc: what a boot loader hands a Linux
; kernel, as QEMU's x86_load_linux fills the setup header and its
; linuxboot_dma.bin option ROM copies the parts into place and enters the
; setup code in real mode. It prints the header fields the loader wrote,
; the command line, and the first bytes and a sum of the protected-mode
; part and of the initrd (read through a flat FS: "unreal" mode), on COM1,
; then leaves through isa-debug-exit (0xf4). Its report must be QEMU's.
bits 16
section .text start=0 vstart=0

; ---- boot sector: only the header's tail matters ---------------------------
    times 0x1f1 - ($ - $$) db 0
setup_sects:    db 3            ; three setup sectors after this one
root_flags:     dw 0
syssize:        dd (pm_end - pm_start) / 16
ram_size:       dw 0
vid_mode:       dw 0xffff
root_dev:       dw 0
boot_flag:      dw 0xaa55
; ---- 0x200: the setup code's entry, then the rest of the header ------------
    jmp short main
                db "HdrS"
version:        dw 0x020f
realmode_swtch: dd 0
start_sys_seg:  dw 0
kernel_version: dw 0
type_of_loader: db 0
loadflags:      db 0x01         ; LOADED_HIGH
setup_move_size: dw 0
code32_start:   dd 0x100000
ramdisk_image:  dd 0
ramdisk_size:   dd 0
bootsect_kludge: dd 0
heap_end_ptr:   dw 0
ext_loader_ver: db 0
ext_loader_type: db 0
cmd_line_ptr:   dd 0
initrd_addr_max: dd 0x7fffffff
kernel_alignment: dd 0x200000
relocatable_kernel: db 0
min_alignment:  db 0
xloadflags:     dw 0
cmdline_size:   dd 255
    times 0x268 - ($ - $$) db 0

COM1 equ 0x3f8

main:
    cli
    mov ax, cs
    sub ax, 0x20                ; the setup segment: the header is at ds:0
    mov ds, ax
    mov es, ax
    mov si, s_title
    call puts
    mov si, s_seg
    call puts
    mov ax, ds
    call hex16
    call nl
    mov si, s_loader
    call puts
    mov al, [type_of_loader]
    call hex8
    mov si, s_flags
    call puts
    mov al, [loadflags]
    call hex8
    mov si, s_heap
    call puts
    mov ax, [heap_end_ptr]
    call hex16
    mov si, s_vid
    call puts
    mov ax, [vid_mode]
    call hex16
    call nl
    mov si, s_cmdptr
    call puts
    mov eax, [cmd_line_ptr]
    call hex32
    mov si, s_rd
    call puts
    mov eax, [ramdisk_image]
    call hex32
    mov si, s_rdsize
    call puts
    mov eax, [ramdisk_size]
    call hex32
    call nl

    call unreal                 ; fs: flat 4 GiB, for the parts above 1 MiB
    mov si, s_cmdline
    call puts
    mov ebx, [cmd_line_ptr]
.cmd:
    mov al, [fs:ebx]
    test al, al
    jz .cmd_end
    call putc
    inc ebx
    jmp .cmd
.cmd_end:
    mov al, ']'
    call putc
    call nl

    mov si, s_pm
    call puts
    mov ebx, [code32_start]
    mov ecx, pm_end - pm_start
    call dump
    mov si, s_initrd
    call puts
    mov ebx, [ramdisk_image]
    mov ecx, [ramdisk_size]
    call dump

    mov si, s_done
    call puts
    mov al, 0
    out 0xf4, al
    hlt
    jmp $

; ebx: linear address, ecx: length. Prints the first 8 bytes and the sum
; of all of them (32 bits).
dump:
    push ecx
    xor edx, edx
    mov edi, ebx
    jecxz .sum_done
.sum:
    movzx eax, byte [fs:edi]
    add edx, eax
    inc edi
    loop .sum, ecx
.sum_done:
    pop ecx
    cmp ecx, 8
    jbe .few
    mov ecx, 8
.few:
    jecxz .bytes_done
.byte:
    mov al, [fs:ebx]
    call hex8
    mov al, ' '
    call putc
    inc ebx
    loop .byte, ecx
.bytes_done:
    mov si, s_sum
    call puts
    mov eax, edx
    call hex32
    call nl
    ret

; Big real mode: fs gets a 4 GiB limit, base 0.
unreal:
    push ds
    xor eax, eax
    mov ax, ds
    shl eax, 4
    add eax, gdt
    mov [gdt_ptr + 2], eax
    lgdt [gdt_ptr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp short .pm
.pm:
    mov bx, 8
    mov fs, bx
    and al, 0xfe
    mov cr0, eax
    jmp short .rm
.rm:
    xor ax, ax
    mov fs, ax
    pop ds
    ret

putc:
    push dx
    push ax
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop ax
    mov dx, COM1
    out dx, al
    pop dx
    ret
puts:
    lodsb
    test al, al
    jz .end
    call putc
    jmp puts
.end:
    ret
nl:
    mov al, 13
    call putc
    mov al, 10
    jmp putc
hex4:
    and al, 0x0f
    add al, '0'
    cmp al, '9'
    jbe .d
    add al, 'a' - '0' - 10
.d:
    jmp putc
hex8:
    push ax
    shr al, 4
    call hex4
    pop ax
    jmp hex4
hex16:
    push ax
    mov al, ah
    call hex8
    pop ax
    jmp hex8
hex32:
    push eax
    shr eax, 16
    call hex16
    pop eax
    jmp hex16

align 8
gdt:    dq 0
        dq 0x00cf92000000ffff   ; data, base 0, 4 GiB
gdt_ptr: dw 15
         dd 0

s_title:  db 13, 10, "lbtest: linux boot report", 13, 10, 0
s_seg:    db "setup segment ", 0
s_loader: db "type_of_loader ", 0
s_flags:  db " loadflags ", 0
s_heap:   db " heap_end_ptr ", 0
s_vid:    db " vid_mode ", 0
s_cmdptr: db "cmd_line_ptr ", 0
s_rd:     db " ramdisk_image ", 0
s_rdsize: db " ramdisk_size ", 0
s_cmdline: db "cmdline [", 0
s_pm:     db "protected-mode part: ", 0
s_initrd: db "initrd: ", 0
s_sum:    db "sum ", 0
s_done:   db "lbtest: done", 13, 10, 0

    times 2048 - ($ - $$) db 0  ; the boot sector and three setup sectors

; ---- the protected-mode part, loaded at code32_start -----------------------
pm_start:
%assign i 0
%rep 512
    db (i * 7 + 3) & 0xff
%assign i i + 1
%endrep
pm_end:
