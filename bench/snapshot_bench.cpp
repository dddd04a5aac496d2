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

} // namespace

BENCHMARK_MAIN();
