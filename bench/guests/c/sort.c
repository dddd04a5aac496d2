/* Quicksort and mergesort of the same 1 M 32-bit integers. */
#include "rt.h"

#define N (1u << 20)
static uint32_t a[N], b[N], tmp[N];

static void quicksort(uint32_t* v, long lo, long hi) {
    while (lo < hi) {
        const uint32_t x = v[lo], y = v[(lo + hi) / 2], z = v[hi];  /* median of three */
        const uint32_t p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        long i = lo, j = hi;
        while (i <= j) {
            while (v[i] < p) ++i;
            while (v[j] > p) --j;
            if (i <= j) {
                const uint32_t t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        if (j - lo < hi - i) {  /* recurse on the smaller side */
            quicksort(v, lo, j);
            lo = i;
        } else {
            quicksort(v, i, hi);
            hi = j;
        }
    }
}

/* Bottom-up, between v and t by turns; the result ends in v. */
static void mergesort(uint32_t* v, uint32_t* t, uint32_t n) {
    uint32_t *src = v, *dst = t;
    for (uint32_t w = 1; w < n; w *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * w) {
            const uint32_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            uint32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) dst[k++] = src[i] <= src[j] ? src[i++] : src[j++];
            while (i < mid) dst[k++] = src[i++];
            while (j < hi) dst[k++] = src[j++];
        }
        uint32_t* x = src;
        src = dst;
        dst = x;
    }
    if (src != v) memcpy(v, src, n * sizeof *v);
}

uint64_t bench_run(void) {
    uint64_t s = 42, h = 0;
    for (uint32_t i = 0; i < N; ++i) a[i] = b[i] = (uint32_t)(lcg(&s) >> 32);
    quicksort(a, 0, N - 1);
    mergesort(b, tmp, N);
    for (uint32_t i = 0; i < N; ++i) {
        if (a[i] != b[i] || (i && a[i - 1] > a[i])) return 0xbad;
        if ((i & 1023) == 0) h = mix(h, a[i]);
    }
    return h;
}
