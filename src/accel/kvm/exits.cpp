#include "qf/accel/kvm/exits.hpp"

#include "qf/core/error.hpp"

#include <array>

namespace qf::kvm {

exit_event decode_exit(kvm_run& run, std::size_t run_size) {
    auto* page = reinterpret_cast<std::byte*>(&run);
    switch (run.exit_reason) {
    case KVM_EXIT_IO: {
        const auto& io = run.io;
        if (io.size != 1 && io.size != 2 && io.size != 4)
            throw error("KVM_EXIT_IO: an access of " + std::to_string(io.size) + " bytes to port " + std::to_string(io.port));
        const std::uint64_t bytes = std::uint64_t{io.size} * io.count;
        if (io.count == 0 || io.data_offset < sizeof(kvm_run) || io.data_offset > run_size || bytes > run_size - io.data_offset)
            throw error("KVM_EXIT_IO: its data lies outside the shared kvm_run page");
        return exit_io{io.direction == KVM_EXIT_IO_OUT, io.port, io.size, io.count,
                       std::span(page + io.data_offset, static_cast<std::size_t>(bytes))};
    }
    case KVM_EXIT_MMIO: {
        auto& m = run.mmio;
        if (m.len == 0 || m.len > sizeof m.data)
            throw error("KVM_EXIT_MMIO: an access of " + std::to_string(m.len) + " bytes");
        return exit_mmio{m.phys_addr, m.is_write != 0, std::as_writable_bytes(std::span(m.data, m.len))};
    }
    case KVM_EXIT_HLT: return exit_hlt{};
    case KVM_EXIT_DEBUG: return exit_debug{run.debug.arch.exception, run.debug.arch.pc, run.debug.arch.dr6, run.debug.arch.dr7};
    case KVM_EXIT_SHUTDOWN: return exit_shutdown{};
    case KVM_EXIT_IRQ_WINDOW_OPEN: return exit_irq_window{};
    case KVM_EXIT_INTR: return exit_interrupted{};
    case KVM_EXIT_FAIL_ENTRY: return exit_fail_entry{run.fail_entry.hardware_entry_failure_reason, run.fail_entry.cpu};
    case KVM_EXIT_INTERNAL_ERROR: {
        exit_internal_error e{run.internal.suberror, {}};
        const std::uint32_t n = std::min<std::uint32_t>(run.internal.ndata, std::size(run.internal.data));
        e.data.assign(run.internal.data, run.internal.data + n);
        return e;
    }
    default: return exit_unhandled{run.exit_reason};
    }
}

std::string exit_reason_name(std::uint32_t reason) {
    static constexpr std::array<const char*, 38> names = {
        "UNKNOWN",    "EXCEPTION",   "IO",          "HYPERCALL",  "DEBUG",        "HLT",         "MMIO",
        "IRQ_WINDOW_OPEN", "SHUTDOWN", "FAIL_ENTRY", "INTR",      "SET_TPR",      "TPR_ACCESS",  "S390_SIEIC",
        "S390_RESET", "DCR",         "NMI",         "INTERNAL_ERROR", "OSI",      "PAPR_HCALL",  "S390_UCONTROL",
        "WATCHDOG",   "S390_TSCH",   "EPR",         "SYSTEM_EVENT", "S390_STSI",  "IOAPIC_EOI",  "HYPERV",
        "ARM_NISV",   "X86_RDMSR",   "X86_WRMSR",   "DIRTY_RING_FULL", "AP_RESET_HOLD", "X86_BUS_LOCK", "XEN",
        "RISCV_SBI",  "RISCV_CSR",   "NOTIFY"};
    if (reason < names.size()) return std::string("KVM_EXIT_") + names[reason];
    return "exit reason " + std::to_string(reason);
}

std::string internal_error_name(std::uint32_t suberror) {
    switch (suberror) {
    case KVM_INTERNAL_ERROR_EMULATION: return "KVM_INTERNAL_ERROR_EMULATION (an instruction KVM could not emulate)";
    case KVM_INTERNAL_ERROR_SIMUL_EX: return "KVM_INTERNAL_ERROR_SIMUL_EX (an exception while delivering one)";
    case KVM_INTERNAL_ERROR_DELIVERY_EV: return "KVM_INTERNAL_ERROR_DELIVERY_EV (an exit while delivering an event)";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: return "KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON";
    default: return "internal error " + std::to_string(suberror);
    }
}

} // namespace qf::kvm
