#include "qf/accel/tcg/engine.hpp"

#include "qf/accel/tcg/disas.hpp"
#include "qf/accel/tcg/liveness.hpp"
#include "qf/accel/tcg/optimizer.hpp"
#include "qf/core/log.hpp"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <csetjmp>
#include <cstring>

namespace qf::tcg {

namespace {

const void* lookup_tb_ptr_fn(env_base* env) { return static_cast<engine*>(env->engine)->lookup_for_goto_ptr(); }

} // namespace

const helper_info engine::lookup_tb_ptr =
    make_helper<&lookup_tb_ptr_fn>("lookup_tb_ptr", helper_flag::no_write_globals | helper_flag::no_side_effects);

engine::engine(engine_options opt) : opt_(opt) {
    opt_.nochain |= log_enabled(log_item::nochain);
    if (opt_.be == backend::jit) jit_ = std::make_unique<jit>(opt_.tb_size_mib << 20, opt_.split_wx);
    tbs_.unchain = [](void* self, translation_block* from, unsigned n) {
        // The interpreter follows the links in the TBs; only JIT code is patched.
        if (jit* j = static_cast<engine*>(self)->jit_.get()) j->patch_jump(from->host, n, nullptr);
    };
    tbs_.unchain_self = this;
}

engine::~engine() {
    if (env_) {
        env_->engine = nullptr;
        env_->on_tlb_flush = nullptr;
    }
}

void engine::attach(env_base* env, const target_ops& ops) {
    env_ = env;
    ops_ = ops;
    env->engine = this;
    env->jmp_cache = reinterpret_cast<void* const*>(tbs_.jmp_cache_data());
    env->on_tlb_flush = [](env_base* e, std::uint64_t vaddr) { static_cast<engine*>(e->engine)->flush_jmp_cache(vaddr); };
    ctx_ = context();
    ops_.init_globals(ops_.self, ctx_);
}

void engine::flush_jmp_cache(std::uint64_t vaddr) {
    if (vaddr == ~0ull) {
        tbs_.flush_jmp_cache(~0ull);
        return;
    }
    // A TB that starts on the page before may run into this one.
    tbs_.flush_jmp_cache(vaddr);
    tbs_.flush_jmp_cache(vaddr - page_size);
}

void engine::code_write_cb(env_base* env, std::uint64_t paddr, unsigned size, std::uintptr_t retaddr) {
    static_cast<engine*>(env->engine)->code_written(paddr, size, retaddr);
}

bool engine::is_code_page_cb(const env_base* env, std::uint64_t phys_page) {
    return static_cast<const engine*>(env->engine)->is_code_page(phys_page);
}

bool engine::is_code_page(std::uint64_t phys_page) const {
    for (const engine* e : group())
        if (e->tbs_.page_has_code(phys_page)) return true;
    return false;
}

void engine::join(std::vector<engine*>& group) {
    group_ = &group;
    if (std::find(group.begin(), group.end(), this) == group.end()) group.push_back(this);
}

void engine::mark_code_page(std::uint64_t page, bool code) {
    for (engine* e : group())
        if (e->env_) tlb_mark_code_page(e->env_, page, code);
}

std::size_t engine::code_used() const { return jit_ ? jit_->used() : 0; }

void engine::flush() {
    if (jit_) jit_->flush();
    tbs_.clear();
    ++generation_;
    ++stats_.flushes;
    invalidated_at_flush_ = stats_.invalidated;
    // Pages that held code no longer do: their TLB entries lose notdirty.
    if (env_) tlb_flush(env_);
}

tb_key engine::current_key() const {
    tb_key k = ops_.key(ops_.self, env_);
    if (opt_.one_insn_per_tb) k.cflags = (k.cflags & ~cflag::count_mask) | 1;
    if (step_) k.cflags = (k.cflags & ~cflag::count_mask) | 1 | cflag::step;
    return k;
}

bool engine::set_breakpoint(std::uint64_t pc, bool on) {
    const auto it = std::find(breakpoints_.begin(), breakpoints_.end(), pc);
    if (on == (it != breakpoints_.end())) return false;
    if (on) breakpoints_.push_back(pc);
    else breakpoints_.erase(it);
    flush();
    return true;
}

void engine::watch_debugger() {
    env_->on_watch = [](env_base* env, const watchpoint& wp, std::uint64_t, unsigned, bool, std::uintptr_t ra) {
        auto& e = *static_cast<engine*>(env->engine);
        // The instruction's second run, alone: its access goes through.
        if (e.stop_after_tb_ != debug_reason::none) return;
        e.debug_.watch = wp;
        e.stop_after_tb_ = debug_reason::watchpoint;
        e.restore_state(ra);
        e.next_cflags_ = 1 | cflag::no_irq;
        cpu_loop_exit(env);
    };
}

const void* engine::lookup_for_goto_ptr() {
    if (step_) return nullptr;  // back to the loop after each instruction
    const tb_key k = current_key();
    translation_block* tb = tbs_.find_jmp_cache(k);
    if (!tb) {
        // The hash table, only when the code TLB entry is present: this
        // helper must not fault.
        const unsigned mmu = ops_.code_mmu_idx(ops_.self, k);
        const tlb_entry& e = tlb_entry_of(env_, mmu, k.pc);
        if ((e.addr_code & ~tlb_flag::all) != (k.pc & page_mask) || (e.addr_code & tlb_flag::mmio)) return nullptr;
        const std::uint64_t phys = tlb_full_of(env_, mmu, k.pc).phys_page | (k.pc & ~page_mask);
        tb = tbs_.find(k, phys);
        if (!tb || tb->phys_page[1] != ~0ull) return nullptr;
        tbs_.remember(tb);
    }
    if (opt_.be == backend::jit) return tb->host.code;
    return tb;
}

translation_block* engine::lookup(const tb_key& k) {
    if (translation_block* tb = tbs_.find_jmp_cache(k)) return tb;
    return lookup_uncached(k);
}

translation_block* engine::lookup_uncached(const tb_key& k) {
    const unsigned mmu = ops_.code_mmu_idx(ops_.self, k);
    const code_page cp = get_code_page(env_, k.pc, mmu);
    translation_block* tb = tbs_.find(k, cp.phys_page | (k.pc & ~page_mask));
    if (!tb) return nullptr;
    if (tb->phys_page[1] != ~0ull) {
        // The second page must still map where it did.
        const code_page cp2 = get_code_page(env_, (k.pc & page_mask) + page_size, mmu);
        if (cp2.phys_page != tb->phys_page[1]) return nullptr;
    }
    tbs_.remember(tb);
    return tb;
}

translation_block* engine::find_or_translate(const tb_key& k) {
    if (translation_block* tb = lookup(k)) return tb;
    const unsigned limit = (k.cflags & cflag::count_mask) ? (k.cflags & cflag::count_mask) : opt_.max_insns;
    try {
        return translate(k, limit);
    } catch (...) {
        // A translator error is the emulator's: report it, but leave no
        // half-made TB behind.
        if (translating_) {
            tbs_.drop_last();
            translating_ = nullptr;
        }
        throw;
    }
}

translation_block* engine::translate(tb_key k, unsigned max_insns) {
    if (stats_.invalidated - invalidated_at_flush_ > max_dead_tbs) flush();
    translation_block& tb = tbs_.create();
    tb.key = k;
    translating_ = &tb;
    ctx_.reset();
    using clock = std::chrono::steady_clock;
    const auto ns_since = [](clock::time_point& t) {
        const auto now = clock::now();
        const auto d = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - t).count());
        t = now;
        return d;
    };
    auto t = clock::now();
    translation tr(*this, tb, max_insns, ops_.code_mmu_idx(ops_.self, k));
    ops_.translate(ops_.self, tr);
    if (tb.icount == 0) throw error("tcg: the translator produced a TB without instructions");
    tb.guest_size = static_cast<std::uint32_t>(tr.fetch_hi_ - k.pc);
    stats_.guest_insns_translated += tb.icount;

    if (log_enabled(log_item::op)) logf(log_item::op, "OP:\n%s\n", format_ops(ctx_).c_str());
    stats_.ns_frontend += ns_since(t);
    stats_.ops_frontend += ctx_.ops().size();
    optimize(ctx_);
    stats_.ns_optimize += ns_since(t);
    liveness_pass(ctx_);
    stats_.ns_liveness += ns_since(t);
    stats_.ops_final += ctx_.ops().size();
    if (log_enabled(log_item::op_opt))
        logf(log_item::op_opt, "OP after optimization and liveness analysis:\n%s\n", format_ops(ctx_).c_str());

    if (jit_) {
        std::optional<host_code> hc;
        try {
            hc = jit_->translate(ctx_);
        } catch (const overflow&) {
            const unsigned fewer = tb.icount > 1 ? tb.icount / 2 : 1;
            if (tb.icount <= 1) throw;
            tbs_.drop_last();
            translating_ = nullptr;
            return translate(k, fewer);
        }
        if (!hc) {
            // The code buffer is full: start again with an empty one.
            translating_ = nullptr;
            flush();
            return translate(k, max_insns);
        }
        tb.host = std::move(*hc);
    } else {
        tb.interp = std::make_unique<interp_program>(ctx_);
    }
    stats_.ns_codegen += ns_since(t);
    stats_.guest_bytes_translated += tb.guest_size;
    if (jit_) stats_.host_bytes_generated += tb.host.size;
    for (std::uint64_t page : tbs_.insert(&tb)) mark_code_page(page, true);
    translating_ = nullptr;
    ++stats_.translations;
    if (jit_ && log_enabled(log_item::out_asm))
        logf(log_item::out_asm, "OUT: [size=%u]\n%s\n", tb.host.size,
             disassemble(tb.host.code, tb.host.size, reinterpret_cast<std::uintptr_t>(tb.host.code)).c_str());
    return &tb;
}

