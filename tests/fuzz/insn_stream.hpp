#pragma once
// Half-random x86 code, for the generators of the CPU fuzz targets (the
// decoder's inputs, fuzz_decoder.cpp, and the firmware images' payloads,
// firmware_image.cpp): instruction streams rather than uniform bytes -
// prefixes, REX, the 0F maps, ModRM forms with small displacements, and the
// opcodes that change mode or flow (far jumps and calls, IRET, segment
// loads, MOV CR, WRMSR, SYSCALL, INT) often enough that the state they
// reach gets exercised.
//
// Each generator picks among the kinds below with its own odds and its own
// table of system instructions; the random numbers each kind draws, and in
// what order, are fixed, so that a seed gives the same stream it always has.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <random>
#include <span>

namespace qf::fuzz {

// An opcode and up to two more bytes (0: none). A third byte of 0xc0 or
// above is a register-form ModRM whose register fields are varied.
using system_insn = std::uint8_t[3];

class insn_writer {
public:
    // Writes at most max bytes at out, drawing from rng.
    insn_writer(std::mt19937_64& rng, std::uint8_t* out, std::size_t max) : rng_(rng), out_(out), max_(max) {}

    std::uint64_t next() { return rng_(); }
    unsigned below(unsigned n) { return static_cast<unsigned>(rng_() % n); }
    // A byte, unless the output is full.
    void put(unsigned b) {
        if (n_ < max_) out_[n_++] = static_cast<std::uint8_t>(b);
    }
    std::size_t size() const { return n_; }
    bool full() const { return n_ >= max_; }

    // One of the table's instructions.
    void system(std::span<const system_insn> table) {
        const auto& s = table[below(static_cast<unsigned>(table.size()))];
        put(s[0]);
        if (s[1]) put(s[1]);
        if (s[2]) put(s[2] | (s[2] >= 0xc0 ? below(64) : 0));
    }

    // A far JMP or CALL (16- or 32-bit offset) to a selector of the guest
    // layout's GDT or LDT (guest_layout.hpp), or to a bad one.
    void far_transfer() {
        static constexpr std::uint8_t sels[] = {0x08, 0x10, 0x1b, 0x23, 0x2b, 0x30, 0x40, 0x50,
                                                0x60, 0x70, 0x83, 0x88, 0x98, 0x04, 0x0f};
        if (below(2)) put(0x66);
        put(below(2) ? 0xea : 0x9a);
        put(below(64));
        put(0);
        if (below(2)) {
            put(1);
            put(0);
        }
        put(sels[below(std::size(sels))]);
        put(0);
    }

    // MOV DX, a COM1 port or the exit port; OUT DX, AL.
    void port_out() {
        put(0x66);
        put(0xba);
        const unsigned port = below(2) ? 0x3f8 + below(8) : 0xf4;
        put(port & 0xff);
        put(port >> 8);
        put(0xee);
    }

    // Now and then prefixes; an opcode of the one-byte, 0F, 0F 38 or 0F 3A
    // map; ModRM: registers, or memory through a register with a small
    // displacement, so that most accesses land in the data area; then a
    // few bytes, mostly small, for SIB, displacement and immediate.
    void any() {
        static constexpr std::uint8_t prefixes[] = {0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x3e, 0x26,
                                                    0x64, 0x65, 0x36, 0x48, 0x41, 0x4c, 0x40};
        const unsigned np = below(4) == 0 ? 1 + below(3) : 0;
        for (unsigned k = 0; k < np; ++k) put(prefixes[below(std::size(prefixes))]);
        switch (below(8)) {
        case 0:
        case 1: put(0x0f); break;
        case 2:
            put(0x0f);
            put(below(2) ? 0x38 : 0x3a);
            break;
        default: break;
        }
        put(static_cast<unsigned>(next()));
        const unsigned mod = below(4);
        put(mod << 6 | below(64));
        const unsigned extra = below(6);
        for (unsigned k = 0; k < extra; ++k) put(below(3) ? below(16) : static_cast<unsigned>(next()));
    }

private:
    std::mt19937_64& rng_;
    std::uint8_t* out_;
    std::size_t max_;
    std::size_t n_ = 0;
};

} // namespace qf::fuzz
