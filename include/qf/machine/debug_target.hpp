#pragma once
// What a debugger (the gdbstub) may do to a machine's CPUs, whatever their
// architecture or accelerator: the board fills one in, the session hands it
// to the gdbstub. Every call comes from the main loop while the VM is
// stopped, except the breakpoint and step settings, which may also come
// while it runs (they take effect at the CPUs' next stop).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qf {

// Why a CPU stopped for the debugger.
struct debug_event {
    enum class kind : std::uint8_t { breakpoint, step, watch_write, watch_read, watch_access };
    kind what = kind::breakpoint;
    std::uint64_t watch_addr = 0;  // the watchpoint's address
};

struct debug_target {
    // GDB's target description (target.xml) and its register count.
    std::string target_xml;
    unsigned registers = 0;

    // Registers as the g/p packets carry them (target byte order); an empty
    // answer: no such register.
    std::function<std::vector<std::uint8_t>(unsigned cpu)> read_registers;
    std::function<std::vector<std::uint8_t>(unsigned cpu, unsigned reg)> read_register;
    // False: a bad size, an unknown register or a value the CPU refuses.
    std::function<bool(unsigned cpu, std::span<const std::uint8_t>)> write_registers;
    std::function<bool(unsigned cpu, unsigned reg, std::span<const std::uint8_t>)> write_register;

    // A register by the name a monitor expression gives ($rax, $pc).
    std::function<std::optional<std::uint64_t>(unsigned cpu, std::string_view name)> register_value;
    // The CPU's code size now (16, 32 or 64): how x/i decodes.
    std::function<unsigned(unsigned cpu)> code_bits;
    // c ADDR and s ADDR: resume there.
    std::function<bool(unsigned cpu, std::uint64_t pc)> set_pc;

    // Memory at the CPU's virtual (linear) addresses; false where its page
    // tables map nothing. Writes reach ROM too (as a debugger expects) and
    // drop the code translated from what they change.
    std::function<bool(unsigned cpu, std::uint64_t addr, std::span<std::byte> out)> read_memory;
    std::function<bool(unsigned cpu, std::uint64_t addr, std::span<const std::byte> in)> write_memory;

    // GDB's Z/z types: 0 software and 1 hardware breakpoint, 2 write, 3
    // read and 4 access watchpoint, on every CPU. Returns 1 done, 0 not
    // supported, -1 refused (no room, a bad length).
    std::function<int(int type, std::uint64_t addr, std::uint64_t len, bool insert)> breakpoint;
    std::function<void()> remove_all_breakpoints;
    // Whether the CPU stops after its next instruction.
    std::function<void(unsigned cpu, bool on)> single_step;
    // Whether it waits for an interrupt (HLT), for qThreadExtraInfo.
    std::function<bool(unsigned cpu)> halted;
};

} // namespace qf
