#include "firmware_image.hpp"

#include "insn_stream.hpp"
#include "qf/core/error.hpp"
#include "qf/machine/firmware.hpp"

#include <algorithm>
#include <cstring>
#include <random>

namespace qf::fuzz {

namespace {
// Offsets in the image (prologue.asm's CFG and its fields).
constexpr std::size_t cfg_at = 0x1e000;
constexpr std::size_t c_mode = cfg_at, c_eflags = cfg_at + 4, c_cr0 = cfg_at + 8, c_cr4 = cfg_at + 0xc,
                      c_msrs = cfg_at + 0x10, c_len = cfg_at + 0x60, c_regs = cfg_at + 0x80;
} // namespace

const std::vector<std::uint8_t>& firmware_prologue() {
    static const std::vector<std::uint8_t> image = [] {
        const auto b = read_file("fuzz prologue", QF_FUZZ_PROLOGUE);
        if (b.size() != firmware_size) throw error(std::string(QF_FUZZ_PROLOGUE) + ": not a 128 KiB prologue image");
        std::vector<std::uint8_t> v(b.size());
        std::memcpy(v.data(), b.data(), b.size());
        return v;
    }();
    return image;
}

std::vector<std::uint8_t> build_firmware(const cpu_config& cfg, std::span<const std::uint8_t> payload) {
    std::vector<std::uint8_t> img = firmware_prologue();
    const std::size_t len = std::min(payload.size(), max_payload);
    write_tables(std::span(img.data(), 0x10000), cfg, len, false);
    std::memset(img.data() + layout::code, 0xff, max_payload);
    std::memcpy(img.data() + layout::code, payload.data(), len);
    auto put = [&](std::size_t at, std::uint64_t v, unsigned n) { std::memcpy(img.data() + at, &v, n); };
    put(c_mode, static_cast<unsigned>(cfg.mode), 1);
    put(c_eflags, 2 | (cfg.iflag ? 1u << 9 : 0) | (cfg.tflag ? 1u << 8 : 0) | cfg.iopl << 12 | (cfg.ac ? 1u << 18 : 0), 4);
    put(c_cr0, 2 | 0x20 | (cfg.ts ? 8 : 0) | (cfg.em ? 4 : 0) | (cfg.ac ? 1u << 18 : 0) | (cfg.wp_tsd ? 1u << 16 : 0), 4);
    put(c_cr4, (1u << 9) | (1u << 10) | (cfg.wp_tsd ? 4 : 0), 4);
    const std::uint64_t msrs[] = {std::uint64_t{0x18} << 48 | std::uint64_t{sel::code64} << 32 | handler_address(0x101, len),
                                  handler_address(0x102, len), handler_address(0x103, len), 0x700, sel::code32,
                                  layout::stack0_top, handler_address(0x104, len)};
    for (unsigned i = 0; i < 7; ++i) put(c_msrs + i * 8, msrs[i], 8);
    // The payload and the 0xff after it (#UD, where it runs off its end).
    put(c_len, std::min<std::size_t>(len / 4 + 4, max_payload / 4), 2);
    for (unsigned i = 0; i < 16; ++i) put(c_regs + i * 8, layout::initial_gpr(i, cfg.sixteen_bit()), 8);
    return img;
}

std::vector<std::uint8_t> random_payload(std::uint64_t seed, std::size_t size, bool half_random) {
    // The decoder's table (fuzz_decoder.cpp) without RDMSR and SWAPGS, and
    // with port I/O: the exit port, the PIT, the PIC, port 92, IN and OUT
    // through DX.
    static constexpr system_insn system[] = {
        {0x0f, 0x22, 0xc0}, {0x0f, 0x20, 0xc0}, {0x0f, 0x30, 0}, {0x0f, 0x05, 0}, {0x0f, 0x07, 0}, {0x0f, 0x34, 0},
        {0x0f, 0x35, 0}, {0xcf, 0, 0}, {0x8e, 0xd8, 0}, {0x8e, 0xd0, 0}, {0xcd, 0x80, 0}, {0x0f, 0x00, 0xd8},
        {0x0f, 0x01, 0xd0}, {0x0f, 0xa2, 0}, {0x9d, 0, 0}, {0xfa, 0, 0}, {0xfb, 0, 0}, {0xf4, 0, 0}, {0x0f, 0x06, 0},
        {0xcc, 0, 0}, {0x0f, 0x0b, 0}, {0x0f, 0xae, 0x00}, {0xe6, 0xf4, 0}, {0xe6, 0x43, 0}, {0xe6, 0x40, 0},
        {0xe6, 0x20, 0}, {0xe6, 0x21, 0}, {0xe6, 0x92, 0}, {0xee, 0, 0}, {0xec, 0, 0}, {0xe4, 0xfd, 0}};
    std::mt19937_64 rng(seed);
    std::vector<std::uint8_t> out(size);
    insn_writer w(rng, out.data(), size);
    if (!half_random) {
        while (!w.full()) w.put(static_cast<unsigned>(w.next()));
        return out;
    }
    // insn_stream.hpp's kinds: a system instruction or a port the rig's
    // devices answer (a sixth), a far jump or call (a twelfth), a write to
    // COM1 or the exit port (a twelfth), any other.
    while (!w.full()) {
        switch (w.below(12)) {
        case 0:
        case 1: w.system(system); break;
        case 2: w.far_transfer(); break;
        case 3: w.port_out(); break;
        default: w.any(); break;
        }
    }
    return out;
}

} // namespace qf::fuzz
