// The compile-time hook policy: each kind of hook sees what it should, can
// stop the guest, and costs nothing when absent.
#include "toy_target.hpp"

#include <catch2/catch.hpp>

using namespace qf::tcg;
using namespace qf::tcg::toy;

namespace {

struct count_insns {
    static inline std::uint64_t n = 0;
    static hook_result on_insn(env_base*, std::uint64_t) {
        ++n;
        return hook_result::go_on;
    }
};
struct stop_at {
    static inline std::uint64_t pc = ~0ull;
    static hook_result on_insn(env_base*, std::uint64_t at) { return at == pc ? hook_result::stop : hook_result::go_on; }
};
struct trace_mem {
    struct access {
        std::uint64_t addr, value;
        std::uint32_t info;
        bool operator==(const access&) const = default;
    };
    static inline std::vector<access> log;
    static hook_result on_mem(env_base*, std::uint64_t a, std::uint64_t v, std::uint32_t info) {
        log.push_back({a, v, info});
        return hook_result::go_on;
    }
};
struct trace_io {
    static inline std::vector<std::pair<std::uint16_t, std::uint32_t>> outs;
    static inline std::vector<unsigned> vectors;
    static inline bool stop_on_int = false;
    static hook_result on_io(env_base*, std::uint16_t port, unsigned, bool write, std::uint32_t v) {
        if (write) outs.emplace_back(port, v);
        return hook_result::go_on;
    }
    static hook_result on_interrupt(env_base*, unsigned vector) {
        vectors.push_back(vector);
        return stop_on_int ? hook_result::stop : hook_result::go_on;
    }
};

} // namespace

TEST_CASE("an instruction hook sees every executed instruction") {
    for (backend be : {backend::jit, backend::interpreter}) {
        count_insns::n = 0;
        basic_machine<hook_policy<count_insns>> m(options(be));
        m.load(0, sum_loop(100));
        m.run();
        CHECK(m.cpu().r[0] == 5050);
        CHECK(count_insns::n == 2 + 3 * 100 + 1);
    }
}

TEST_CASE("an instruction hook stops the guest before the instruction it names") {
    for (backend be : {backend::jit, backend::interpreter}) {
        stop_at::pc = 3 * 8;  // the ADDI in the loop body
        basic_machine<hook_policy<stop_at>> m(options(be));
        m.load(0, sum_loop(5));
        m.run();
        CHECK(m.cpu().base.hook_stop == 1);
        CHECK(m.cpu().halted == 0);
        CHECK(m.cpu().pc == 3 * 8);
        CHECK(m.cpu().r[0] == 5);  // the ADD before it ran
        CHECK(m.cpu().r[1] == 5);  // the ADDI did not
        stop_at::pc = ~0ull;
        m.cpu().base.hook_stop = 0;
        m.run();
        CHECK(m.cpu().halted == 1);
        CHECK(m.cpu().r[0] == 15);
    }
}

TEST_CASE("a memory hook sees each guest access with its value") {
    for (backend be : {backend::jit, backend::interpreter}) {
        trace_mem::log.clear();
        basic_machine<hook_policy<trace_mem>> m(options(be));
        m.load(0, {{LI, 1, 0, 0, 0x4000}, {LI, 2, 0, 0, 77}, {ST, 0, 1, 2, 8}, {LDB, 3, 1, 0, 8}, {HALT, 0, 0, 0, 0}});
        m.run();
        using a = trace_mem::access;
        const std::vector<a> want = {{0x4008, 77, memop::uq | mem_store}, {0x4008, 77, memop::ub}};
        CHECK(trace_mem::log == want);
    }
}

TEST_CASE("port I/O and interrupt hooks see the target's calls and can stop it") {
    trace_io::outs.clear();
    trace_io::vectors.clear();
    trace_io::stop_on_int = true;
    basic_machine<hook_policy<trace_io, count_insns>> m(options(backend::jit));
    m.load(0, {{LI, 1, 0, 0, 'h'}, {OUT, 0, 1, 0, 0xe9}, {INT, 0, 0, 0, 0x21}, {JMP, 0, 0, 0, 0}, {LI, 0, 0, 0, 1},
               {HALT, 0, 0, 0, 0}});
    m.run();
    CHECK(m.out == "h");
    CHECK(trace_io::outs == std::vector<std::pair<std::uint16_t, std::uint32_t>>{{0xe9, 'h'}});
    CHECK(trace_io::vectors == std::vector<unsigned>{0x21});
    CHECK(m.cpu().r[7] == 0x21);
    // Stopped at the next TB boundary, after the JMP.
    CHECK(m.cpu().base.hook_stop == 1);
    CHECK(m.cpu().halted == 0);
    CHECK(m.cpu().pc == 4 * 8);
}

TEST_CASE("an empty hook policy generates exactly the code of no policy") {
    basic_machine<void> bare(options(backend::jit));
    basic_machine<hook_policy<>> empty(options(backend::jit));
    basic_machine<hook_policy<count_insns>> hooked(options(backend::jit));
    bare.load(0, sum_loop(10));
    empty.load(0, sum_loop(10));
    hooked.load(0, sum_loop(10));
    bare.run();
    empty.run();
    hooked.run();
    CHECK(bare.eng().code_used() == empty.eng().code_used());
    CHECK(hooked.eng().code_used() > empty.eng().code_used());
    CHECK(bare.cpu().r[0] == empty.cpu().r[0]);
}
