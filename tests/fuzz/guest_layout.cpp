#include "guest_layout.hpp"

#include <cstring>

namespace qf::fuzz {

cpu_config cpu_config::from(std::uint8_t mode, std::uint8_t cpu, std::uint8_t engine) {
    cpu_config c;
    c.mode = static_cast<cpu_mode>(mode % static_cast<unsigned>(cpu_mode::count));
    c.iflag = cpu & 1;
    c.tflag = (cpu & 0x22) == 0x22;  // rarely: a #DB after every instruction
    c.iopl = (cpu >> 2) & 3;
    c.ac = cpu & 0x10;
    c.ts = (cpu & 0x60) == 0x40;
    c.em = (cpu & 0x60) == 0x60;
    c.wp_tsd = cpu & 0x80;
    c.one_insn_per_tb = (engine & 3) == 3;
    c.nochain = engine & 2;
    c.small_buffer = engine & 4;
    c.deliver = engine & 8;
    c.unhooked = (engine & 0x18) == 0x10;
    static constexpr unsigned insns[] = {512, 1, 3, 32};
    c.max_insns = insns[(engine >> 5) & 3];
    c.split_wx = !(engine & 0x80);
    c.watchpoints = (engine & 0x81) == 0x81;
    return c;
}

std::string cpu_config::describe() const {
    static const char* const modes[] = {"real", "prot16", "prot32", "prot32-ring3", "prot32-paging", "v86", "long64",
                                        "long64-ring3", "compat32"};
    std::string s = modes[static_cast<unsigned>(mode)];
    s += " iopl=" + std::to_string(iopl);
    if (iflag) s += " IF";
    if (tflag) s += " TF";
    if (ac) s += " AC+AM";
    if (ts) s += " CR0.TS";
    if (em) s += " CR0.EM";
    if (wp_tsd) s += " CR0.WP+CR4.TSD";
    s += deliver ? ", exceptions delivered" : ", exceptions resume a byte on";
    if (unhooked) s += ", no instruction hook";
    if (watchpoints) s += ", watchpoints";
    s += ", max-insns=" + std::to_string(max_insns);
    if (one_insn_per_tb) s += " one-insn-per-tb";
    if (nochain) s += " nochain";
    if (small_buffer) s += " tb-size=1";
    if (!split_wx) s += " split-wx=off";
    return s;
}

std::uint64_t layout::initial_gpr(unsigned reg, bool sixteen_bit) {
    switch (reg) {
    case 0: return 0x1234;                          // eax
    case 1: return 0x40;                            // ecx: a count
    case 2: return 0x3f8;                           // edx: a port
    case 3: return sixteen_bit ? 0x100 : 0x20000;  // ebx
    case 5: return sixteen_bit ? 0x200 : 0x28000;  // ebp
    case 6: return sixteen_bit ? 0x300 : 0x30000;  // esi
    case 7: return sixteen_bit ? 0x400 : 0x38000;  // edi
    default: return reg >= 8 ? 0x40000 + reg * 0x1000 : 0;
    }
}

std::uint64_t handler_address(unsigned n, std::size_t code_len) {
    return layout::code + (code_len > 1 ? (n * 0x9e37ull + 0x40) % code_len : 0);
}

namespace {

std::uint64_t seg_desc(std::uint32_t base, std::uint32_t limit, std::uint8_t access, std::uint8_t flags) {
    return (limit & 0xffffull) | (std::uint64_t{base} & 0xffffff) << 16 | std::uint64_t{access} << 40 |
           std::uint64_t{(limit >> 16) & 0xf} << 48 | std::uint64_t{flags & 0xfu} << 52 | std::uint64_t{base >> 24} << 56;
}

} // namespace

void write_tables(std::span<std::uint8_t> mem, const cpu_config& cfg, std::size_t code_len, bool tss_busy) {
    using namespace layout;
    auto put64 = [&](std::uint64_t at, std::uint64_t v) { std::memcpy(mem.data() + at, &v, 8); };
    auto put32 = [&](std::uint64_t at, std::uint32_t v) { std::memcpy(mem.data() + at, &v, 4); };
    auto put16 = [&](std::uint64_t at, std::uint16_t v) { std::memcpy(mem.data() + at, &v, 2); };
    auto handler = [&](unsigned n) { return handler_address(n, code_len); };
    // GDT: flat ring 0 and ring 3 code and data, 64-bit code, 16-bit code
    // at the code's base, the TSS, an LDT, and some odd ones (a call gate,
    // expand-down, conforming, read-only, a based code segment) for the
    // code's own selector loads.
    const std::uint64_t g[] = {
        0,
        seg_desc(0, 0xfffff, 0x9b, 0xc),         // 0x08 code32
        seg_desc(0, 0xfffff, 0x93, 0xc),         // 0x10 data32
        seg_desc(0, 0xfffff, 0xfb, 0xc),         // 0x18 code32 ring 3
        seg_desc(0, 0xfffff, 0xf3, 0xc),         // 0x20 data32 ring 3
        seg_desc(0, 0xfffff, 0xfb, 0xa),         // 0x28 code64 ring 3
        seg_desc(0, 0xfffff, 0x9b, 0xa),         // 0x30 code64
        seg_desc(0, 0xfffff, 0x93, 0xc),         // 0x38 data (SYSCALL's SS)
        seg_desc(code, 0xffff, 0x9b, 0),         // 0x40 code16
        seg_desc(0, 0xffff, 0x93, 0),            // 0x48 data16
        seg_desc(tss, 0x467, tss_busy ? 0x8b : 0x89, 0), 0,  // 0x50 TSS, 16 bytes in long mode
        seg_desc(ldt, 0x1f, 0x82, 0), 0,         // 0x60 LDT
        // 0x70: a ring-3 call gate to ring-0 code (32-bit form; its upper
        // half, 0x78, is zero as a 64-bit gate needs).
        (handler(0x70) & 0xffff) | std::uint64_t{sel::code32} << 16 | 0xecull << 40 | (handler(0x70) >> 16) << 48, 0,
        seg_desc(0, 0x7fff, 0x97, 0x4),          // 0x80 expand-down data
        seg_desc(0, 0xfffff, 0x9f, 0xc),         // 0x88 conforming code
        seg_desc(0, 0xfffff, 0xf1, 0xc),         // 0x90 read-only data, ring 3
        seg_desc(code, 0xffff, 0x9b, 0x4),       // 0x98 code32 based at the code, 64 KiB
    };
    static_assert(sizeof g == gdt_limit + 1);
    std::memcpy(mem.data() + gdt, g, sizeof g);
    const std::uint64_t l[] = {seg_desc(0, 0xfffff, 0xfb, 0xc), seg_desc(0, 0xfffff, 0xf3, 0xc),
                               seg_desc(0, 0xfffff, 0x93, 0xc), seg_desc(code, 0xffff, 0x9b, 0)};
    std::memcpy(mem.data() + ldt, l, sizeof l);

    // Vectors lead into the code; odd ones are trap gates; all are
    // reachable by INT n from ring 3.
    for (unsigned v = 0; v < 256; ++v) {
        const std::uint64_t h = handler(v);
        put16(v * 4, static_cast<std::uint16_t>(h - code));  // IVT: segment 0x1000
        put16(v * 4 + 2, static_cast<std::uint16_t>(code >> 4));
        const std::uint64_t type = (v & 1) ? 0xef : 0xee;
        if (cfg.long_mode()) {
            put64(idt + v * 16, (h & 0xffff) | std::uint64_t{sel::code64} << 16 | type << 40 | ((h >> 16) & 0xffff) << 48);
            put64(idt + v * 16 + 8, h >> 32);
        } else {
            put64(idt + v * 8, (h & 0xffff) | std::uint64_t{sel::code32} << 16 | type << 40 | ((h >> 16) & 0xffff) << 48);
        }
    }

    // The TSS: the ring-0 stack for exceptions from ring 3 and virtual-8086
    // mode, and an I/O bitmap that denies ports 0x80-0xff (ports past 0x1fff
    // are beyond its limit).
    if (cfg.long_mode()) {
        put64(tss + 4, stack0_top);
    } else {
        put32(tss + 4, stack0_top);
        put32(tss + 8, sel::data32);
    }
    put16(tss + 0x66, 0x68);
    std::memset(mem.data() + tss + 0x68 + 0x10, 0xff, 0x10);

    // 32-bit paging: 4 MiB identity at 0 (RAM, MMIO, ROM), and at 12 MiB a
    // table of 4 KiB pages over RAM, some absent, read-only or kernel-only.
    constexpr std::uint64_t P = 1, RW = 2, US = 4, PS = 0x80, NX = 1ull << 63;
    put32(pd32, P | RW | US | PS);
    put32(pd32 + 3 * 4, static_cast<std::uint32_t>(pt32 | P | RW | US));
    for (unsigned i = 0; i < 1024; ++i) {
        const std::uint64_t flags = (i % 8 == 7 ? 0 : P) | (i & 1 ? RW : 0) | (i & 2 ? 0 : US);
        put32(pt32 + i * 4, static_cast<std::uint32_t>(0x100000 + (i % 256) * 0x1000 + flags));
    }
    // 4-level: 2 MiB pages at 0 and 2 MiB, a table of 4 KiB pages at 4 MiB
    // (some absent, read-only, kernel-only, no-execute), a 1 GiB page at 3 GiB.
    put64(pml4, pdpt | P | RW | US);
    put64(pdpt, pd64 | P | RW | US);
    put64(pdpt + 3 * 8, 0xc000'0000 | P | RW | US | PS);
    put64(pd64, P | RW | US | PS);
    put64(pd64 + 8, 0x200000 | P | RW | US | PS);
    put64(pd64 + 16, pt64 | P | RW | US);
    for (unsigned i = 0; i < 512; ++i) {
        const std::uint64_t flags = (i % 8 == 7 ? 0 : P) | (i & 1 ? RW : 0) | (i & 2 ? 0 : US) | (i & 4 ? NX : 0);
        put64(pt64 + i * 8, 0x100000 + (i % 256) * 0x1000 + flags);
    }
}

} // namespace qf::fuzz
