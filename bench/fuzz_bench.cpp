// Firmware fuzzing, one input at a time: examples/fuzz-firmware's parser on
// its seed, from the ready port's snapshot, with TB-edge coverage into a
// 64 KiB map - the loop qforge-fuzz runs under AFL++, without AFL++'s own
// share (its pipes and mutations). Beside it, the same parser under Unicorn
// the way a unicornafl-style harness runs it: uc_context_restore, the pages
// the parser writes put back, the input written, a block hook for coverage.
#include "machines/testrig/testrig.hpp"
#include "qf/embed/fuzz_driver.hpp"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string_view>
#include <vector>
#ifdef QF_HAVE_UNICORN
#include <unicorn/unicorn.h>
#endif

namespace {

using rig = qf::machines::testrig<qf::accel::tcg<qf::embed::fuzz_hooks>>;

std::vector<std::byte> seed() {
    constexpr std::string_view s("QFCF\x01\x02\x01\x05hello\x02\x03\x00\x01\x02", 18);
    std::vector<std::byte> v;
    for (char c : s) v.push_back(std::byte(static_cast<unsigned char>(c)));
    return v;
}

void BM_qforge(benchmark::State& state) {
    qf::embed::fuzz_spec spec;
    spec.input_gpa = 0x200000;
    spec.crash_vectors = 1u << 14;
    qf::embed::fuzz_driver<rig> d({}, spec);
    d.boot(QF_FUZZ_PARSER_BIOS);
    std::vector<std::uint8_t> map(1u << 16);
    d.set_coverage_map(map);
    const auto in = seed();
    for (auto _ : state) {
        std::fill(map.begin(), map.end(), 0);  // as afl-fuzz does before each run
        if (d.run_one(in).what != qf::embed::fuzz_outcome::kind::ok) return state.SkipWithError("the seed did not parse");
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_qforge)->Name("fuzz/qforge_parser_seed")->Unit(benchmark::kMicrosecond);

#ifdef QF_HAVE_UNICORN
struct uc_rig {
    std::uint8_t map[1u << 16];
    std::uint64_t prev = 0;
    bool booting = true, ready = false, done = false;
};

void uc_block(uc_engine*, std::uint64_t addr, std::uint32_t, void* user) {
    auto& r = *static_cast<uc_rig*>(user);
    const auto cur = static_cast<std::uint32_t>((addr * 0x9e3779b97f4a7c15ull) >> 48);
    ++r.map[(cur ^ r.prev) & 0xffff];
    r.prev = cur >> 1;
}
void uc_out(uc_engine* uc, std::uint32_t port, int, std::uint32_t, void* user) {
    auto& r = *static_cast<uc_rig*>(user);
    // Where Unicorn's stop leaves RIP (at the OUT or after it) decides
    // nothing: the ready port stops only the boot.
    if (port == 0x5f0 && r.booting) r.ready = true;
    if (port == 0x5f1) r.done = true;
    if (r.ready || r.done) uc_emu_stop(uc);
}

// The parser image at 1 MiB in 64-bit mode (Unicorn's flat long mode: no
// boot code), run to its ready port; then each input from there.
void BM_unicorn(benchmark::State& state) {
    std::ifstream f(QF_FUZZ_PARSER_IMG, std::ios::binary);
    const std::vector<char> img{std::istreambuf_iterator<char>(f), {}};
    if (img.empty()) return state.SkipWithError("no parser.img");
    uc_engine* uc = nullptr;
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK) return state.SkipWithError("uc_open failed");
    auto* r = new uc_rig{};
    uc_mem_map(uc, 0, 4u << 20, UC_PROT_ALL);
    uc_mem_write(uc, 0x100000, img.data(), img.size());
    std::uint64_t rsp = 0x80000;
    uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
    uc_hook hb, ho;
    uc_hook_add(uc, &hb, UC_HOOK_BLOCK, reinterpret_cast<void*>(&uc_block), r, 1, 0);
    uc_hook_add(uc, &ho, UC_HOOK_INSN, reinterpret_cast<void*>(&uc_out), r, 1, 0, UC_X86_INS_OUT);
    uc_emu_start(uc, 0x100000, ~0ull, 0, 0);
    std::uint64_t rip = 0;
    uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    if (!r->ready) return state.SkipWithError("the parser did not reach its ready port under Unicorn");
    r->booting = false;
    uc_context* ctx = nullptr;
    uc_context_alloc(uc, &ctx);
    uc_context_save(uc, ctx);
    // What the parser writes: its settings (bss) and its stack.
    std::vector<char> stack(4096), bss(4096);
    uc_mem_read(uc, 0x7f000, stack.data(), stack.size());
    const std::uint64_t bss_at = 0x100000 + ((img.size() + 4095) & ~std::uint64_t{4095});
    uc_mem_read(uc, bss_at, bss.data(), bss.size());
    const auto in = seed();
    for (auto _ : state) {
        std::fill(std::begin(r->map), std::end(r->map), 0);
        uc_context_restore(uc, ctx);
        uc_mem_write(uc, 0x7f000, stack.data(), stack.size());
        uc_mem_write(uc, bss_at, bss.data(), bss.size());
        const auto len = static_cast<std::uint32_t>(in.size());
        uc_mem_write(uc, 0x200000, &len, 4);
        uc_mem_write(uc, 0x200004, in.data(), in.size());
        r->prev = 0;
        r->done = r->ready = false;
        uc_emu_start(uc, rip, ~0ull, 0, 0);
        if (!r->done) return state.SkipWithError("the seed did not parse under Unicorn");
    }
    state.SetItemsProcessed(state.iterations());
    uc_context_free(ctx);
    uc_close(uc);
    delete r;
}
BENCHMARK(BM_unicorn)->Name("fuzz/unicorn_parser_seed")->Unit(benchmark::kMicrosecond);
#endif

} // namespace

BENCHMARK_MAIN();