std::uintptr_t engine::exec(translation_block* tb) {
    if (jit_) return jit_->exec(env_, tb->host.code);
    for (;;) {
        interp_current_ = tb;
        const interp_exit r = interpret(*tb->interp, env_);
        if (r.goto_ptr) {
            tb = reinterpret_cast<translation_block*>(r.goto_ptr);
            continue;
        }
        // The interpreter's form of a chained jump.
        auto* from = reinterpret_cast<translation_block*>(r.value & ~tb_exit::mask);
        const unsigned n = r.value & tb_exit::mask;
        if (from && n < 2 && from->jmp_dest[n]) {
            tb = from->jmp_dest[n];
            continue;
        }
        interp_current_ = nullptr;
        return r.value;
    }
}

void engine::chain(translation_block* from, unsigned n, translation_block* to) {
    if (from->invalid || to->invalid || from->jmp_dest[n]) return;
    // A direct jump skips the virtual-to-physical lookup, so it may only stay
    // within the page the source was translated from.
    if (((from->key.pc ^ to->key.pc) & page_mask) != 0) return;
    if (jit_) {
        if (from->host.jmp_insn_offset[n] == no_jump) return;
        jit_->patch_jump(from->host, n, to->host.code);
    }
    tb_store::link(from, n, to);
    ++stats_.chained;
}

