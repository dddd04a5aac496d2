// TCG engine stages, measured: translation (optimizer + liveness + codegen),
// execution of IR kernels on the interpreter and the JIT, chained and
// indirect TB loops on the toy guest, TB lookup, and the cost of the hook
// policy. Compare ratios within one run; the machines are shared.
#include "random_program.hpp"
#include "toy_target.hpp"

#include "qf/accel/tcg/interpreter.hpp"
#include "qf/accel/tcg/jit.hpp"
#include "qf/accel/tcg/liveness.hpp"
#include "qf/accel/tcg/optimizer.hpp"

#include <benchmark/benchmark.h>

using namespace qf::tcg;
using namespace qf::tcg::test;

namespace {

// ---- IR kernels ---------------------------------------------------------

constexpr std::uint64_t kernel_iterations = 100000;

// Ten integer ops an iteration on four globals, in one TB with a backward branch.
void arith_kernel(context& c) {
    rig::add_globals(c);
    const temp n = c.new_local(type::i64);
    c.movi(n, kernel_iterations);
    const label top = c.new_label();
    c.set_label(top);
    const temp t = c.new_temp(type::i64);
    c.add(rig::g(0), rig::g(0), rig::g(1));
    c.binop(opc::xor_, rig::g(1), rig::g(1), rig::g(0));
    c.binopi(opc::mul, rig::g(2), rig::g(2), 0x9e3779b1);
    c.binopi(opc::rotl, t, rig::g(1), 13);
    c.add(rig::g(2), rig::g(2), t);
    c.binopi(opc::shr, t, rig::g(2), 7);
    c.sub(rig::g(3), rig::g(3), t);
    c.binop(opc::and_, t, rig::g(3), rig::g(0));
    c.add(rig::g(0), rig::g(0), t);
    c.binopi(opc::sub, n, n, 1);
    c.brcond(cond::ne, n, c.constant(type::i64, 0), top);
    c.exit_tb(0);
}

// A load, an add and a store through the softmmu fast path each iteration.
void mem_kernel(context& c) {
    rig::add_globals(c);
    const temp n = c.new_local(type::i64);
    c.movi(n, kernel_iterations);
    const label top = c.new_label();
    c.set_label(top);
    const temp a = c.new_temp(type::i64), v = c.new_temp(type::i64);
    c.binopi(opc::shl, a, n, 3);
    c.binopi(opc::and_, a, a, ram_size - 8);
    c.addi(a, a, ram_base);
    c.qemu_ld(v, a, memop::uq, 0);
    c.add(v, v, n);
    c.qemu_st(v, a, memop::uq, 0);
    c.binopi(opc::sub, n, n, 1);
    c.brcond(cond::ne, n, c.constant(type::i64, 0), top);
    c.exit_tb(0);
}

template <void (*Kernel)(context&)>
void BM_kernel_interp(benchmark::State& state) {
    rig r;
    context c;
    Kernel(c);
    optimize(c);
    liveness_pass(c);
    const interp_program p(c);
    for (auto _ : state) interpret(p, r.env());
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kernel_iterations));
}

template <void (*Kernel)(context&)>
void BM_kernel_jit(benchmark::State& state) {
    rig r;
    context c;
    Kernel(c);
    optimize(c);
    liveness_pass(c);
    jit j(4 << 20);
    const auto code = j.translate(c);
    for (auto _ : state) benchmark::DoNotOptimize(j.exec(r.env(), code->code));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kernel_iterations));
}

BENCHMARK(BM_kernel_interp<arith_kernel>)->Name("kernel/arith/interp");
BENCHMARK(BM_kernel_jit<arith_kernel>)->Name("kernel/arith/jit");
BENCHMARK(BM_kernel_interp<mem_kernel>)->Name("kernel/memory/interp");
BENCHMARK(BM_kernel_jit<mem_kernel>)->Name("kernel/memory/jit");

// ---- translation throughput ---------------------------------------------

std::vector<context> sample_programs(std::uint64_t& ops) {
    std::vector<context> programs;
    ops = 0;
    for (unsigned seed = 1; seed <= 64; ++seed) {
        std::mt19937_64 rng(seed);
        context c;
        rig::add_globals(c);
        random_program(c, rng, {.nb_ops = 120});
        ops += c.ops().size();
        programs.push_back(std::move(c));
    }
    return programs;
}

std::optional<host_code> codegen(jit& j, const context& c) {
    auto code = j.translate(c);
    if (!code) {
        j.flush();
        code = j.translate(c);
    }
    return code;
}

// The stages one at a time, and together.
void BM_translate(benchmark::State& state, int stage) {
    std::uint64_t ops = 0;
    const std::vector<context> programs = sample_programs(ops);
    std::vector<context> optimized = programs;
    std::uint64_t host_bytes = 0;
    jit j(64 << 20);
    for (context& c : optimized) {
        optimize(c);
        liveness_pass(c);
        host_bytes += codegen(j, c)->size;
    }
    for (auto _ : state) {
        if (stage == 1) {
            for (const context& c : optimized) benchmark::DoNotOptimize(codegen(j, c));
            continue;
        }
        for (const context& p : programs) {
            context c = p;
            optimize(c);
            liveness_pass(c);
            if (stage == 2) benchmark::DoNotOptimize(codegen(j, c));
            else benchmark::DoNotOptimize(c.ops().data());
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * ops));
    state.counters["host_bytes_per_ir_op"] = static_cast<double>(host_bytes) / static_cast<double>(ops);
}
BENCHMARK_CAPTURE(BM_translate, optimizer_and_liveness, 0)->Name("translate/optimizer_liveness")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_translate, codegen, 1)->Name("translate/codegen")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_translate, all, 2)->Name("translate/all")->Unit(benchmark::kMicrosecond);

