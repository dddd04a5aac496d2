// The IR builder, printer, optimizer and liveness pass on hand-written
// programs whose expected shape is known.
#include "random_program.hpp"

#include "qf/accel/tcg/interpreter.hpp"
#include "qf/accel/tcg/liveness.hpp"
#include "qf/accel/tcg/optimizer.hpp"
#include "qf/core/error.hpp"

#include <catch2/catch.hpp>

using namespace qf::tcg;
using namespace qf::tcg::test;

namespace {
std::size_t count(const context& c, opc o) {
    std::size_t n = 0;
    for (const op& x : c.ops()) n += x.code == o;
    return n;
}
} // namespace

TEST_CASE("the op table is complete and the builder checks arity") {
    for (const op_def& d : op_defs) CHECK(!d.name.empty());
    CHECK(def_of(opc::and_).name == "and");
    CHECK(def_of(opc::movcond).nb_iargs == 4);
    context c;
    rig::add_globals(c);
    CHECK_THROWS_AS(c.emit(opc::add, type::i64, {1, 2}), qf::error);
    c.new_temp(type::i64);
    CHECK_THROWS_AS(c.global(type::i64, 0, "late"), qf::error);  // globals come first
}

TEST_CASE("the op printer writes one op a line in the style of QEMU -d op") {
    context c;
    rig::add_globals(c);
    const temp t = c.new_temp(type::i64);
    c.insn_start(0x401000);
    c.add(t, rig::g(0), c.constant(type::i64, 1));
    const label l = c.new_label();
    c.brcond(cond::ltu, t, rig::g(1), l);
    c.qemu_ld(rig::g(2), t, memop::sw, 1);
    c.set_label(l);
    c.exit_tb(0);
    const std::string s = format_ops(c);
    CHECK(s.find(" ---- 0000000000401000 0000000000000000") != std::string::npos);
    CHECK(s.find(" add_i64 tmp0,g0,$0x1") != std::string::npos);
    CHECK(s.find(" brcond_i64 tmp0,g1,ltu,$L0") != std::string::npos);
    CHECK(s.find(" qemu_ld_i64 g2,tmp0,sw,mmu1") != std::string::npos);
    CHECK(s.find(" set_label $L0") != std::string::npos);
}

TEST_CASE("the optimizer folds constants, propagates copies and decides branches") {
    context c;
    rig::add_globals(c);
    const temp a = c.new_temp(type::i64), b = c.new_temp(type::i64), d = c.new_temp(type::i64);
    c.movi(a, 6);
    c.binopi(opc::mul, b, a, 7);                  // 42
    c.binop(opc::add, rig::g(0), b, rig::g(1));   // g0 = 42 + g1
    c.mov(d, rig::g(1));
    c.binop(opc::sub, rig::g(2), d, rig::g(1));   // d is a copy of g1: 0
    c.binopi(opc::xor_, rig::g(3), rig::g(4), 0); // identity: mov
    const label l = c.new_label();
    c.brcond(cond::eq, b, c.constant(type::i64, 42), l);  // always taken
    c.movi(rig::g(5), 99);                        // unreachable
    c.set_label(l);
    c.exit_tb(0);
    const optimize_stats st = optimize(c);
    liveness_pass(c);
    INFO(format_ops(c));
    CHECK(st.folded >= 2);
    CHECK(st.branches == 1);
    CHECK(st.unreachable == 1);
    CHECK(count(c, opc::mul) == 0);
    CHECK(count(c, opc::sub) == 0);
    CHECK(count(c, opc::xor_) == 0);
    CHECK(count(c, opc::brcond) == 0);
    CHECK(count(c, opc::br) == 1);
    // b is not needed any more: its movi is dead.
    CHECK(format_ops(c).find("add_i64 g0,g1,$0x2a") != std::string::npos);

    rig r;
    r.state().g[1] = 100;
    r.state().g[4] = 7;
    r.state().g[5] = 1;
    interpret(interp_program(c), r.env());
    CHECK(r.state().g[0] == 142);
    CHECK(r.state().g[2] == 0);
    CHECK(r.state().g[3] == 7);
    CHECK(r.state().g[5] == 1);
}

