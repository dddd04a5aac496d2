/* A firmware's settings-blob parser with a planted bug: the target of
   examples/fuzz-firmware (README.md). It boots (start.asm), says it is
   ready on port 0x5f0 - where qforge-fuzz takes its snapshot - parses the
   input qforge-fuzz put at 2 MiB (a 32-bit length, then the bytes), and
   writes the result to port 0x5f1.

   The blob: "QFCF", a version byte (1), a record count, then records of
   type, length, data:
     1  name (up to 31 bytes kept)
     2  boot order (each entry 0-3)
     3  checksum (4 bytes)
     4  patch: a 32-bit offset into the patch area, then the bytes to put there */
#include <stddef.h>
#include <stdint.h>

#define READY_PORT 0x5f0
#define DONE_PORT 0x5f1
#define INPUT_AT 0x200000u

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }

/* The settings the blob sets (global: what a firmware's other parts read). */
struct settings {
    char name[32];
    uint8_t boot_order[4];
    uint8_t patch_area[64];
    uint32_t checksum;
};
struct settings cfg;

static uint32_t rd32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static int parse(const uint8_t* p, uint32_t n) {
    static const char magic[4] = {'Q', 'F', 'C', 'F'};
    if (n < 6) return 1;
    for (int i = 0; i < 4; ++i)
        if (p[i] != magic[i]) return 2;
    if (p[4] != 1) return 3;
    const uint8_t count = p[5];
    uint32_t at = 6;
    for (uint8_t r = 0; r < count; ++r) {
        if (n - at < 2) return 4;
        const uint8_t type = p[at], len = p[at + 1];
        const uint8_t* d = p + at + 2;
        if (n - at - 2 < len) return 4;
        switch (type) {
        case 1: {
            const uint32_t k = len < 31 ? len : 31;
            for (uint32_t j = 0; j < k; ++j) cfg.name[j] = (char)d[j];
            cfg.name[k] = 0;
            break;
        }
        case 2:
            for (uint32_t j = 0; j < len && j < 4; ++j) {
                if (d[j] > 3) return 5;
                cfg.boot_order[j] = d[j];
            }
            break;
        case 3:
            if (len != 4) return 5;
            cfg.checksum = rd32(d);
            break;
        case 4: {
            if (len < 4) return 5;
            const uint32_t off = rd32(d), cnt = len - 4u;
            /* The planted bug: off + cnt wraps past 2^32 and passes the
               check, and the copy lands gigabytes past the patch area. */
            if (off + cnt > sizeof cfg.patch_area) return 6;
            for (uint32_t j = 0; j < cnt; ++j) cfg.patch_area[off + j] = d[4 + j];
            break;
        }
        default: return 7;
        }
        at += 2u + len;
    }
    return 0;
}

extern char __bss_start[], __bss_end[];

__attribute__((section(".text.entry"), noreturn)) void fw_entry(void) {
    for (char* b = __bss_start; b < __bss_end; ++b) *(volatile char*)b = 0;
    outb(READY_PORT, 0);
    const uint32_t n = *(volatile const uint32_t*)INPUT_AT;
    outb(DONE_PORT, (uint8_t)parse((const uint8_t*)(uintptr_t)(INPUT_AT + 4), n));
    for (;;) __asm__ volatile("cli; hlt");
}