// ---- the engine on the toy guest ------------------------------------------

using namespace qf::tcg::toy;

constexpr std::int32_t loop_iterations = 200000;

std::vector<insn> chained_loop() {
    return {{LI, 0, 0, 0, 0}, {LI, 1, 0, 0, loop_iterations}, {ADD, 0, 0, 1, 0}, {ADDI, 1, 1, 0, -1},
            {BNE, 0, 1, 2, -24}, {HALT, 0, 0, 0, 0}};
}

std::vector<insn> indirect_loop() {
    // The loop body ends in JR back to its head.
    return {{LI, 1, 0, 0, loop_iterations}, {LI, 3, 0, 0, 0x18}, {LI, 0, 0, 0, 0}, {ADD, 0, 0, 1, 0},
            {ADDI, 1, 1, 0, -1}, {BNE, 0, 1, 2, 8}, {HALT, 0, 0, 0, 0}, {JR, 0, 3, 0, 0}};
}

template <class M>
void run_guest(benchmark::State& state, backend be, const std::vector<insn>& prog, bool nochain = false) {
    constexpr std::uint64_t sum = std::uint64_t{loop_iterations} * (loop_iterations + 1) / 2;
    engine_options o;
    o.be = be;
    o.tb_size_mib = 16;
    o.nochain = nochain;
    M m(o);
    m.load(0, prog);
    for (auto _ : state) {
        m.reset();
        m.run();
        if (!m.cpu().halted || m.cpu().r[0] != sum) state.SkipWithError("guest computed the wrong sum");
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * loop_iterations));
}

void BM_chained_jit(benchmark::State& s) { run_guest<machine>(s, backend::jit, chained_loop()); }
void BM_chained_jit_nochain(benchmark::State& s) { run_guest<machine>(s, backend::jit, chained_loop(), true); }
void BM_chained_interp(benchmark::State& s) { run_guest<machine>(s, backend::interpreter, chained_loop()); }
void BM_indirect_jit(benchmark::State& s) { run_guest<machine>(s, backend::jit, indirect_loop()); }
void BM_indirect_interp(benchmark::State& s) { run_guest<machine>(s, backend::interpreter, indirect_loop()); }
BENCHMARK(BM_chained_jit)->Name("guest/chained_loop/jit");
BENCHMARK(BM_chained_jit_nochain)->Name("guest/chained_loop/jit_nochain");
BENCHMARK(BM_chained_interp)->Name("guest/chained_loop/interp");
BENCHMARK(BM_indirect_jit)->Name("guest/indirect_loop/jit");
BENCHMARK(BM_indirect_interp)->Name("guest/indirect_loop/interp");

// The hook policy: none at all, an empty one, and one counting instructions.
struct count_insns {
    static inline std::uint64_t n = 0;
    static hook_result on_insn(env_base*, std::uint64_t) {
        ++n;
        return hook_result::go_on;
    }
};
void BM_hooks_none(benchmark::State& s) { run_guest<basic_machine<void>>(s, backend::jit, chained_loop()); }
void BM_hooks_empty(benchmark::State& s) { run_guest<basic_machine<hook_policy<>>>(s, backend::jit, chained_loop()); }
void BM_hooks_insn(benchmark::State& s) { run_guest<basic_machine<hook_policy<count_insns>>>(s, backend::jit, chained_loop()); }
BENCHMARK(BM_hooks_none)->Name("hooks/no_policy");
BENCHMARK(BM_hooks_empty)->Name("hooks/empty_policy");
BENCHMARK(BM_hooks_insn)->Name("hooks/insn_hook");

// TB lookup: the jump cache, and the hash table behind it.
void BM_lookup(benchmark::State& state, bool jump_cache) {
    engine_options o;
    o.tb_size_mib = 16;
    machine m(o);
    std::vector<insn> prog;
    for (int i = 0; i < 256; ++i) prog.push_back({JMP, 0, 0, 0, 0});
    prog.push_back({HALT, 0, 0, 0, 0});
    m.load(0, prog);
    m.run();  // translates 256 TBs
    std::uint64_t pc = 0;
    for (auto _ : state) {
        const tb_key k{pc, 0, 0, 0};
        benchmark::DoNotOptimize(jump_cache ? m.eng().lookup(k) : m.eng().lookup_uncached(k));
        pc = (pc + 8) & (256 * 8 - 1);
    }
}
BENCHMARK_CAPTURE(BM_lookup, jump_cache, true)->Name("lookup/jump_cache");
BENCHMARK_CAPTURE(BM_lookup, hash_table, false)->Name("lookup/hash_table");

} // namespace

BENCHMARK_MAIN();
