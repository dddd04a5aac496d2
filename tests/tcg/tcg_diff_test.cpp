// Differential tests of the TCG backends: thousands of random IR programs
// must leave the same machine state on the interpreter (the reference) and
// the JIT, with and without the liveness pass and the optimizer.
#include "random_program.hpp"

#include "qf/accel/tcg/interpreter.hpp"
#include "qf/accel/tcg/jit.hpp"
#include "qf/accel/tcg/liveness.hpp"
#include "qf/accel/tcg/optimizer.hpp"

#include <catch2/catch.hpp>
#include <array>
#include <cinttypes>

using namespace qf::tcg;
using namespace qf::tcg::test;

namespace {

struct outcome {
    std::vector<std::uint64_t> g;
    std::vector<std::uint32_t> h;
    std::vector<std::uint64_t> scratch;
    std::vector<std::byte> ram;
    std::vector<std::uint64_t> mmio_writes;
    std::uint64_t calls;
    bool operator==(const outcome&) const = default;
};

outcome capture(rig& r) {
    auto& s = r.state();
    return {std::vector<std::uint64_t>(std::begin(s.g), std::end(s.g)),
            std::vector<std::uint32_t>(std::begin(s.h), std::end(s.h)),
            std::vector<std::uint64_t>(std::begin(s.scratch), std::end(s.scratch)),
            std::vector<std::byte>(r.ram(), r.ram() + ram_size),
            r.mmio().writes,
            s.calls};
}

std::string diff(const outcome& a, const outcome& b) {
    std::string s;
    char buf[160];
    for (std::size_t i = 0; i < a.g.size(); ++i)
        if (a.g[i] != b.g[i]) {
            std::snprintf(buf, sizeof buf, "g%zu: %#" PRIx64 " vs %#" PRIx64 "\n", i, a.g[i], b.g[i]);
            s += buf;
        }
    for (std::size_t i = 0; i < a.h.size(); ++i)
        if (a.h[i] != b.h[i]) {
            std::snprintf(buf, sizeof buf, "h%zu: %#x vs %#x\n", i, a.h[i], b.h[i]);
            s += buf;
        }
    if (a.scratch != b.scratch) s += "host scratch differs\n";
    if (a.ram != b.ram) s += "guest RAM differs\n";
    if (a.mmio_writes != b.mmio_writes) s += "MMIO writes differ\n";
    if (a.calls != b.calls) s += "helper call count differs\n";
    return s;
}

outcome run_interp(rig& r, const context& ctx, std::uint64_t seed) {
    random_state(r, seed);
    const interp_program p(ctx);
    const auto e = interpret(p, r.env());
    REQUIRE(e.value == 0);
    return capture(r);
}

outcome run_jit(rig& r, jit& j, const context& ctx, std::uint64_t seed) {
    auto code = j.translate(ctx);
    if (!code) {
        j.flush();
        code = j.translate(ctx);
    }
    REQUIRE(code);
    random_state(r, seed);
    REQUIRE(j.exec(r.env(), code->code) == 0);
    return capture(r);
}

} // namespace

TEST_CASE("random IR programs give identical results on the interpreter and the JIT before and after the optimizer") {
    rig r;
    jit j(8 << 20);
    const unsigned programs = 4000;
    unsigned ops_total = 0, removed_total = 0, folded = 0;
    std::array<std::array<unsigned, 2>, nb_opcodes> seen{};
    for (unsigned seed = 1; seed <= programs; ++seed) {
        std::mt19937_64 rng(seed);
        context ctx;
        rig::add_globals(ctx);
        random_program(ctx, rng, {.nb_ops = 10 + seed % 60});
        INFO("seed " << seed << "\n" << format_ops(ctx));
        const outcome reference = run_interp(r, ctx, seed * 7919);

        // The JIT on the unanalysed program: nothing dies early.
        const outcome plain = run_jit(r, j, ctx, seed * 7919);

        for (const op& o : ctx.ops()) ++seen[static_cast<std::size_t>(o.code)][o.ty == type::i64];
        context live = ctx;
        ops_total += static_cast<unsigned>(live.ops().size());
        removed_total += liveness_pass(live);
        const outcome after_dce = run_interp(r, live, seed * 7919);
        const outcome jitted = run_jit(r, j, live, seed * 7919);

        context opt = ctx;
        const optimize_stats st = optimize(opt);
        folded += st.folded + st.simplified + st.branches;
        const outcome optimized = run_interp(r, opt, seed * 7919);
        liveness_pass(opt);
        const outcome opt_jitted = run_jit(r, j, opt, seed * 7919);

        if (!(reference == plain && reference == after_dce && reference == jitted && reference == optimized &&
              reference == opt_jitted)) {
            INFO("after optimizer and liveness:\n" << format_ops(opt));
            INFO("interp vs jit (no liveness):\n" << diff(reference, plain));
            INFO("interp vs interp after liveness:\n" << diff(reference, after_dce));
            INFO("interp vs jit:\n" << diff(reference, jitted));
            INFO("interp vs optimized interp:\n" << diff(reference, optimized));
            INFO("interp vs optimized jit:\n" << diff(reference, opt_jitted));
            FAIL("backends or passes disagree");
        }
    }
    INFO("ops " << ops_total << ", removed as dead " << removed_total << ", optimized " << folded);
    CHECK(removed_total > 0);
    CHECK(folded > 0);
    // Every value op at both widths, many times; the TB-exit ops are the
    // engine tests' business.
    for (std::size_t i = 0; i < nb_opcodes; ++i) {
        const auto o = static_cast<opc>(i);
        if (o == opc::goto_tb || o == opc::goto_ptr || o == opc::insn_start || o == opc::exit_tb) continue;
        const bool one_width = o == opc::set_label || o == opc::br || o == opc::call || o == opc::bswap64;
        INFO(def_of(o).name << " seen " << seen[i][0] << " (i32) / " << seen[i][1] << " (i64)");
        CHECK(seen[i][0] + seen[i][1] >= 50);
        if (!one_width) CHECK(std::min(seen[i][0], seen[i][1]) >= 20);
    }
}