void engine::restore_state(std::uintptr_t retaddr) {
    if (!jit_) {
        if (interp_current_) ops_.restore(ops_.self, env_, env_->insn_data);
        return;
    }
    if (!retaddr) return;
    translation_block* tb = tbs_.by_host_address(retaddr);
    if (!tb) return;
    if (const auto* b = find_insn(tb->host, retaddr)) ops_.restore(ops_.self, env_, b->data);
}

void engine::code_written(std::uint64_t paddr, unsigned size, std::uintptr_t retaddr) {
    const std::uint64_t page = paddr & page_mask;
    translation_block* current = nullptr;
    bool current_hit = false;
    // Scoped: cpu_loop_exit below longjmps past any destructor.
    for (engine* e : group()) {
        const std::vector<translation_block*> hit = e->tbs_.overlapping(paddr, size);
        if (e == this && !hit.empty())
            current = jit_ ? (retaddr ? tbs_.by_host_address(retaddr) : nullptr) : interp_current_;
        for (translation_block* tb : hit) {
            current_hit |= tb == current;
            e->tbs_.invalidate(tb);
            ++e->stats_.invalidated;
        }
    }
    // Its last TB may also have gone by a write to the other page it spanned.
    if (!is_code_page(page)) mark_code_page(page, false);
    if (current_hit && current->icount > 1) {
        // The running TB wrote its own code: finish this instruction alone,
        // then translate what it wrote.
        restore_state(retaddr);
        next_cflags_ = 1 | cflag::no_irq;
        cpu_loop_exit(env_);
    }
}

