/* LZ77-style compression (a hash of 3 bytes finds the last match within
   64 KiB; literals and matches as tokens) of 8 MiB of generated text, then
   decompression, checked against the original. */
#include "rt.h"

#define SIZE (8u << 20)
static uint8_t text[SIZE], packed[SIZE + SIZE / 8 + 16], unpacked[SIZE];
static uint32_t head[1 << 16];

static const char* const words[16] = {"the ",  "quick ", "brown ", "fox ",   "jumps ", "over ",  "lazy ", "dog ",
                                      "qforge ", "emulates ", "machines ", "and ", "runs ", "code ", "fast ", ". "};

static uint32_t compress(const uint8_t* in, uint32_t n, uint8_t* out) {
    uint32_t o = 0, i = 0, lit = 0;
    /* token: 0LLLLLLL literal run of L+1 bytes; 1LLLLLLL OOOOOOOO OOOOOOOO match of L+3 at distance O+1 */
    while (i < n) {
        uint32_t len = 0, dist = 0;
        if (i + 3 <= n) {
            const uint32_t h = ((uint32_t)in[i] << 16 ^ (uint32_t)in[i + 1] << 8 ^ in[i + 2]) * 2654435761u >> 16;
            const uint32_t cand = head[h];
            head[h] = i + 1;
            if (cand && i - (cand - 1) <= 65536) {
                const uint32_t c = cand - 1;
                while (i + len < n && len < 130 && in[c + len] == in[i + len]) ++len;
                dist = i - c;
            }
        }
        if (len >= 3) {
            if (lit) {
                out[o++] = (uint8_t)(lit - 1);
                memcpy(out + o, in + i - lit, lit);
                o += lit;
                lit = 0;
            }
            out[o++] = (uint8_t)(0x80 | (len - 3));
            out[o++] = (uint8_t)((dist - 1) >> 8);
            out[o++] = (uint8_t)(dist - 1);
            i += len;
        } else {
            ++i;
            if (++lit == 128) {
                out[o++] = 127;
                memcpy(out + o, in + i - lit, lit);
                o += lit;
                lit = 0;
            }
        }
    }
    if (lit) {
        out[o++] = (uint8_t)(lit - 1);
        memcpy(out + o, in + i - lit, lit);
        o += lit;
    }
    return o;
}

static uint32_t decompress(const uint8_t* in, uint32_t n, uint8_t* out) {
    uint32_t i = 0, o = 0;
    while (i < n) {
        const uint8_t t = in[i++];
        if (t & 0x80) {
            const uint32_t len = (t & 0x7f) + 3u, dist = ((uint32_t)in[i] << 8 | in[i + 1]) + 1u;
            i += 2;
            for (uint32_t k = 0; k < len; ++k, ++o) out[o] = out[o - dist];
        } else {
            memcpy(out + o, in + i, t + 1u);
            o += t + 1u;
            i += t + 1u;
        }
    }
    return o;
}

uint64_t bench_run(void) {
    uint64_t s = 5;
    for (uint32_t i = 0; i < SIZE;) {
        const uint64_t r = lcg(&s) >> 33;
        const char* w = words[r & 15];
        if ((r >> 4 & 7) == 0) text[i++] = (uint8_t)('a' + (r >> 8) % 26);  /* some noise */
        for (; *w && i < SIZE; ++w) text[i++] = (uint8_t)*w;
    }
    const uint32_t n = compress(text, SIZE, packed);
    const uint32_t m = decompress(packed, n, unpacked);
    if (m != SIZE || memcmp(text, unpacked, SIZE) != 0) return 0xbad;
    uint64_t h = mix(0, n);
    for (uint32_t i = 0; i < n; i += 4096) h = mix(h, packed[i]);
    return h;
}
