/* A bytecode interpreter with a switch dispatch: a stack machine running a
   small program (nested loops, arithmetic, a table) for some 35 M
   bytecodes. */
#include "rt.h"

enum { PUSH, LOAD, STORE, ADD, SUB, MUL, XOR, SHR, AND, LT, JZ, JMP, DUP, DROP, LDT, STT, HALT };

/* locals: 0 i, 1 j, 2 acc */
static const int32_t program[] = {
    PUSH, 0, STORE, 0,                         /* i = 0 */
    /* 4: outer */ LOAD, 0, PUSH, 20000, LT, JZ, 67,
    PUSH, 0, STORE, 1,                         /* j = 0 */
    /* 15: inner */ LOAD, 1, PUSH, 60, LT, JZ, 58,
    LOAD, 2, PUSH, 31, MUL, LOAD, 1, ADD, LOAD, 0, XOR, STORE, 2,   /* acc = acc*31 + j ^ i */
    LOAD, 2, PUSH, 255, AND, DUP, LDT, LOAD, 2, PUSH, 7, SHR, ADD, STT,  /* t[acc&255] += acc>>7 */
    LOAD, 1, PUSH, 1, ADD, STORE, 1, JMP, 15,
    /* 58: */ LOAD, 0, PUSH, 1, ADD, STORE, 0, JMP, 4,
    /* 67: */ HALT};

static int64_t table[256];

static int64_t run(const int32_t* code) {
    int64_t stack[64], locals[4] = {0, 0, 0, 0};
    int sp = 0;
    for (int pc = 0;;) {
        switch (code[pc++]) {
        case PUSH: stack[sp++] = code[pc++]; break;
        case LOAD: stack[sp++] = locals[code[pc++]]; break;
        case STORE: locals[code[pc++]] = stack[--sp]; break;
        case ADD: --sp; stack[sp - 1] += stack[sp]; break;
        case SUB: --sp; stack[sp - 1] -= stack[sp]; break;
        case MUL: --sp; stack[sp - 1] *= stack[sp]; break;
        case XOR: --sp; stack[sp - 1] ^= stack[sp]; break;
        case SHR: --sp; stack[sp - 1] = (int64_t)((uint64_t)stack[sp - 1] >> stack[sp]); break;
        case AND: --sp; stack[sp - 1] &= stack[sp]; break;
        case LT: --sp; stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
        case JZ: { const int32_t to = code[pc++]; if (!stack[--sp]) pc = to; break; }
        case JMP: pc = code[pc]; break;
        case DUP: stack[sp] = stack[sp - 1]; ++sp; break;
        case DROP: --sp; break;
        case LDT: stack[sp - 1] = table[stack[sp - 1] & 255]; break;
        case STT: sp -= 2; table[stack[sp] & 255] = stack[sp + 1]; break;
        case HALT: return locals[2];
        default: return -1;
        }
    }
}

uint64_t bench_run(void) {
    uint64_t h = (uint64_t)run(program);
    for (int i = 0; i < 256; ++i) h = mix(h, (uint64_t)table[i]);
    return h;
}
