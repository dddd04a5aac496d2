// The x86 front end, measured on real x86-64 code: this binary's own .text.
// Decode rate (length and validity, as the translator needs them) next to
// Zydis decoding the same bytes, and translation rate: guest instructions
// per second through decode, IR, optimizer and codegen (the interpreter
// backend skips codegen, which separates its cost). Compiled code holds
// SSE, which ends a TB with #UD until the translator has it; the count is
// of instructions translated either way.
#include "../tests/x86/flat_rig.hpp"

#include "targets/x86/decoder.hpp"

#include <Zydis/Zydis.h>
#include <benchmark/benchmark.h>
#include <cstring>
#include <span>

extern "C" char __executable_start[], etext[];

using namespace qf;
using namespace qf::x86;

namespace {

// Up to 1 MiB of this binary's machine code, from its start.
std::span<const std::uint8_t> corpus() {
    const auto* b = reinterpret_cast<const std::uint8_t*>(__executable_start);
    const auto* e = reinterpret_cast<const std::uint8_t*>(etext);
    return {b, std::min<std::size_t>(static_cast<std::size_t>(e - b), 1 << 20)};
}

void BM_decode_qforge(benchmark::State& state) {
    const auto code = corpus();
    std::uint64_t insns = 0;
    for (auto _ : state) {
        for (std::size_t at = 0; at < code.size();) {
            const insn d = decode(cpu_mode::m64, code.data() + at, static_cast<unsigned>(std::min<std::size_t>(15, code.size() - at)));
            benchmark::DoNotOptimize(d.op);
            at += d.len ? d.len : 1;  // past an invalid byte
            ++insns;
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(insns));
}
BENCHMARK(BM_decode_qforge)->Name("x86/decode/qforge")->Unit(benchmark::kMillisecond);

void BM_decode_zydis(benchmark::State& state) {
    const auto code = corpus();
    ZydisDecoder dec;
    ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    ZydisDecoderContext ctx;
    ZydisDecodedInstruction in;
    std::uint64_t insns = 0;
    for (auto _ : state) {
        for (std::size_t at = 0; at < code.size();) {
            const bool ok = ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, &ctx, code.data() + at, code.size() - at, &in));
            benchmark::DoNotOptimize(in.opcode);
            at += ok ? in.length : 1;
            ++insns;
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(insns));
}
BENCHMARK(BM_decode_zydis)->Name("x86/decode/zydis")->Unit(benchmark::kMillisecond);

// Translates the corpus TB by TB from an empty cache each iteration.
void BM_translate(benchmark::State& state, tcg::backend be) {
    const auto code = corpus();
    const std::size_t bytes = std::min<std::size_t>(code.size(), 256 << 10);
    tcg::engine_options o;
    o.be = be;
    o.tb_size_mib = 256;
    test::flat64 m(16 << 20, o);
    constexpr std::uint64_t base = 0x10'0000;
    m.load(base, code.data(), bytes);
    m.enter(base);
    std::uint64_t insns = 0, tbs = 0;
    const tcg::engine_stats start = m.cpu().engine().stats();
    for (auto _ : state) {
        m.cpu().engine().flush();
        const std::uint64_t before = m.cpu().engine().stats().guest_insns_translated;
        for (std::uint64_t pc = base; pc < base + bytes;) {
            m.st().rip = pc;
            const tcg::translation_block* tb = m.cpu().engine().find_or_translate(tb_key_of(m.st()));
            pc += tb->guest_size ? tb->guest_size : 1;
            ++tbs;
        }
        insns += m.cpu().engine().stats().guest_insns_translated - before;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(insns));
    state.counters["insns_per_tb"] = static_cast<double>(insns) / static_cast<double>(tbs);
    const tcg::engine_stats& end = m.cpu().engine().stats();
    state.counters["ops_per_insn"] = static_cast<double>(end.ops_frontend - start.ops_frontend) / static_cast<double>(insns);
    state.counters["final_ops_per_insn"] = static_cast<double>(end.ops_final - start.ops_final) / static_cast<double>(insns);
    state.counters["host_bytes_per_insn"] =
        static_cast<double>(end.host_bytes_generated - start.host_bytes_generated) / static_cast<double>(insns);
}
BENCHMARK_CAPTURE(BM_translate, jit, tcg::backend::jit)->Name("x86/translate/jit")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_translate, interpreter, tcg::backend::interpreter)
    ->Name("x86/translate/interpreter")
    ->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
