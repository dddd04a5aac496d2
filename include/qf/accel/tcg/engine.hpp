#pragma once
// The TCG execution engine of one vCPU: finds or translates the TB for the
// CPU's state, runs it on the chosen backend, chains direct jumps, and
// invalidates TBs when the guest writes their code.
//
// The target plugs in through target_ops (called once per TB, never per
// guest instruction); machine-type code wires it from a target type.
#include "qf/accel/tcg/ir.hpp"
#include "qf/accel/tcg/options.hpp"
#include "qf/accel/tcg/softmmu.hpp"
#include "qf/accel/tcg/tb.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>
#include <algorithm>
#include <optional>
#include <utility>

namespace qf::tcg {

class translation;

// What check_events did before the next TB.
enum class events {
    stop,        // the CPU halted or must leave the loop
    go_on,       // nothing changed the guest's flow
    redirected,  // an interrupt or INIT/SIPI moved it: the last TB's exit must not be chained to the next
};

struct target_ops {
    void* self = nullptr;
    // Creates the target's globals on a fresh context.
    void (*init_globals)(void* self, context& ctx) = nullptr;
    // Emits the IR of one TB for tr.key().
    void (*translate)(void* self, translation& tr) = nullptr;
    // Puts the guest state back to the instruction whose insn_start data this is.
    void (*restore)(void* self, env_base* env, const std::uint64_t data[2]) = nullptr;
    // The key of the TB the CPU would execute next.
    tb_key (*key)(void* self, const env_base* env) = nullptr;
    // The MMU index instruction fetch uses for a key.
    unsigned (*code_mmu_idx)(void* self, const tb_key& k) = nullptr;
    // Before each TB the loop looks up: deliver pending exceptions and
    // interrupts. Optional.
    events (*check_events)(void* self, env_base* env) = nullptr;
};


struct engine_stats {
    std::uint64_t translations = 0;
    std::uint64_t tb_execs = 0;      // entries from the loop (chained jumps not counted)
    std::uint64_t chained = 0;
    std::uint64_t invalidated = 0;
    std::uint64_t flushes = 0;
    std::uint64_t guest_insns_translated = 0;
    std::uint64_t guest_bytes_translated = 0, host_bytes_generated = 0;
    // IR ops as the front end made them and as code generation got them.
    std::uint64_t ops_frontend = 0, ops_final = 0;
    // Host time spent translating, per TCG stage (info jit): the guest
    // front end (decode and IR), the optimizer, liveness, and code
    // generation (or the interpreter's program). A clock read between
    // stages costs about 20 ns of a TB's tens of microseconds.
    std::uint64_t ns_frontend = 0, ns_optimize = 0, ns_liveness = 0, ns_codegen = 0;

    // Every CPU's engine summed (info jit).
    engine_stats& operator+=(const engine_stats& o) {
        translations += o.translations;
        tb_execs += o.tb_execs;
        chained += o.chained;
        invalidated += o.invalidated;
        flushes += o.flushes;
        guest_insns_translated += o.guest_insns_translated;
        guest_bytes_translated += o.guest_bytes_translated;
        host_bytes_generated += o.host_bytes_generated;
        ops_frontend += o.ops_frontend;
        ops_final += o.ops_final;
        ns_frontend += o.ns_frontend;
        ns_optimize += o.ns_optimize;
        ns_liveness += o.ns_liveness;
        ns_codegen += o.ns_codegen;
        return *this;
    }
};

class engine {
public:
    // TBs that guest stores invalidated are freed only by a flush; past this
    // many since the last one, the next translation flushes first, so that
    // memory follows the guest's live code and not its history (a loop that
    // rewrites its own code made the interpreter grow 280 MB/s, the JIT's
    // buffer fill all its gigabyte).
    static constexpr std::uint64_t max_dead_tbs = 16384;
    explicit engine(engine_options opt = {});
    ~engine();
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;

    // Binds the engine to a CPU state and its target.
    void attach(env_base* env, const target_ops& ops);

    // Runs guest code until exit_request is set (it is left set for the
    // caller). Guest exceptions that helpers raise come back here through
    // cpu_loop_exit and execution goes on.
    void run();

