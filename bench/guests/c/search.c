/* String search: Boyer-Moore-Horspool for 64 patterns over 1 MiB of
   generated text, counting matches, and a naive byte-by-byte check of one
   pattern's count. */
#include "rt.h"

#define SIZE (1u << 20)
static uint8_t text[SIZE];

static uint32_t horspool(const uint8_t* t, uint32_t n, const uint8_t* p, uint32_t m) {
    uint32_t skip[256], count = 0;
    for (int i = 0; i < 256; ++i) skip[i] = m;
    for (uint32_t i = 0; i + 1 < m; ++i) skip[p[i]] = m - 1 - i;
    for (uint32_t i = 0; i + m <= n; i += skip[t[i + m - 1]]) {
        uint32_t j = m;
        while (j && t[i + j - 1] == p[j - 1]) --j;
        count += j == 0;
    }
    return count;
}

static uint32_t naive(const uint8_t* t, uint32_t n, const uint8_t* p, uint32_t m) {
    uint32_t count = 0;
    for (uint32_t i = 0; i + m <= n; ++i) {
        uint32_t j = 0;
        while (j < m && t[i + j] == p[j]) ++j;
        count += j == m;
    }
    return count;
}

uint64_t bench_run(void) {
    uint64_t s = 11, h = 0;
    for (uint32_t i = 0; i < SIZE; ++i) text[i] = (uint8_t)('a' + (lcg(&s) >> 40) % 8);  /* 8 letters: many near matches */
    uint8_t pat[16];
    for (int k = 0; k < 64; ++k) {
        const uint32_t m = 4 + (uint32_t)(k % 9);
        const uint32_t at = (uint32_t)(lcg(&s) >> 44) % (SIZE - 16);
        memcpy(pat, text + at, m);  /* each occurs at least once */
        const uint32_t c = horspool(text, SIZE, pat, m);
        if (k == 0 && c != naive(text, SIZE, pat, m)) return 0xbad;
        h = mix(h, c);
    }
    return h;
}
