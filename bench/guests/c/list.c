/* Pointer chasing: a singly linked list of 1 M nodes in a random order
   through memory, walked 16 times. */
#include "rt.h"

#define N (1u << 20)
struct node { struct node* next; uint64_t value; };
static struct node nodes[N];
static uint32_t order[N];

uint64_t bench_run(void) {
    uint64_t s = 3;
    for (uint32_t i = 0; i < N; ++i) order[i] = i;
    for (uint32_t i = N - 1; i > 0; --i) {  /* Fisher-Yates */
        const uint32_t j = (uint32_t)((lcg(&s) >> 32) % (i + 1));
        const uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (uint32_t i = 0; i < N; ++i) {
        nodes[order[i]].next = i + 1 < N ? &nodes[order[i + 1]] : 0;
        nodes[order[i]].value = lcg(&s) >> 20;
    }
    uint64_t h = 0;
    for (int pass = 0; pass < 16; ++pass) {
        uint64_t sum = 0;
        for (const struct node* n = &nodes[order[0]]; n; n = n->next) sum += n->value ^ (uint64_t)pass;
        h = mix(h, sum);
    }
    return h;
}
