// In-process snapshots (embed::harness::snapshot/restore): the time of a
// restore of a 128 MiB guest that wrote N pages since its snapshot - what a
// fuzzer or test rig pays between two inputs. Issue #18's target: 64 pages
// in 20 us or less. The pages are written as a DMA or the test would
// (harness::write, timed apart); the restore alone is timed.
#include "machines/testrig/testrig.hpp"
#include "qf/embed/harness.hpp"

#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <vector>
#ifdef QF_HAVE_UNICORN
#include <unicorn/unicorn.h>
#endif

namespace {

using rig = qf::machines::testrig<qf::accel::tcg<>>;

void BM_restore(benchmark::State& state) {
    qf::options o;
    o.ram_size = 128ull << 20;
    qf::embed::harness<rig> h(o);
    h.load_bios_file(QF_DEMO_BIOS);
    const qf::embed::snapshot s = h.snapshot();
    const auto pages = static_cast<std::uint64_t>(state.range(0));
    std::array<std::byte, 8> junk{};
    std::uint64_t round = 0;
    for (auto _ : state) {
        junk[0] = std::byte(++round);
        for (std::uint64_t p = 0; p < pages; ++p) h.write(0x100000 + p * 0x10000, junk);  // 64 KiB apart
        const auto t0 = std::chrono::steady_clock::now();
        h.restore(s);
        state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    state.counters["pages"] = static_cast<double>(pages);
}
BENCHMARK(BM_restore)->Name("snapshot/restore_128MiB")->Arg(0)->Arg(1)->Arg(64)->Arg(1024)->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

void BM_snapshot(benchmark::State& state) {
    qf::options o;
    o.ram_size = 128ull << 20;
    qf::embed::harness<rig> h(o);
    h.load_bios_file(QF_DEMO_BIOS);
    for (auto _ : state) benchmark::DoNotOptimize(h.snapshot());
}
BENCHMARK(BM_snapshot)->Name("snapshot/take_128MiB")->Unit(benchmark::kMillisecond);

#ifdef QF_HAVE_UNICORN
// The anchor a Unicorn user compares with: uc_context_restore puts the CPU
// back, and the harness rewrites the pages it knows were written (Unicorn
// keeps no dirty log), from its own copy of them.
void BM_unicorn_restore(benchmark::State& state) {
    uc_engine* uc = nullptr;
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK) return state.SkipWithError("uc_open failed");
    constexpr std::uint64_t ram = 128ull << 20;
    uc_mem_map(uc, 0, ram, UC_PROT_ALL);
    uc_context* ctx = nullptr;
    uc_context_alloc(uc, &ctx);
    uc_context_save(uc, ctx);
    const auto pages = static_cast<std::uint64_t>(state.range(0));
    const std::vector<std::byte> clean(4096);
    std::array<std::byte, 8> junk{};
    std::uint64_t round = 0;
    for (auto _ : state) {
        junk[0] = std::byte(++round);
        for (std::uint64_t p = 0; p < pages; ++p) uc_mem_write(uc, 0x100000 + p * 0x10000, junk.data(), junk.size());
        const auto t0 = std::chrono::steady_clock::now();
        uc_context_restore(uc, ctx);
        for (std::uint64_t p = 0; p < pages; ++p) uc_mem_write(uc, 0x100000 + p * 0x10000, clean.data(), clean.size());
        state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    state.counters["pages"] = static_cast<double>(pages);
    uc_context_free(ctx);
    uc_close(uc);
}
BENCHMARK(BM_unicorn_restore)->Name("snapshot/unicorn_context_restore_128MiB")->Arg(0)->Arg(1)->Arg(64)->Arg(1024)
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
#endif

} // namespace

BENCHMARK_MAIN();
