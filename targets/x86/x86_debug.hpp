#pragma once
// The gdbstub's hold on x86 CPUs, under either accelerator: registers
// through GDB's layout (gdb_regs.hpp), memory at linear addresses through
// the page tables as they stand. Under TCG, breakpoints and single-step
// live in the engines and watchpoints in the softmmu; under KVM, INT3s
// the debugger places in guest memory, KVM's single step, and the debug
// registers (four breakpoints or watchpoints of 1, 2, 4 or 8 aligned
// bytes; no read-only watchpoints, as on the hardware). Machine-
// independent: a board hands over its CPUs and address space.
#include "qf/machine/debug_target.hpp"
#include "targets/x86/kvm_cpu.hpp"
#include "targets/x86/vcpu.hpp"

#include <vector>

namespace qf::x86 {

// The CPUs and the address space outlive the returned target.
debug_target tcg_debug_target(std::vector<vcpu*> cpus, const address_space& as);
debug_target kvm_debug_target(std::vector<kvm_vcpu*> cpus, const address_space& as);

// Why the CPU's last run() returned stop::debug.
debug_event take_debug_event(vcpu& cpu);
debug_event take_debug_event(kvm_vcpu& cpu);

} // namespace qf::x86