void engine::invalidate_phys_range(std::uint64_t first, std::uint64_t last) {
    bool any = false;
    for (std::uint64_t page : tbs_.code_pages_in(first, last)) {
        stats_.invalidated += tbs_.invalidate_page(page).size();
        if (env_) tlb_mark_code_page(env_, page, false);
        any = true;
    }
    if (any && env_) env_->exit_request.store(1, std::memory_order_relaxed);
}

void engine::run() {
    std::jmp_buf landing;
    env_->loop_exit = &landing;
    if (setjmp(landing) != 0) {
        // A guest exception or a restart: drop a TB left half-translated.
        if (translating_) {
            tbs_.drop_last();
            translating_ = nullptr;
        }
        interp_current_ = nullptr;
        // The stepped instruction raised an exception (or restarts): the
        // step ends once check_events has delivered it.
        if (step_ && stop_after_tb_ == debug_reason::none) stepped_ = true;
    }
    run_tbs();
    env_->loop_exit = nullptr;
}

void engine::run_tbs() {
    translation_block* last = nullptr;
    unsigned idx = 0;
    std::uint64_t gen = generation_;
    while (!env_->exit_request.load(std::memory_order_relaxed)) {
        // Nothing between a watchpoint's hit and its instruction's rerun.
        if (ops_.check_events && stop_after_tb_ == debug_reason::none) {
            const events ev = ops_.check_events(ops_.self, env_);
            if (std::exchange(stepped_, false)) {
                debug_.reason = debug_reason::step;
                break;
            }
            if (ev == events::stop || debug_.reason != debug_reason::none) break;
            // The last TB left for the instruction after it, but the guest
            // now goes elsewhere: linking that exit to the next TB would
            // send every later pass straight into (say) an interrupt handler
            // with no frame pushed.
            if (ev == events::redirected) last = nullptr;
        }
        tb_key k = current_key();
        if (next_cflags_) {
            k.cflags = next_cflags_ | (step_ ? cflag::step : 0);
            next_cflags_ = 0;
        }
        translation_block* tb = find_or_translate(k);
        if (gen != generation_) {
            last = nullptr;
            gen = generation_;
        }
        if (last && idx < 2 && !opt_.nochain && !step_) chain(last, idx, tb);
        if (log_enabled(log_item::exec))
            logf(log_item::exec, "Trace 0: %p [%016" PRIx64 "/%016" PRIx64 "/%08x/%08x]\n",
                 static_cast<const void*>(tb->host.code), k.cs_base, k.pc, k.flags, k.cflags);
        ++stats_.tb_execs;
        const std::uintptr_t r = exec(tb);
        last = reinterpret_cast<translation_block*>(r & ~tb_exit::mask);
        idx = r & tb_exit::mask;
        if (idx != tb_exit::requested && (stop_after_tb_ != debug_reason::none || step_)) {
            // The instruction ran: the debugger's stop.
            debug_.reason = std::exchange(stop_after_tb_, debug_reason::none);
            if (debug_.reason == debug_reason::none) debug_.reason = debug_reason::step;
            break;
        }
        if (idx == tb_exit::requested) {
            // Left at its entry check, perhaps reached by a chained jump that
            // skipped the pc store: the guest is at the TB's first instruction.
            if (last) ops_.restore(ops_.self, env_, last->start_data);
            last = nullptr;
            // A watchpoint's instruction did not run yet: still alone.
            if (stop_after_tb_ != debug_reason::none) next_cflags_ = 1 | cflag::no_irq;
        }
    }
}

