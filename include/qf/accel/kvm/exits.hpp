#pragma once
// What KVM_RUN came back for, decoded from the shared kvm_run page into one
// value per kind, checked (an I/O data offset outside the page, or an MMIO
// length over 8, is an error, never a wild pointer). Machine-independent:
// the vCPU loop hands port and MMIO exits to the machine's dispatch.
#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace qf::kvm {

struct exit_io {
    bool out;
    std::uint16_t port;
    unsigned size;        // 1, 2 or 4
    std::uint32_t count;  // > 1 for INS/OUTS with REP
    std::span<std::byte> data;  // size * count bytes in the shared page
};
struct exit_mmio {
    std::uint64_t addr;
    bool write;
    std::span<std::byte> data;  // 1 to 8 bytes
};
struct exit_hlt {};
// KVM_EXIT_DEBUG: a debugger's single step or breakpoint (KVM_SET_GUEST_DEBUG).
struct exit_debug {
    std::uint32_t exception;  // 1 (#DB: a step, a debug register) or 3 (#BP: INT3)
    std::uint64_t pc;         // linear
    std::uint64_t dr6, dr7;
};
struct exit_shutdown {};       // a triple fault
struct exit_irq_window {};     // the guest can take an interrupt now
struct exit_interrupted {};    // KVM_EXIT_INTR: a signal, nothing to do
struct exit_fail_entry {
    std::uint64_t reason;  // hardware_entry_failure_reason
    std::uint32_t cpu;
};
struct exit_internal_error {
    std::uint32_t suberror;
    std::vector<std::uint64_t> data;
};
struct exit_unhandled {
    std::uint32_t reason;
};

using exit_event = std::variant<exit_io, exit_mmio, exit_hlt, exit_debug, exit_shutdown, exit_irq_window, exit_interrupted,
                                exit_fail_entry, exit_internal_error, exit_unhandled>;

// run_size: the size of the shared mapping (KVM_GET_VCPU_MMAP_SIZE).
// Throws qf::error on a malformed exit.
exit_event decode_exit(kvm_run& run, std::size_t run_size);

// KVM_EXIT_* as api.rst names it ("KVM_EXIT_IO"), or its number.
std::string exit_reason_name(std::uint32_t reason);
// KVM_INTERNAL_ERROR_* likewise.
std::string internal_error_name(std::uint32_t suberror);

} // namespace qf::kvm
