#pragma once
// The shape of a memory access, shared by the IR, the softmmu and backends.
#include <cstdint>

namespace qf::tcg {

// Guest and host memory operation: log2 size in bits 0-1, sign-extend in bit 2.
namespace memop {
inline constexpr std::uint32_t ub = 0, uw = 1, ul = 2, uq = 3;
inline constexpr std::uint32_t sign = 4;
inline constexpr std::uint32_t sb = ub | sign, sw = uw | sign, sl = ul | sign;
constexpr unsigned size_log2(std::uint32_t m) { return m & 3; }
constexpr unsigned size(std::uint32_t m) { return 1u << (m & 3); }
constexpr bool is_signed(std::uint32_t m) { return (m & sign) != 0; }
// qemu_ld/qemu_st carry the MMU index beside the memop.
constexpr std::uint32_t with_mmu(std::uint32_t m, unsigned mmu_idx) { return (m & 0xff) | (mmu_idx << 8); }
constexpr unsigned mmu_of(std::uint32_t oi) { return oi >> 8; }
constexpr std::uint32_t op_of(std::uint32_t oi) { return oi & 0xff; }
} // namespace memop

} // namespace qf::tcg