void translation::fetch(std::uint64_t vaddr, void* out, unsigned size) {
    auto* dst = static_cast<std::byte*>(out);
    while (size) {
        const unsigned chunk = static_cast<unsigned>(std::min<std::uint64_t>(size, page_size - (vaddr & ~page_mask)));
        const code_page cp = get_code_page(e_.env_, vaddr, mmu_idx_);
        if (cp.host) std::memcpy(dst, cp.host + (vaddr & ~page_mask), chunk);
        else e_.env_->as->read(gpa{cp.phys_page | (vaddr & ~page_mask)}, std::span(dst, chunk));
        // Record the pages: the first one the TB starts on, then one more.
        if (tb_.phys_page[0] == ~0ull) {
            tb_.phys_page[0] = cp.phys_page;
            tb_.phys_pc = cp.phys_page | (tb_.key.pc & ~page_mask);
        } else if (cp.phys_page != tb_.phys_page[0] && tb_.phys_page[1] == ~0ull) {
            tb_.phys_page[1] = cp.phys_page;
        } else if (cp.phys_page != tb_.phys_page[0] && cp.phys_page != tb_.phys_page[1]) {
            throw error("tcg: a TB may span at most two pages");
        }
        fetch_hi_ = std::max(fetch_hi_, vaddr + chunk);
        vaddr += chunk;
        dst += chunk;
        size -= chunk;
    }
}

void translation::tb_start() {
    context& c = ctx();
    exit_label_ = c.new_label();
    const temp t = c.new_temp(type::i32);
    c.ld(t, c.env(), memop::sl, static_cast<std::int32_t>(offsetof(env_base, exit_request)));
    c.brcond(cond::ne, t, c.constant(type::i32, 0), *exit_label_);
}

void translation::tb_end() {
    if (!exit_label_) return;
    context& c = ctx();
    c.set_label(*exit_label_);
    c.exit_tb(exit_value(tb_exit::requested));
}

void translation::lookup_and_goto_ptr() {
    context& c = ctx();
    const temp p = c.new_temp(type::i64);
    const temp args[] = {c.env()};
    c.call(engine::lookup_tb_ptr, p, args);
    c.goto_ptr(p);
}

void translation::lookup_and_goto_ptr(temp pc, temp cs_base, temp flags) {
    // The interpreter's goto_ptr takes TBs, not host code: the helper does it.
    if (e_.opt_.be != backend::jit) return lookup_and_goto_ptr();
    context& c = ctx();
    const auto t = [&] { return c.new_temp(type::i64); };
    const auto k = [&](std::uint64_t v) { return c.constant(type::i64, v); };
    const label miss = c.new_label();
    // slot = jmp_cache[jc_index(pc)], as tb_store::jc_index computes it: at
    // translation time when pc is a constant (a direct jump off this page).
    const temp cache = t(), tb = t();
    c.ld(cache, c.env(), memop::uq, static_cast<std::int32_t>(offsetof(env_base, jmp_cache)));
    if (c.info(pc).kind == temp_kind::constant) {
        const unsigned slot = tb_store::jc_index(c.info(pc).value);
        c.ld(tb, cache, memop::uq, static_cast<std::int32_t>(slot * sizeof(void*)));
    } else {
        const temp idx = t(), hi = t();
        c.binopi(opc::shr, idx, pc, tb_store::jc_shift);
        c.binopi(opc::shr, hi, pc, tb_store::jc_shift + tb_store::jmp_cache_bits);
        c.binop(opc::xor_, idx, idx, hi);
        c.binopi(opc::and_, idx, idx, (1u << tb_store::jmp_cache_bits) - 1);
        c.binopi(opc::shl, idx, idx, 3);
        c.add(cache, cache, idx);
        c.ld(tb, cache, memop::uq, 0);
    }
    c.brcond(cond::eq, tb, k(0), miss);
    // The whole key must match, as find_jmp_cache checks it; each field
    // that differs goes to the helper (branches the host predicts well).
    const auto field = [&](std::size_t off, std::uint32_t mop, temp want) {
        const temp v = t();
        c.ld(v, tb, mop, static_cast<std::int32_t>(offsetof(translation_block, key) + off));
        c.brcond(cond::ne, v, want, miss);
    };
    field(offsetof(tb_key, pc), memop::uq, pc);
    field(offsetof(tb_key, cs_base), memop::uq, cs_base);
    field(offsetof(tb_key, flags), memop::ul, flags);
    field(offsetof(tb_key, cflags), memop::ul, c.constant(type::i64, e_.opt_.one_insn_per_tb ? 1 : 0));
    const temp code = t();
    c.ld(code, tb, memop::uq, static_cast<std::int32_t>(offsetof(translation_block, host) + offsetof(host_code, code)));
    c.goto_ptr(code);
    c.set_label(miss);
    lookup_and_goto_ptr();
}

