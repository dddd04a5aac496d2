#pragma once
// One x86 CPU under TCG: its state, its engine, the page walk the softmmu
// asks for, exception and interrupt delivery, and the ports it reaches.
// Machine-independent; a machine type gives it the address space, the
// port bus (its statically generated dispatch) and the CPU definition.
#include "qf/accel/tcg/engine.hpp"
#include "qf/memory/address_space.hpp"
#include "targets/x86/cpu_defs.hpp"
#include "targets/x86/cpu_state.hpp"
#include "targets/x86/translate.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace qf::x86 {

class local_apic;

// The CPU-side ports of the machine: what IN and OUT reach.
struct io_bus {
    void* ctx = nullptr;
    std::uint32_t (*in)(void* ctx, tcg::env_base* env, std::uint16_t port, unsigned size) = nullptr;
    void (*out)(void* ctx, tcg::env_base* env, std::uint16_t port, unsigned size, std::uint32_t value) = nullptr;
};

class vcpu : private memory_listener {
public:
    // The model decides CPUID and which instructions exist (cfg.features is
    // set from it).
    vcpu(const address_space& as, io_bus io, const cpu_model& model, translate_config cfg, tcg::engine_options opt,
         cpu_topology where = {});
    ~vcpu();
    vcpu(const vcpu&) = delete;
    vcpu& operator=(const vcpu&) = delete;

    state& st() { return st_; }
    const state& st() const { return st_; }
    tcg::engine& engine() { return eng_; }

    // The architectural state after RESET (SDM vol. 3, 9.1.1), then
    // on_reset's changes: a board that boots a kernel without firmware
    // puts the bootstrap processor at its entry there.
    void reset();
    std::function<void(state&)> on_reset;

    // debug: the debugger's stop (engine().take_debug_stop() says why).
    enum class stop : std::uint8_t { kicked, halted, exception, debug };
    // Runs guest code until kick() or HLT. Throws qf::error for what the
    // emulator cannot do yet (reported once, with the guest address).
    stop run();
    // For test rigs: instead of delivering an exception, stop run() with
    // stop::exception and report its vector (the state is at the
    // faulting instruction).
    void stop_on_exceptions(bool on) { stop_on_exception_ = on; }
    int last_exception() const { return last_exception_; }

    // A triple fault: the machine resets (true: go on running) or stops
    // (-no-reboot). Without a handler the CPU alone resets.
    std::function<bool()> on_triple_fault;

    // From any thread: leave run() at the next TB boundary.
    void kick() { st_.base.exit_request.store(1, std::memory_order_relaxed); }

    // The INTR pin, from the interrupt controller. While it is high and
    // EFLAGS.IF allows, the CPU asks interrupt_ack for the vector between
    // instructions and delivers it; it also ends HLT.
    void set_intr(bool level);
    // The NMI pin's edge (the local APIC's NMI delivery, the NMI button):
    // taken at the next instruction boundary unless an NMI handler runs.
    void raise_nmi();
    // The A20 gate: closed, physical address bit 20 is always 0 (the 8086's
    // 1 MiB wrap-around). Flushes the TLB.
    void set_a20(bool enabled);
    std::function<std::uint8_t()> interrupt_ack;
    // Whether run() would do anything: not halted, or halted with an
    // interrupt it can take.
    bool runnable() const;

    const io_bus& io() const { return io_; }
    const cpu_model& model() const { return model_; }
    cpu_topology topology() const { return where_; }

    // This CPU's local APIC (a board with APICs attaches one): INTR and its
    // acknowledge, CR8, IA32_APIC_BASE, and INIT/SIPI, which take effect at
    // the next instruction boundary. Without one, CR8 reads 0 and the MSR
    // is plain storage.
    void attach_apic(local_apic& a);
    local_apic* apic() const { return apic_; }
    // Waiting for a SIPI after INIT (an AP since reset): not runnable.
    bool waiting_for_sipi() const { return wait_sipi_; }

    // For helpers: stop with an error the loop reports (not from generated code).
    [[noreturn]] void unimplemented(const std::string& what, std::uintptr_t retaddr);

    // The CPU for a state stream (migration, savevm): its architectural
    // state (everything after the softmmu's part) and a pending INIT or
    // SIPI. load_state takes only what save_state of this build wrote (the
    // size says) and drops the TLB; translated code is the caller's.
    std::vector<std::byte> save_state() const;
    void load_state(std::span<const std::byte> in);
    // Throws what load_state would, changing nothing.
    void check_state(std::span<const std::byte> in) const;
    static constexpr std::uint32_t state_version = 1;

private:
    // The board's memory map changed, or a device wrote RAM.
    void map_changed(std::uint64_t first, std::uint64_t last) override;
    void ram_written(std::uint64_t addr, std::uint64_t len) override;
    static void fill(tcg::env_base* env, std::uint64_t vaddr, tcg::access_type acc, unsigned mmu_idx, std::uintptr_t ra);
    tcg::events check_events();
    bool interrupt_deliverable() const;
    bool nmi_deliverable() const;
    void deliver_real_mode(int vector);

    void do_init();
    void do_sipi(std::uint8_t vector);

    const address_space& as_;
    io_bus io_;
    cpu_model model_;
    cpu_topology where_;
    local_apic* apic_ = nullptr;
    bool wait_sipi_ = false, pending_init_ = false;
    int pending_sipi_ = -1;
    translate_config cfg_;
    tcg::softmmu_ops mmu_;
    state st_{};
    std::string pending_error_;
    bool stop_on_exception_ = false;
    int last_exception_ = -1;
    int delivering_ = -1;  // the vector being delivered, for #DF and triple faults
    bool stopped_by_exception_ = false;
    tcg::engine eng_;  // last: it refers to the state
};

// Where a debugger's linear address is in guest-physical memory, through
// the page tables as they are (nothing checked, nothing set); nullopt where
// nothing is mapped.
std::optional<std::uint64_t> debug_translate(const state& s, const address_space& as, std::uint64_t vaddr);
// hflags from CR0, EFER, CS, SS and EFLAGS.
void compute_hflags(state& s);
// The registers as QEMU's -d cpu prints them (several lines).
std::string format_state(const state& s);
// The architectural state after RESET (SDM vol. 3, 9.1.1), for any accelerator.
void reset_state(state& s, const cpu_model& m);

} // namespace qf::x86
