#pragma once
// The gdbstub's hold on x86 CPUs under TCG: registers through the GDB
// layout (gdb_regs.hpp), memory at linear addresses through the page
// tables as they stand, breakpoints and single-step in the engines,
// watchpoints in the softmmu. Machine-independent: a board hands over its
// CPUs and address space.
#include "qf/machine/debug_target.hpp"
#include "targets/x86/vcpu.hpp"

#include <vector>

namespace qf::x86 {

// The CPUs and the address space outlive the returned target.
debug_target tcg_debug_target(std::vector<vcpu*> cpus, const address_space& as);

// Why the CPU's last run() returned stop::debug (taken from its engine).
debug_event take_debug_event(vcpu& cpu);

} // namespace qf::x86