TEST_CASE("a branch on a condition just computed branches on its compare, inverted through xor 1") {
    // g0 = (g1 <u g2); branch when it is set; then the same, inverted by
    // xor 1; and a third whose compare input changes before the branch.
    const auto build = [](context& c, label l1, label l2, label l3) {
        const temp t1 = c.new_temp(type::i64), t2 = c.new_temp(type::i64), t3 = c.new_temp(type::i64);
        const temp zero = c.constant(type::i64, 0);
        c.setcond(cond::ltu, t1, rig::g(1), rig::g(2));
        c.brcond(cond::ne, t1, zero, l1);
        c.setcond(cond::lt, t2, rig::g(1), rig::g(2));
        c.binopi(opc::xor_, t2, t2, 1);
        c.brcond(cond::ne, t2, zero, l2);
        c.setcond(cond::eq, t3, rig::g(1), rig::g(2));
        c.binopi(opc::add, rig::g(1), rig::g(1), 1);  // the compare's input changes
        c.brcond(cond::eq, t3, zero, l3);
    };
    context c;
    rig::add_globals(c);
    const label l1 = c.new_label(), l2 = c.new_label(), l3 = c.new_label();
    build(c, l1, l2, l3);
    c.movi(rig::g(0), 0);
    c.exit_tb(0);
    c.set_label(l1);
    c.movi(rig::g(0), 1);
    c.exit_tb(0);
    c.set_label(l2);
    c.movi(rig::g(0), 2);
    c.exit_tb(0);
    c.set_label(l3);
    c.movi(rig::g(0), 3);
    c.exit_tb(0);
    const context before = c;
    optimize(c);
    liveness_pass(c);
    INFO(format_ops(c));
    const std::string ops = format_ops(c);
    CHECK(ops.find("brcond_i64 g1,g2,ltu,$L0") != std::string::npos);
    CHECK(ops.find("brcond_i64 g1,g2,ge,$L1") != std::string::npos);
    CHECK(count(c, opc::setcond) == 1);  // only the third stays
    // Same results as the unoptimized program, whichever branch is taken.
    for (auto [x, y] : {std::pair<std::uint64_t, std::uint64_t>{1, 2}, {~0ull, 2}, {5, 5}, {2, 1}}) {
        rig r;
        r.state().g[1] = x;
        r.state().g[2] = y;
        interpret(interp_program(before), r.env());
        const std::uint64_t want = r.state().g[0];
        rig q;
        q.state().g[1] = x;
        q.state().g[2] = y;
        interpret(interp_program(c), q.env());
        CHECK(q.state().g[0] == want);
    }
}

TEST_CASE("a zero-extension of a value already zero-extended is a copy; of a sum it stays") {
    context c;
    rig::add_globals(c);
    const auto t = [&] { return c.new_temp(type::i64); };
    const temp a = t(), a2 = t(), b = t(), b2 = t(), b3 = t(), b4 = t(), s = t(), s2 = t(), q = t(), q2 = t();
    c.unop(opc::ext32u, a, rig::g(1));
    c.unop(opc::ext32u, a2, a);             // a copy
    c.mov(rig::g(0), a2);
    c.unop(opc::ext8u, b, rig::g(2));
    c.binopi(opc::and_, b2, b, 0xff);       // a copy
    c.binopi(opc::shl, b3, b2, 8);          // bits 8-15 at most
    c.unop(opc::ext16u, b4, b3);            // a copy
    c.mov(rig::g(3), b4);
    c.binop(opc::add, s, a, rig::g(2));     // may carry into bit 32
    c.unop(opc::ext32u, s2, s);             // stays
    c.mov(rig::g(4), s2);
    c.setcond(cond::ltu, q, rig::g(1), rig::g(2));
    c.unop(opc::ext8u, q2, q);              // a copy
    c.mov(rig::g(5), q2);
    c.unop(opc::ext32u, rig::g(1), rig::g(1));
    c.unop(opc::ext32u, rig::g(1), rig::g(1));  // in place, twice: the second is a copy
    c.exit_tb(0);
    const context before = c;
    optimize(c);
    liveness_pass(c);
    INFO(format_ops(c));
    CHECK(count(c, opc::ext32u) == 3);
    CHECK(count(c, opc::ext8u) == 1);
    CHECK(count(c, opc::ext16u) == 0);
    CHECK(count(c, opc::and_) == 0);
    for (auto [x, y] : {std::pair<std::uint64_t, std::uint64_t>{0xffff'ffff'ffff'ffffull, 0x1234'5678'9abc'def0ull},
                        {0xffff'ffffull, 1}, {0, 0}, {0x8000'0000'0000'0001ull, 0xff}}) {
        rig r, q_;
        r.state().g[1] = q_.state().g[1] = x;
        r.state().g[2] = q_.state().g[2] = y;
        interpret(interp_program(before), r.env());
        interpret(interp_program(c), q_.env());
        for (unsigned i = 0; i < 6; ++i) CHECK(q_.state().g[i] == r.state().g[i]);
    }
}

