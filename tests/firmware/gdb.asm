; The target of the gdbstub tests (tests/cli/gdb_test.cpp): from the reset
; vector to long mode, then a fixed stretch of code at 0xf8000 that the
; debugger breaks in, steps through, changes registers and memory under and
; watches; the exit status (isa-debug-exit) is the byte at 0x3000, which
; the debugger writes (0xff: spin until it writes another, so that it
; can interrupt a running guest).
%include "uart.inc"
%include "boot64.inc"

bits 64
lm64:
    mov rsp, 0x90000
    mov qword [0x2000], 0
    mov qword [0x3000], 0x11
    mov rax, BASE + body
    jmp rax

    times 0x8000 - ($ - $$) db 0xcc
body:                            ; 0xf8000
    mov eax, 0x1234
    mov ebx, 0x10
    add rax, rbx                 ; the debugger sets rbx to 0x40 before it
    nop
    mov [0x2000], rax            ; a watchpoint on 0x2000 stops after this
    nop
    mov rcx, [0x2000]
.spin:                           ; while the debugger leaves 0xff there
    pause
    cmp byte [0x3000], 0xff
    je .spin
    mov bl, [0x3000]
    EXIT bl

BOOT64_TAIL