    translation_block* lookup(const tb_key& k);
    // The hash table alone (the jump cache's miss path).
    translation_block* lookup_uncached(const tb_key& k);
    translation_block* find_or_translate(const tb_key& k);
    std::uintptr_t exec(translation_block* tb);
    void chain(translation_block* from, unsigned n, translation_block* to);

    // Guest state for a fault at host return address retaddr (a helper's
    // __builtin_return_address); under the interpreter the current
    // instruction is known without it.
    void restore_state(std::uintptr_t retaddr);
    // The softmmu saw a store to a physical page that holds code.
    void code_written(std::uint64_t paddr, unsigned size, std::uintptr_t retaddr);
    // Whether some CPU of the machine has translated code on the page.
    bool is_code_page(std::uint64_t phys_page) const;
    // The engines of one machine's CPUs, which share its memory: a store by
    // one to code another has translated reaches the other's TBs and TLB
    // (QEMU keeps one translation cache for a machine). Each engine keeps
    // its own TBs. The group, owned by the board, outlives their use of it;
    // the CPUs take turns in one thread, so the others are never running.
    void join(std::vector<engine*>& group);
    // Something other than this CPU's stores changed physical memory
    // between first and last (a device's DMA, a remapped region): the TBs
    // from there go. Never leaves the caller (a device in the middle of
    // its register write): a TB running now finishes, and the loop looks
    // up afresh at its end.
    void invalidate_phys_range(std::uint64_t first, std::uint64_t last);
    void flush();

    // The debugger's hold on this CPU (the gdbstub's). A breakpoint stops
    // the CPU before the instruction at its pc (the TB's key pc: linear on
    // x86) runs: the translator asks breakpoint_at and raises its debug
    // exit there, which the target reports with debug_stopped. A change
    // drops every TB, as they have breakpoints compiled in. Single-step
    // stops after one instruction, or at the first instruction of an
    // exception handler the instruction raised; the target holds off
    // interrupts meanwhile (QEMU's default SSTEP_NOIRQ). A watchpoint hit
    // (watch_debugger installs the callback) lets the access finish with
    // its instruction, then stops, as gdb expects of x86.
    enum class debug_reason : std::uint8_t { none, breakpoint, step, watchpoint };
    struct debug_stop {
        debug_reason reason = debug_reason::none;
        watchpoint watch{};  // the one that fired
    };
    // False when it was already there (insert) or absent (remove).
    bool set_breakpoint(std::uint64_t pc, bool on);
    bool breakpoint_at(std::uint64_t pc) const {
        return !breakpoints_.empty() && std::find(breakpoints_.begin(), breakpoints_.end(), pc) != breakpoints_.end();
    }
    void clear_breakpoints() {
        if (breakpoints_.empty()) return;
        breakpoints_.clear();
        flush();
    }
    void set_single_step(bool on) { step_ = on; }
    bool single_step() const { return step_; }
    void watch_debugger();
    // The target's debug exit ran (a breakpoint).
    void debug_stopped(debug_reason r) { debug_.reason = r; }
    bool debug_pending() const { return debug_.reason != debug_reason::none; }
    // Why run() last returned for the debugger; reading clears it.
    debug_stop take_debug_stop() { return std::exchange(debug_, debug_stop{}); }

    // The cflags of the next TB only (one instruction after self-modifying code).
    void set_next_cflags(std::uint32_t cf) { next_cflags_ = cf; }

    const engine_options& options() const { return opt_; }
    const engine_stats& stats() const { return stats_; }
    std::size_t code_used() const;
    std::size_t tb_count() const { return tbs_.size(); }
    env_base* env() const { return env_; }

    // The helper behind goto_ptr: the code of the TB for the current state,
    // or null (the loop then translates).
    static const helper_info lookup_tb_ptr;
    const void* lookup_for_goto_ptr();

    // The softmmu_ops entries a target points at the engine.
    static void code_write_cb(env_base* env, std::uint64_t paddr, unsigned size, std::uintptr_t retaddr);
    static bool is_code_page_cb(const env_base* env, std::uint64_t phys_page);

