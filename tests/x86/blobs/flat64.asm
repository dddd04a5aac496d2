; A 64-bit flat code blob for the translator's end-to-end test: loaded at
; 0x100000 and entered in 64-bit mode with paging off (the test sets the
; state up). It exercises loops, calls and returns, the stack, memory
; operands, string instructions and conditional moves, leaves its results
; in registers and memory, and stops with HLT.
bits 64
default rel
org 0x100000

start:
    mov rsp, 0x80000
    ; r8 = sum of the sixteen quadwords at data
    lea rsi, [data]
    mov ecx, 16
    xor r8d, r8d
.sum:
    add r8, [rsi]
    add rsi, 8
    dec ecx
    jnz .sum
    ; r9 = fib(40), through a call
    mov edi, 40
    call fib
    mov r9, rax
    ; copy data to 0x200000 with REP MOVSB, then compare with REPE CMPSQ
    lea rsi, [data]
    mov edi, 0x200000
    mov ecx, 128
    cld
    rep movsb
    lea rsi, [data]
    mov edi, 0x200000
    mov ecx, 16
    repe cmpsq
    mov r10, rcx            ; 0 when all sixteen matched
    ; r11 = max of the data, with CMOV
    lea rsi, [data]
    mov ecx, 16
    xor r11d, r11d
.max:
    mov rax, [rsi]
    cmp rax, r11
    cmovg r11, rax
    add rsi, 8
    loop .max
    ; push and pop through the stack, and a store into a stack slot
    push r8
    push r9
    pop r12                 ; r12 = fib(40)
    pop r13                 ; r13 = sum
    mov qword [abs 0x200100], 0x1234
    add qword [abs 0x200100], r13
    ; a byte fill: STOSB 64 times
    mov al, 0x5a
    mov edi, 0x200200
    mov ecx, 64
    rep stosb
    hlt

; rax = fib(rdi), iteratively
fib:
    push rbx
    xor eax, eax
    mov ebx, 1
.next:
    test rdi, rdi
    jz .done
    lea rdx, [rax + rbx]
    mov rax, rbx
    mov rbx, rdx
    dec rdi
    jmp .next
.done:
    pop rbx
    ret

align 8
data:
    dq 3, -5, 100, 7, 0x7fffffffffff, 12, -100000, 42
    dq 1, 2, 3, 4, 5, 6, 7, 8
