#pragma once
// The x86 front end: guest instructions to TCG IR, one TB at a time.
// Machine-independent, so it lives in the x86 library; what the machine
// type decides (its hook policy) arrives as translate_config.
#include "qf/accel/tcg/engine.hpp"
#include "targets/x86/cpu_defs.hpp"
#include "targets/x86/cpu_state.hpp"

namespace qf::x86 {

struct translate_config {
    // From the machine's hook policy; null when it has no hook of the kind,
    // and then no code is emitted for it.
    const tcg::helper_info* insn_hook = nullptr;
    const tcg::helper_info* mem_hook = nullptr;
    const tcg::helper_info* block_hook = nullptr;
    // Called as an exception or interrupt is delivered (the policy's
    // interrupt(): it may ask the run to stop).
    void (*interrupt_hook)(tcg::env_base*, unsigned vector) = nullptr;
    // The CPU model's features: instructions outside them raise #UD.
    feature_set features = host_usable(cpu::max::def.features);
    bool intel = false;  // the model's vendor is GenuineIntel (vendor-specific instructions)
    // Other CPUs share this thread (round-robin): PAUSE ends the slice, as
    // QEMU's helper_pause, so that a spin-wait lets the lock's holder run.
    bool pause_yields = false;
};

// The globals every TB uses, in this order.
void init_globals(tcg::context& ctx);
// cc_op_now: the CPU's cc_op as the TB is translated, which is what it is
// first run with: a guess for the flags it starts with.
void translate_tb(tcg::translation& tr, const translate_config& cfg, std::uint32_t cc_op_now = ~0u);
// Guest state back at an instruction: its eip and the cc_op in force.
void restore_state(state& s, const std::uint64_t data[2]);

// The TB key for the current state: linear pc, CS base, hflags.
tcg::tb_key tb_key_of(const state& s);
unsigned mmu_index(const state& s);
unsigned mmu_index_of_flags(std::uint32_t hflags);

} // namespace qf::x86
