#pragma once
// A minimal TCG "target" for tests: a CPU state with sixteen globals, a page
// of host scratch, and guest RAM mapped 1:1 (with an MMIO page and a ROM
// page) through the softmmu.
#include "qf/accel/tcg/ir.hpp"
#include "qf/accel/tcg/softmmu.hpp"
#include "qf/memory/address_space.hpp"
#include "qf/memory/ram.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

namespace qf::tcg::test {

struct rig_state {
    env_base base;
    std::uint64_t g[12];   // i64 globals
    std::uint32_t h[4];    // i32 globals
    std::uint64_t scratch[8];
    std::uint64_t calls;
};
static_assert(offsetof(rig_state, base) == 0);

inline constexpr std::uint64_t ram_base = 0x10000;
inline constexpr std::uint64_t ram_size = 0x4000;  // four pages
inline constexpr std::uint64_t mmio_base = ram_base + ram_size;
inline constexpr std::uint64_t rom_base = mmio_base + page_size;

struct mmio_log {
    std::vector<std::uint64_t> writes;  // offset << 32 | value
    std::uint8_t value = 0x5a;
};

class rig {
public:
    rig() : ram_(ram_size, "test ram"), rom_(page_size, "test rom") {
        as_.add({"ram", {ram_base}, ram_size, region_kind::ram, ram_.data()});
        as_.add({"rom", {rom_base}, page_size, region_kind::rom, rom_.data()});
        mmio_ops ops{
            [](void* d, std::uint64_t off, std::span<std::byte> data) {
                auto* log = static_cast<mmio_log*>(d);
                for (std::size_t i = 0; i < data.size(); ++i)
                    data[i] = std::byte(static_cast<std::uint8_t>(log->value + off + i));
            },
            [](void* d, std::uint64_t off, std::span<const std::byte> data) {
                auto* log = static_cast<mmio_log*>(d);
                std::uint64_t v = 0;
                std::memcpy(&v, data.data(), data.size());
                log->writes.push_back(off << 32 | v);
            },
            &mmio_};
        as_.add({"mmio", {mmio_base}, page_size, region_kind::mmio, nullptr, ops});
        for (std::size_t i = 0; i < page_size; ++i) rom_.data()[i] = std::byte(i * 7);
        reset_state();
    }

    void reset_state() {
        std::memset(st_.g, 0, sizeof st_.g);
        std::memset(st_.h, 0, sizeof st_.h);
        std::memset(st_.scratch, 0, sizeof st_.scratch);
        st_.calls = 0;
        st_.base.exit_request = 0;
        tlb_flush(&st_.base);
        st_.base.mmu = &ops_;
        st_.base.as = &as_;
        st_.base.owner = this;
    }

    rig_state& state() { return st_; }
    env_base* env() { return &st_.base; }
    std::byte* ram() { return ram_.data(); }
    mmio_log& mmio() { return mmio_; }
    const address_space& as() const { return as_; }
    unsigned fills = 0;

    // Globals g0..g11 (i64) and h0..h3 (i32) on a context.
    static void add_globals(context& ctx) {
        for (int i = 0; i < 12; ++i)
            ctx.global(type::i64, static_cast<std::int32_t>(offsetof(rig_state, g) + 8 * i), "g" + std::to_string(i));
        for (int i = 0; i < 4; ++i)
            ctx.global(type::i32, static_cast<std::int32_t>(offsetof(rig_state, h) + 4 * i), "h" + std::to_string(i));
    }
    static temp g(int i) { return temp{static_cast<std::uint32_t>(1 + i)}; }
    static temp h(int i) { return temp{static_cast<std::uint32_t>(13 + i)}; }

private:
    static void fill(env_base* env, std::uint64_t vaddr, access_type, unsigned mmu_idx, std::uintptr_t) {
        auto* self = static_cast<rig*>(env->owner);
        ++self->fills;
        tlb_set_page(env, vaddr, vaddr, prot::rwx, mmu_idx);
    }
    static void code_write(env_base*, std::uint64_t, unsigned, std::uintptr_t) {}
    static bool is_code_page(const env_base*, std::uint64_t) { return false; }

    host_memory ram_, rom_;
    address_space as_;
    mmio_log mmio_;
    softmmu_ops ops_{&fill, &code_write, &is_code_page};
    rig_state st_;
};

} // namespace qf::tcg::test