std::string format_stats(std::span<engine* const> engines) {
    engine_stats t;
    std::size_t tbs = 0, code = 0;
    for (const engine* e : engines) {
        t += e->stats();
        tbs += e->tb_count();
        code += e->code_used();
    }
    const auto line = [](const char* what, std::uint64_t v) {
        char b[96];
        std::snprintf(b, sizeof b, "%-28s%" PRIu64 "\n", what, v);
        return std::string(b);
    };
    std::string out = "Translation buffer state:\n";
    out += line("gen code size", code);
    out += line("TB count", tbs);
    out += line("TB translations", t.translations);
    out += line("guest insns translated", t.guest_insns_translated);
    out += line("guest bytes translated", t.guest_bytes_translated);
    out += line("host bytes generated", t.host_bytes_generated);
    if (t.guest_bytes_translated && t.host_bytes_generated) {
        char b[96];
        std::snprintf(b, sizeof b, "%-28s%.1f\n", "host bytes per guest byte",
                      double(t.host_bytes_generated) / double(t.guest_bytes_translated));
        out += b;
    }
    if (t.translations) {
        char b[96];
        std::snprintf(b, sizeof b, "%-28s%.1f\n", "TB avg guest insns", double(t.guest_insns_translated) / double(t.translations));
        out += b;
        out += line("TB avg host bytes (live)", tbs ? code / tbs : 0);
    }
    if (t.guest_insns_translated) {
        char b[96];
        std::snprintf(b, sizeof b, "%-28s%.1f from the front end, %.1f to code generation\n", "IR ops per guest insn",
                      double(t.ops_frontend) / double(t.guest_insns_translated),
                      double(t.ops_final) / double(t.guest_insns_translated));
        out += b;
    }
    // The benchmarker's view: where translation time goes.
    const std::uint64_t total = t.ns_frontend + t.ns_optimize + t.ns_liveness + t.ns_codegen;
    out += "\nTranslation time           total ms    ns/TB  ns/guest insn\n";
    const auto stage = [&](const char* what, std::uint64_t ns) {
        char b[128];
        std::snprintf(b, sizeof b, "%-24s%11.3f%9.0f%15.1f\n", what, double(ns) / 1e6,
                      t.translations ? double(ns) / double(t.translations) : 0.0,
                      t.guest_insns_translated ? double(ns) / double(t.guest_insns_translated) : 0.0);
        return std::string(b);
    };
    out += stage("  front end (decode, IR)", t.ns_frontend);
    out += stage("  optimizer", t.ns_optimize);
    out += stage("  liveness", t.ns_liveness);
    out += stage("  code generation", t.ns_codegen);
    out += stage("  all stages", total);
    out += "\nStatistics:\n";
    out += line("TB executions from the loop", t.tb_execs);
    out += line("TB jumps chained", t.chained);
    out += line("TB invalidations", t.invalidated);
    out += line("TB flushes", t.flushes);
    out += line("CPUs", engines.size());
    return out;
}

} // namespace qf::tcg
