// A firmware test as a C++ program: the test rig is an object, the firmware
// image is loaded from a file, and the test checks what it printed, how it
// left, and what two hooks of its own saw on the way: every instruction
// (counted, and a stop at an address) and every port access (COM1 bytes
// and the isa-debug-exit write).
//
//   embedded-rig path/to/test-irq.bin
#include "machines/testrig/testrig.hpp"
#include "qf/embed/harness.hpp"

#include <cstdio>
#include <string>

namespace {

// Counts instructions; stops before the one at stop_at when set.
struct insn_counter {
    static inline std::uint64_t count = 0, stop_at = ~0ull;
    static qf::tcg::hook_result on_insn(qf::tcg::env_base*, std::uint64_t pc) {
        if (pc == stop_at) return qf::tcg::hook_result::stop;
        ++count;
        return qf::tcg::hook_result::go_on;
    }
};

// Records port writes: what went to COM1's data register, and the exit port.
struct port_log {
    static inline std::string com1;
    static inline int exit_value = -1;
    static qf::tcg::hook_result on_io(qf::tcg::env_base*, std::uint16_t port, unsigned, bool write, std::uint32_t v) {
        if (write && port == 0x3f8) com1 += static_cast<char>(v);
        if (write && port == 0xf4) exit_value = static_cast<int>(v);
        return qf::tcg::hook_result::go_on;
    }
};

// The budget first: an instruction it stops is not seen by the counter.
using rig = qf::machines::testrig<qf::accel::tcg<qf::embed::insn_budget, insn_counter, port_log>>;

int failures = 0;
void check(bool ok, const char* what) {
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
    if (!ok) ++failures;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s FIRMWARE.bin (tests/firmware's test-irq)\n", argv[0]);
        return 2;
    }
    try {
        // 1. To the end: the serial output, the exit status, the hooks' view.
        {
            qf::embed::harness<rig> h;
            h.load_bios_file(argv[1]);
            const auto r = h.run();
            const std::string expected = "10 timer interrupts\r\nlatched count in range\r\nuart interrupt\r\n"
                                         "one interrupt in three passes of sti; jmp\r\n";
            check(r.why == qf::embed::stop::exit, "the firmware left through isa-debug-exit");
            check(r.exit_status == (0x77 << 1 | 1), "with the status QEMU would exit with");
            check(h.serial() == expected, "its serial output");
            // (after the divisor latch's low byte, which goes to the same port)
            check(port_log::com1.size() > expected.size() && port_log::com1.ends_with(expected),
                  "the port hook saw the same bytes written to COM1");
            check(port_log::exit_value == 0x77, "and the value written to the exit port");
            check(insn_counter::count > 1000, "the instruction hook counted every instruction");
            std::printf("    (%llu instructions)\n", static_cast<unsigned long long>(insn_counter::count));
        }
        // 2. A hook's stop, then a budget: stopped before the instruction at
        // the reset vector, then exactly 100 instructions, then to the end.
        {
            qf::embed::harness<rig> h;
            h.load_bios_file(argv[1]);
            insn_counter::count = 0;
            insn_counter::stop_at = 0xfff0;
            const auto r0 = h.run();
            check(r0.why == qf::embed::stop::hook, "an instruction hook stops the run");
            check(h.regs().rip == 0xfff0 && insn_counter::count == 0, "before the instruction it stopped at");
            insn_counter::stop_at = ~0ull;
            const auto r = h.run(100);
            check(r.why == qf::embed::stop::budget, "run(100) stops on its budget");
            check(insn_counter::count == 100, "after exactly 100 instructions");
            check(h.serial().empty(), "before the firmware printed anything");
            const auto r2 = h.run();
            check(r2.why == qf::embed::stop::exit, "and runs on to the end afterwards");
        }
        // 3. Registers and memory after a run: the stack pointer the firmware
        // set, and its interrupt vector table in RAM.
        {
            qf::embed::harness<rig> h;
            h.load_bios_file(argv[1]);
            h.run();
            check(h.regs().regs[qf::x86::R_ESP] <= 0x90000, "the stack is where the firmware put it");
            // (the page walk has set the entry's accessed bit)
            check((h.read<std::uint64_t>(0x10000) & ~0xfffull) == 0x11000, "its page tables are in guest RAM");
            const std::uint32_t marker = 0x600dcafe;
            h.write(0x5000, std::as_bytes(std::span(&marker, 1)));
            check(h.read<std::uint32_t>(0x5000) == marker, "guest memory can be written and read back");
        }
    } catch (const qf::error& e) {
        std::fprintf(stderr, "embedded-rig: %s\n", e.what());
        return 1;
    }
    std::printf("%s\n", failures ? "embedded rig: FAILED" : "embedded rig: all checks passed");
    return failures ? 1 : 0;
}
