#pragma once
// The x86 CPU as GDB's remote protocol sees it: the target description
// (qXfer:features:read:target.xml) and the registers in its order, as the
// g/G/p/P packets carry them (little-endian bytes). x86-64 for a CPU model
// with long mode, as qemu-system-x86_64 always describes it (GDB's
// org.gnu.gdb.i386.core, .sse and .segments features, then the control
// registers), i386 for one without, which is what real- and protected-mode
// firmware on such a model wants.
#include "targets/x86/cpu_state.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qf::x86::gdb {

const std::string& target_xml(bool x86_64);
unsigned register_count(bool x86_64);

// Register n's bytes; empty where there is no register n. cr8: the local
// APIC's task priority, which the state does not hold.
std::vector<std::uint8_t> read_register(const state& s, bool x86_64, unsigned n, std::uint64_t cr8 = 0);
// Every register, in order (the g packet).
std::vector<std::uint8_t> read_registers(const state& s, bool x86_64, std::uint64_t cr8 = 0);
// A register by the name the monitor's expressions use ($rax, $eax, $pc
// (linear), $eflags, $cs, $cr3, ...); nullopt for none.
std::optional<std::uint64_t> register_by_name(const state& s, std::string_view name, std::uint64_t cr8 = 0);
// CR8's number (x86-64 only; -1 without): its writes go to the local APIC.
int cr8_register(bool x86_64);

// A segment descriptor's 8 bytes at a linear address, for a selector
// written in protected mode; false where it cannot be read.
using descriptor_reader = std::function<bool(std::uint64_t linear, std::uint64_t& out)>;

// Writes register n from exactly its size in bytes; false for no such
// register, a wrong size or a selector whose descriptor cannot be read.
// The caller recomputes what derives from the state (hflags, the TLB).
bool write_register(state& s, bool x86_64, unsigned n, std::span<const std::uint8_t> bytes,
                    const descriptor_reader& read_descriptor);
// The G packet: every register; false (nothing written) on a size mismatch.
bool write_registers(state& s, bool x86_64, std::span<const std::uint8_t> bytes,
                     const descriptor_reader& read_descriptor);

} // namespace qf::x86::gdb
