/* The guest side of the runtime: the entry that crt.asm calls, and the
   memory functions gcc may call even in freestanding code (kept from being
   turned into calls to themselves). */
#include "rt.h"

#define NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))

extern char __bss_start[], __bss_end[];

__attribute__((section(".text.entry"), used)) uint64_t bench_entry(void) {
    /* Cleared byte by byte through a volatile pointer: a loop gcc would turn
       into a call to memset, whose own data may be in what it clears. */
    for (volatile char* p = __bss_start; p < __bss_end; ++p) *p = 0;
    return bench_run();
}

NO_LIBCALLS void* memcpy(void* d, const void* s, size_t n) {
    unsigned char* dp = d;
    const unsigned char* sp = s;
    while (n--) *dp++ = *sp++;
    return d;
}
NO_LIBCALLS void* memmove(void* d, const void* s, size_t n) {
    unsigned char* dp = d;
    const unsigned char* sp = s;
    if (dp < sp) {
        while (n--) *dp++ = *sp++;
    } else {
        while (n--) dp[n] = sp[n];
    }
    return d;
}
NO_LIBCALLS void* memset(void* d, int c, size_t n) {
    unsigned char* dp = d;
    while (n--) *dp++ = (unsigned char)c;
    return d;
}
NO_LIBCALLS int memcmp(const void* a, const void* b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (; n; --n, ++x, ++y)
        if (*x != *y) return *x < *y ? -1 : 1;
    return 0;
}
