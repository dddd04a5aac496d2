/* The C guest kernels' runtime: what they may use. The same source builds
   two ways - freestanding for the guest (bench/guests/c/crt.asm boots it,
   rt.c below) and as a host program (native.c) for the native column of
   bench/compare-qemu - and must print the same checksum both ways. */
#ifndef QF_BENCH_RT_H
#define QF_BENCH_RT_H
#include <stddef.h>
#include <stdint.h>

/* The kernel: its work, folded into a checksum. */
uint64_t bench_run(void);

/* A 64-bit LCG (Knuth's MMIX constants), the data every kernel generates. */
static inline uint64_t lcg(uint64_t* s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s;
}
/* Mixing for checksums (splitmix64's finaliser). */
static inline uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

void* memcpy(void* d, const void* s, size_t n);
void* memset(void* d, int c, size_t n);
void* memmove(void* d, const void* s, size_t n);
int memcmp(const void* a, const void* b, size_t n);
#endif