TEST_CASE("knowledge ends at labels and at helpers that write globals") {
    context c;
    rig::add_globals(c);
    c.movi(rig::g(0), 5);
    const label l = c.new_label();
    c.set_label(l);
    c.binopi(opc::add, rig::g(1), rig::g(0), 1);  // g0 may differ on another path
    const temp args[] = {c.env(), c.constant(type::i64, 1)};
    c.call(h_bump, temp{}, args);                 // writes g0
    c.binopi(opc::add, rig::g(2), rig::g(0), 1);
    c.exit_tb(0);
    optimize(c);
    CHECK(count(c, opc::add) == 2);
}

TEST_CASE("liveness removes unread results but keeps side effects") {
    context c;
    rig::add_globals(c);
    const temp a = c.new_temp(type::i64), b = c.new_temp(type::i64);
    c.binop(opc::mul, a, rig::g(0), rig::g(1));  // never read
    c.qemu_ld(b, rig::g(2), memop::uq, 0);       // never read, but may fault
    c.binop(opc::add, rig::g(3), rig::g(3), rig::g(0));
    c.exit_tb(0);
    CHECK(liveness_pass(c) == 1);
    CHECK(count(c, opc::mul) == 0);
    CHECK(count(c, opc::qemu_ld) == 1);
    CHECK(c.ops()[0].arg_dead(0));  // the load's result dies at once
}

TEST_CASE("the interpreter refuses a branch to a label that is never set") {
    context c;
    rig::add_globals(c);
    c.br(c.new_label());
    CHECK_THROWS_AS(interp_program(c), qf::error);
}

TEST_CASE("liveness makes a widening multiply whose high half is never read a plain multiply") {
    context c;
    rig::add_globals(c);
    const temp lo = c.new_temp(type::i64), hi = c.new_temp(type::i64), lo2 = c.new_temp(type::i64),
               hi2 = c.new_temp(type::i64);
    c.mul2(opc::muls2, lo, hi, rig::g(1), rig::g(2));  // hi unread: a plain mul
    c.mov(rig::g(0), lo);
    c.mul2(opc::mulu2, lo2, hi2, rig::g(1), rig::g(2));  // hi read: stays widening
    c.mov(rig::g(3), hi2);
    c.exit_tb(0);
    liveness_pass(c);
    INFO(format_ops(c));
    CHECK(count(c, opc::muls2) == 0);
    CHECK(count(c, opc::mul) == 1);
    CHECK(count(c, opc::mulu2) == 1);
    rig r;
    r.state().g[1] = 0xfedc'ba98'7654'3210ull;
    r.state().g[2] = 0x0123'4567'89ab'cdefull;
    interpret(interp_program(c), r.env());
    CHECK(r.state().g[0] == 0x2236'd88f'e561'8cf0ull);  // the product's low and high halves
    CHECK(r.state().g[3] == 0x0121'fa00'ad77'd742ull);
}
