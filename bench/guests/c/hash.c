/* An open-addressing hash table (linear probing, 2^21 slots): 1 M inserts
   of generated keys, then 2 M lookups, half of them misses. */
#include "rt.h"

#define SLOTS (1u << 21)
static uint64_t keys[SLOTS];
static uint32_t values[SLOTS];

static inline uint32_t slot_of(uint64_t k) { return (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> 43); }

static void insert(uint64_t k, uint32_t v) {
    uint32_t i = slot_of(k);
    while (keys[i] && keys[i] != k) i = (i + 1) & (SLOTS - 1);
    keys[i] = k;
    values[i] = v;
}
static int lookup(uint64_t k, uint32_t* v) {
    for (uint32_t i = slot_of(k); keys[i]; i = (i + 1) & (SLOTS - 1))
        if (keys[i] == k) {
            *v = values[i];
            return 1;
        }
    return 0;
}

uint64_t bench_run(void) {
    uint64_t s = 99, h = 0;
    for (uint32_t i = 0; i < (1u << 20); ++i) insert(lcg(&s) | 1, i);
    s = 99;
    uint32_t found = 0;
    for (uint32_t i = 0; i < (1u << 20); ++i) {
        uint32_t v;
        const uint64_t k = lcg(&s) | 1;
        if (lookup(k, &v)) h = mix(h, v), ++found;
        if (lookup(k ^ 0x8000000000000000ull, &v)) h = mix(h, ~v);
    }
    return mix(h, found);
}
