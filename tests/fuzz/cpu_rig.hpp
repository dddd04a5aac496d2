#pragma once
// One bare x86 CPU under TCG for the decoder and translator fuzz target: a
// small RAM with descriptor tables, page tables and stacks laid out for
// each CPU mode, a page of MMIO and a page of ROM, ports that answer from
// a counter, and guest code from the fuzzer's input. It runs on one
// backend to a bounded end and keeps what a comparison needs: the
// architectural state, RAM, and a hash of every exception, port and MMIO
// access on the way. The JIT's outcome must equal the interpreter's.
//
// Only this header's types reach the target; the CPU's headers stay in
// cpu_rig.cpp.
#include "guest_layout.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace qf::fuzz {

enum class cpu_end : std::uint8_t { halted, budget, exceptions, triple_fault, error, wall_clock };

struct cpu_outcome;

class cpu_run {
public:
    // Runs `code` at the code address on the given backend (true: the
    // interpreter).
    cpu_run(const cpu_config& cfg, std::span<const std::uint8_t> code, bool interpreter);
    ~cpu_run();
    cpu_run(const cpu_run&) = delete;
    cpu_run& operator=(const cpu_run&) = delete;

    cpu_end end() const;
    bool comparable() const { return end() != cpu_end::wall_clock; }
    // Empty when the two runs agree, else what differs first, with both
    // states in full.
    std::string difference(const cpu_run& other) const;
    std::string summary() const;

private:
    std::unique_ptr<cpu_outcome> o_;
};

} // namespace qf::fuzz
