#pragma once
// Random firmware images: the prologue (firmware/prologue.asm, assembled at
// build time) with the tables of guest_layout.hpp, a configuration block
// and a payload filled in. 128 KiB, for -bios (the generator tool writes
// them to files for qforge-system-x86_64 -M testrig; the firmware fuzz
// target runs them in process).
#include "guest_layout.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace qf::fuzz {

inline constexpr std::size_t firmware_size = 128 * 1024;
inline constexpr std::size_t max_payload = 0xe000;

// The assembled prologue (QF_FUZZ_PROLOGUE, the build tree's
// firmware/fuzz-prologue.bin); throws qf::error when it cannot be read.
const std::vector<std::uint8_t>& firmware_prologue();

// The image for a configuration (mode, flags; the engine bits do not
// matter here) and a payload (at most max_payload bytes are used).
std::vector<std::uint8_t> build_firmware(const cpu_config& cfg, std::span<const std::uint8_t> payload);

// Payloads for the generator tool and the fuzz target's random mode:
// random bytes, or "half-random" instruction streams (prefixes, the 0F
// maps, ModRM forms, far transfers, system instructions, port I/O to the
// rig's UART and exit port).
std::vector<std::uint8_t> random_payload(std::uint64_t seed, std::size_t size, bool half_random);

} // namespace qf::fuzz