    // Guest instruction fetch for translators.
    friend class translation;

private:
    translation_block* translate(tb_key k, unsigned max_insns);
    tb_key current_key() const;
    void run_tbs();
    void flush_jmp_cache(std::uint64_t vaddr);

    engine_options opt_;
    std::unique_ptr<jit> jit_;
    context ctx_;
    tb_store tbs_;
    env_base* env_ = nullptr;
    target_ops ops_;
    engine_stats stats_;
    std::uint32_t next_cflags_ = 0;
    std::uint64_t generation_ = 0;  // bumps on flush: chained pointers die
    std::uint64_t invalidated_at_flush_ = 0;
    translation_block* translating_ = nullptr;
    translation_block* interp_current_ = nullptr;
    std::vector<engine*>* group_ = nullptr;
    // The group, or this engine alone.
    std::span<engine* const> group() const { return group_ ? std::span<engine* const>(*group_) : std::span(&self_, 1); }
    engine* self_ = this;
    std::vector<std::uint64_t> breakpoints_;
    bool step_ = false;
    bool stepped_ = false;            // the stepped instruction raised: stop once it is delivered
    debug_reason stop_after_tb_ = debug_reason::none;  // a watchpoint's instruction runs again, alone
    debug_stop debug_;
    // TLB code marks go to every CPU of the machine.
    void mark_code_page(std::uint64_t page, bool code);
};

// The human monitor's info jit: the translation statistics of a machine's
// engines (one per CPU), summed.
std::string format_stats(std::span<engine* const> engines);

// What a target's translator works with for one TB.
class translation {
public:
    translation(engine& e, translation_block& tb, unsigned max_insns, unsigned mmu_idx)
        : e_(e), tb_(tb), max_insns_(max_insns), mmu_idx_(mmu_idx) {}

    context& ctx() { return e_.ctx_; }
    const tb_key& key() const { return tb_.key; }
    env_base* env() const { return e_.env_; }
    unsigned max_insns() const { return max_insns_; }

    // exit_tb value for leaving through goto_tb slot n (chainable).
    std::uint64_t exit_value(unsigned n) const { return reinterpret_cast<std::uintptr_t>(&tb_) | n; }

    // Reads guest code, through the TLB's execute permission; records the
    // pages it came from. A fetch fault raises the guest's exception.
    void fetch(std::uint64_t vaddr, void* out, unsigned size);
    std::uint8_t fetch8(std::uint64_t vaddr) {
        std::uint8_t v;
        fetch(vaddr, &v, 1);
        return v;
    }

    // Begins a guest instruction (insn_start) and counts it.
    void insn_start(std::uint64_t pc, std::uint64_t extra = 0) {
        ctx().insn_start(pc, extra);
        if (tb_.icount++ == 0) {
            tb_.start_data[0] = pc;
            tb_.start_data[1] = extra;
        }
    }
    unsigned insns() const { return tb_.icount; }
    // A debugger's breakpoint at this pc: the TB ends before it, or (its
    // first instruction) raises the target's debug exit.
    // A step runs the instruction at its pc whatever is set there.
    bool breakpoint_at(std::uint64_t pc) const { return !(tb_.key.cflags & cflag::step) && e_.breakpoint_at(pc); }

    // The entry check for exit requests, and its exit path at the end.
    void tb_start();
    void tb_end();
    // Indirect jump: continue at the TB for the state just written, if any.
    void lookup_and_goto_ptr();
    // The same with the jump cache probed inline, for a target that can give
    // the next TB's key as temps (pc, cs_base, flags: what its key function
    // would return now); a miss calls the helper. Most indirect jumps then
    // cost a few loads and compares instead of a call.
    void lookup_and_goto_ptr(temp pc, temp cs_base, temp flags);

private:
    engine& e_;
    translation_block& tb_;
    unsigned max_insns_;
    unsigned mmu_idx_;
    std::optional<label> exit_label_;
    std::uint64_t fetch_hi_ = 0;  // end of the guest bytes fetched
    friend class engine;
};

} // namespace qf::tcg
