// The engine end to end on the toy guest, under both backends: chaining,
// indirect jumps, self-modifying code, precise faults, exit requests and
// code-buffer flushes.
#include "tcg_rig.hpp"
#include "toy_target.hpp"

#include "qf/core/log.hpp"

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

using namespace qf::tcg;
using namespace qf::tcg::toy;

TEST_CASE("a chained loop computes the same sum on the JIT and the interpreter") {
    for (backend be : {backend::jit, backend::interpreter}) {
        machine m(options(be));
        m.load(0, sum_loop(100000));
        m.run();
        CHECK(m.cpu().halted == 1);
        CHECK(m.cpu().r[0] == 5000050000ull);
        CHECK(m.cpu().pc == 6 * 8);
        CHECK(m.eng().stats().translations <= 4);
        CHECK(m.eng().stats().chained >= 1);
        // Chained: the loop runs without coming back to the cpu loop.
        CHECK(m.eng().stats().tb_execs < 10);
    }
}

TEST_CASE("nochain and one-insn-per-tb give the same result the slow way") {
    engine_options o = options(backend::jit);
    o.nochain = true;
    machine a(o);
    a.load(0, sum_loop(1000));
    a.run();
    CHECK(a.cpu().r[0] == 500500);
    CHECK(a.eng().stats().chained == 0);
    CHECK(a.eng().stats().tb_execs > 1000);

    o.nochain = false;
    o.one_insn_per_tb = true;
    machine b(o);
    b.load(0, sum_loop(1000));
    b.run();
    CHECK(b.cpu().r[0] == 500500);
    CHECK(b.eng().stats().guest_insns_translated == b.eng().stats().translations);
}

TEST_CASE("indirect jumps go through the TB lookup helper") {
    for (backend be : {backend::jit, backend::interpreter}) {
        machine m(options(be));
        // r3 = address of the loop head; JR back to it until r1 reaches 0.
        m.load(0, {{LI, 1, 0, 0, 500}, {LI, 3, 0, 0, 0x2000}, {JMP, 0, 0, 0, 0x2000 - 24}});
        m.load(0x2000, {{ADDI, 0, 0, 0, 3}, {ADDI, 1, 1, 0, -1}, {BNE, 0, 1, 2, 8}, {HALT, 0, 0, 0, 0}, {JR, 0, 3, 0, 0}});
        m.run();
        CHECK(m.cpu().halted == 1);
        CHECK(m.cpu().r[0] == 1500);
        CHECK(m.eng().stats().tb_execs < 50);  // the goto_ptr path stays in generated code
    }
}

TEST_CASE("a store into code already translated invalidates it") {
    for (backend be : {backend::jit, backend::interpreter}) {
        machine m(options(be));
        // Run the routine at 0x800 (r0 += 1) once, patch its immediate to
        // 100 with a byte store, run it again.
        const std::uint64_t patched = encode({ADDI, 0, 0, 0, 100});
        m.load(0, {{LI, 5, 0, 0, 0x800}, {LI, 6, 0, 0, 0x100}, {JR, 0, 5, 0, 0}});
        m.load(0x100, {{LI, 4, 0, 0, static_cast<std::int32_t>(patched >> 32)}, {STB, 0, 5, 4, 4},
                       {LI, 6, 0, 0, 0x200}, {JR, 0, 5, 0, 0}});
        m.load(0x200, {{HALT, 0, 0, 0, 0}});
        m.load(0x800, {{ADDI, 0, 0, 0, 1}, {JR, 0, 6, 0, 0}});
        m.run();
        CHECK(m.cpu().halted == 1);
        CHECK(m.cpu().r[0] == 101);
        CHECK(m.eng().stats().invalidated >= 1);
    }
}

TEST_CASE("a TB that rewrites its own next instruction sees the new one") {
    for (backend be : {backend::jit, backend::interpreter}) {
        machine m(options(be));
        const std::uint64_t patched = encode({ADDI, 0, 0, 0, 42});
        // 0x00: LI r4, imm-of-patched ; 0x08: LI r5, 0x20 ; 0x10: STB [r5+4], r4
        // 0x18: ADDI r0, r0, 1  (unchanged) ; 0x20: ADDI r0, r0, 7 (patched to 42) ; 0x28: HALT
        m.load(0, {{LI, 4, 0, 0, static_cast<std::int32_t>(patched >> 32)}, {LI, 5, 0, 0, 0x20}, {STB, 0, 5, 4, 4},
                   {ADDI, 0, 0, 0, 1}, {ADDI, 0, 0, 0, 7}, {HALT, 0, 0, 0, 0}});
        m.run();
        CHECK(m.cpu().halted == 1);
        CHECK(m.cpu().r[0] == 43);
        CHECK(m.eng().stats().invalidated >= 1);
    }
}

TEST_CASE("a fault leaves the state precise at the faulting instruction") {
    for (backend be : {backend::jit, backend::interpreter}) {
        machine m(options(be));
        m.load(0, {{LI, 0, 0, 0, 11}, {LI, 1, 0, 0, 0x7000000}, {ADDI, 2, 0, 0, 1}, {LD, 3, 1, 0, 8}, {LI, 0, 0, 0, 99},
                   {HALT, 0, 0, 0, 0}});
        m.run();
        CHECK(m.cpu().faults == 1);
        CHECK(m.cpu().fault_addr == 0x7000008);
        CHECK(m.cpu().pc == 3 * 8);  // the load, not the TB start
        CHECK(m.cpu().r[2] == 12);   // earlier instructions of the TB are done
        CHECK(m.cpu().r[0] == 11);   // later ones are not
        CHECK(m.cpu().halted == 0);
    }
}

TEST_CASE("an illegal instruction and MMIO stores reach their handlers") {
    machine m(options(backend::jit));
    m.load(0, {{LI, 1, 0, 0, static_cast<std::int32_t>(console)}, {LI, 2, 0, 0, 'o'}, {STB, 0, 1, 2, 0},
               {LI, 2, 0, 0, 'k'}, {STB, 0, 1, 2, 0}, {0x7f, 0, 0, 0, 0}});
    m.run();
    CHECK(m.out == "ok");
    CHECK(m.cpu().illegal == 1);
    CHECK(m.cpu().pc == 5 * 8);
}

TEST_CASE("an exit request stops an endless chained loop") {
    for (backend be : {backend::jit, backend::interpreter}) {
        machine m(options(be));
        m.load(0, {{ADDI, 0, 0, 0, 1}, {JMP, 0, 0, 0, -16}});
        std::thread stopper([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            m.cpu().base.exit_request = 1;
        });
        m.eng().run();
        stopper.join();
        CHECK(m.cpu().r[0] > 0);
        CHECK(m.cpu().pc <= 8);
    }
}

TEST_CASE("a full code buffer is flushed and translation goes on") {
    engine_options o = options(backend::jit);
    o.tb_size_mib = 1;
    machine m(o);
    // 20000 small TBs (two instructions each) need more than 1 MiB of code.
    std::vector<insn> prog;
    for (int i = 0; i < 20000; ++i) {
        prog.push_back({ADDI, 0, 0, 0, 1});
        prog.push_back({JMP, 0, 0, 0, 0});
    }
    prog.push_back({HALT, 0, 0, 0, 0});
    m.load(0, prog);
    for (int round = 0; round < 3; ++round) {
        m.cpu().pc = 0;
        m.run();
    }
    CHECK(m.cpu().r[0] == 60000);
    CHECK(m.eng().stats().flushes >= 1);
}

TEST_CASE("logging op and op_opt and out_asm and exec prints the IR and host code") {
    char path[] = "/tmp/qf-tcg-log-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    qf::set_log_file(path);
    qf::set_log_mask(qf::parse_log_items("op,op_opt,out_asm,exec"));
    machine m(options(backend::jit));
    m.load(0, sum_loop(3));
    m.run();
    qf::set_log_mask(0);
    qf::flush_log();
    qf::set_log_file("");
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string log = ss.str();
    std::remove(path);
    CHECK(log.find("OP:\n") != std::string::npos);
    CHECK(log.find(" ---- 0000000000000010") != std::string::npos);
    CHECK(log.find("add_i64 r0,r0,r1") != std::string::npos);
    CHECK(log.find("OP after optimization and liveness analysis:") != std::string::npos);
    CHECK(log.find("OUT: [size=") != std::string::npos);
    CHECK(log.find("jmp 0x") != std::string::npos);
    CHECK(log.find("Trace 0: ") != std::string::npos);
    CHECK(m.cpu().r[0] == 6);
}

namespace {
struct watch_hit {
    std::uint64_t vaddr;
    unsigned size;
    bool write;
    bool operator==(const watch_hit&) const = default;
};
std::vector<watch_hit> watch_hits;
bool stop_on_watch = false;
void record_watch(env_base* env, const watchpoint&, std::uint64_t vaddr, unsigned size, bool write, std::uintptr_t ra) {
    watch_hits.push_back({vaddr, size, write});
    if (stop_on_watch) {
        static_cast<engine*>(env->engine)->restore_state(ra);
        env->exit_request = 1;
        cpu_loop_exit(env);
    }
}
} // namespace

TEST_CASE("a watchpoint reports the accesses that overlap it and only those") {
    for (backend be : {backend::jit, backend::interpreter}) {
        watch_hits.clear();
        stop_on_watch = false;
        machine m(options(be));
        m.cpu().base.on_watch = &record_watch;
        watchpoint_insert(&m.cpu().base, 0x4008, 8, watch_kind::write);
        m.load(0, {{LI, 1, 0, 0, 0x4000}, {LI, 2, 0, 0, 5}, {ST, 0, 1, 2, 0}, {ST, 0, 1, 2, 8}, {LD, 3, 1, 0, 8},
                   {STB, 0, 1, 2, 15}, {LD, 4, 1, 0, 0}, {HALT, 0, 0, 0, 0}});
        m.run();
        CHECK(m.cpu().halted == 1);
        CHECK(watch_hits == std::vector<watch_hit>{{0x4008, 8, true}, {0x400f, 1, true}});
        CHECK(m.cpu().r[3] == 5);
        CHECK(m.cpu().r[4] == 5);

        // A watchpoint that stops the guest leaves it at the store, not done.
        watch_hits.clear();
        stop_on_watch = true;
        m.reset();
        std::memset(m.ram() + 0x4000, 0, 16);
        m.run();
        CHECK(m.cpu().halted == 0);
        CHECK(m.cpu().pc == 3 * 8);
        CHECK(watch_hits.size() == 1);
        std::uint64_t v;
        std::memcpy(&v, m.ram() + 0x4008, 8);
        CHECK(v == 0);
        watchpoint_remove(&m.cpu().base, 0x4008, 8, watch_kind::write);
        watch_hits.clear();
        m.run();
        CHECK(m.cpu().halted == 1);
        CHECK(watch_hits.empty());
    }
}

TEST_CASE("leaving at a chained TB's entry check resumes at that TB, not at a stale pc") {
    for (backend be : {backend::jit, backend::interpreter}) {
        machine m(options(be));
        // Three rounds of an inner loop; from the second round on, the inner
        // loop is reached by chained jumps, which skip the pc store.
        // Long enough for the kicker to land many times, even on a loaded machine.
        const std::int32_t n = be == backend::jit ? 20000000 : 1000000;
        m.load(0, {{LI, 3, 0, 0, 3}, {LI, 1, 0, 0, n}, {JMP, 0, 0, 0, 0}, {ADDI, 0, 0, 0, 1}, {ADDI, 1, 1, 0, -1},
                   {BNE, 0, 1, 2, -24}, {ADDI, 3, 3, 0, -1}, {BNE, 0, 3, 2, -56}, {HALT, 0, 0, 0, 0}});
        std::atomic<bool> done{false};
        std::thread kicker([&] {
            while (!done) {
                std::this_thread::sleep_for(std::chrono::microseconds(50));
                m.cpu().base.exit_request = 1;
            }
        });
        int runs = 0;
        while (!m.cpu().halted && runs < 1000000) {
            m.cpu().base.exit_request = 0;
            m.eng().run();
            ++runs;
        }
        done = true;
        kicker.join();
        CHECK(m.cpu().halted == 1);
        CHECK(m.cpu().r[0] == 3 * static_cast<std::uint64_t>(n));
        CHECK(runs > 1);
    }
}

TEST_CASE("a page's TLB flush drops its jump-cache entries and keeps the next page's") {
    tb_store store;
    std::vector<translation_block*> tbs;
    for (std::uint64_t pc : {0x10000ull, 0x10008ull, 0x10ffcull, 0x107f0ull, 0x11000ull}) {
        translation_block& tb = store.create();
        tb.key = tb_key{pc, 0, 0, 0};
        store.remember(&tb);
        tbs.push_back(&tb);
    }
    store.flush_jmp_cache(0x10000);
    for (int i = 0; i < 4; ++i) CHECK(store.find_jmp_cache(tbs[i]->key) == nullptr);
    CHECK(store.find_jmp_cache(tbs[4]->key) == tbs[4]);
}

TEST_CASE("flushing by MMU index leaves the other indexes mapped") {
    qf::tcg::test::rig r;
    env_base* env = r.env();
    const std::uint64_t va = qf::tcg::test::ram_base + 0x1000;
    tlb_set_page(env, va, va, prot::rwx, 0);
    tlb_set_page(env, va, va, prot::rwx, 1);
    tlb_flush_mmuidx(env, 1u << 1);
    CHECK(tlb_entry_of(env, 0, va).addr_read == va);
    CHECK(tlb_entry_of(env, 1, va).addr_read == tlb_invalid);
    tlb_flush_page(env, va);
    CHECK(tlb_entry_of(env, 0, va).addr_read == tlb_invalid);
}

TEST_CASE("a store beside code on its page finds no TB; one on a TB's bytes, on either of its pages, finds it") {
    tb_store store;
    auto add = [&](std::uint64_t phys_pc, std::uint32_t size) {
        translation_block& tb = store.create();
        tb.key = tb_key{phys_pc, 0, 0, 0};
        tb.phys_pc = phys_pc;
        tb.phys_page[0] = phys_pc & page_mask;
        const std::uint64_t last = (phys_pc + size - 1) & page_mask;
        if (last != tb.phys_page[0]) tb.phys_page[1] = last;
        tb.guest_size = size;
        store.insert(&tb);
        return &tb;
    };
    translation_block* a = add(0x10100, 0x10);   // 0x10100-0x1010f
    translation_block* b = add(0x10ff8, 0x10);   // 0x10ff8-0x11007, over two pages
    using v = std::vector<translation_block*>;
    CHECK(store.overlapping(0x10000, 4).empty());
    CHECK(store.overlapping(0x100fc, 4).empty());  // ends just before a
    CHECK(store.overlapping(0x100fd, 4) == v{a});  // its last byte is a's first
    CHECK(store.overlapping(0x1010f, 1) == v{a});
    CHECK(store.overlapping(0x10110, 8).empty());
    CHECK(store.overlapping(0x11004, 4) == v{b});  // b on its second page
    CHECK(store.overlapping(0x11008, 4).empty());
    CHECK(store.overlapping(0x10ff0, 8).empty());
    // An invalidated TB's bytes answer nothing, before and after the bits
    // are rebuilt; a new TB over them is found.
    store.invalidate(a);
    CHECK(store.overlapping(0x10104, 4).empty());
    CHECK(store.overlapping(0x10104, 4).empty());
    CHECK(store.page_has_code(0x10000));  // b still is there
    translation_block* c = add(0x10108, 4);
    CHECK(store.overlapping(0x10100, 16) == v{c});
    store.invalidate(b);
    CHECK(store.overlapping(0x11000, 4).empty());
    CHECK_FALSE(store.page_has_code(0x11000));
}

TEST_CASE("a TLB over 70 percent full at a flush doubles and one long under 30 percent shrinks") {
    qf::tcg::test::rig r;
    env_base* env = r.env();
    const std::uint64_t va0 = 0x4000'0000;
    REQUIRE(tlb_size(env, 0) == std::size_t{1} << tlb_min_bits);
    std::size_t n = tlb_size(env, 0);
    // Fill each size to 3/4 of it, flush: the next is twice as big, and
    // holds that many pages at once, none evicted.
    for (unsigned bits = tlb_min_bits; bits < tlb_max_bits; ++bits) {
        INFO("bits " << bits);
        for (std::uint64_t i = 0; i < n * 3 / 4; ++i) tlb_set_page(env, va0 + i * page_size, qf::tcg::test::ram_base, prot::rwx, 0);
        for (std::uint64_t i = 0; i < n * 3 / 4; ++i)
            REQUIRE(tlb_entry_of(env, 0, va0 + i * page_size).addr_read == va0 + i * page_size);
        tlb_flush(env);
        CHECK(tlb_entry_of(env, 0, va0).addr_read == tlb_invalid);
        REQUIRE(tlb_size(env, 0) == 2 * n);
        CHECK(tlb_size(env, 1) == std::size_t{1} << tlb_min_bits);  // unused, unchanged
        n *= 2;
    }
    for (std::uint64_t i = 0; i < n; ++i) tlb_set_page(env, va0 + i * page_size, qf::tcg::test::ram_base, prot::rwx, 0);
    tlb_flush(env);
    CHECK(tlb_size(env, 0) == std::size_t{1} << tlb_max_bits);  // no bigger
    // A few pages for longer than the window: back to the smallest size.
    for (int round = 0; round < 2; ++round) {
        for (std::uint64_t i = 0; i < 10; ++i) tlb_set_page(env, va0 + i * page_size, qf::tcg::test::ram_base, prot::rwx, 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(120));
        tlb_flush(env);
    }
    CHECK(tlb_size(env, 0) == std::size_t{1} << tlb_min_bits);
    tlb_set_page(env, va0, qf::tcg::test::ram_base, prot::rwx, 0);
    CHECK(tlb_entry_of(env, 0, va0).addr_read == va0);
}

TEST_CASE("flushing one page of a large page flushes its MMU index") {
    qf::tcg::test::rig r;
    env_base* env = r.env();
    const std::uint64_t lp = 0x4020'0000, other = 0x1000'0000;
    tlb_set_page(env, lp + 0x1000, qf::tcg::test::ram_base, prot::rwx, 0, 2u << 20);
    tlb_set_page(env, lp + 0x3000, qf::tcg::test::ram_base, prot::rwx, 0, 2u << 20);
    tlb_set_page(env, other, qf::tcg::test::ram_base, prot::rwx, 1);
    tlb_set_page(env, other, qf::tcg::test::ram_base, prot::rwx, 0);
    tlb_flush_page(env, lp + 0x5000);  // a piece never mapped
    CHECK(tlb_entry_of(env, 0, lp + 0x1000).addr_read == tlb_invalid);
    CHECK(tlb_entry_of(env, 0, lp + 0x3000).addr_read == tlb_invalid);
    CHECK(tlb_entry_of(env, 1, other).addr_read == other);  // no large page in index 1
    // A small page's flush outside the range leaves the rest.
    tlb_set_page(env, lp, qf::tcg::test::ram_base, prot::rwx, 0, 2u << 20);
    tlb_set_page(env, other, qf::tcg::test::ram_base, prot::rwx, 0);
    tlb_flush_page(env, other + 0x1000);
    CHECK(tlb_entry_of(env, 0, lp).addr_read == lp);
    CHECK(tlb_entry_of(env, 0, other).addr_read == other);
}

TEST_CASE("a full TLB that keeps refilling grows between flushes and keeps what it holds") {
    qf::tcg::test::rig r;
    env_base* env = r.env();
    const std::uint64_t va0 = 0x4000'0000;
    const std::size_t n0 = tlb_size(env, 0);
    // The same 256 pages over and over: they fit, nothing refills, no growth.
    for (int round = 0; round < 8; ++round)
        for (std::uint64_t i = 0; i < n0; ++i) {
            const std::uint64_t va = va0 + i * page_size;
            if (tlb_entry_of(env, 0, va).addr_read != va) tlb_set_page(env, va, qf::tcg::test::ram_base, prot::rwx, 0);
        }
    CHECK(tlb_size(env, 0) == n0);
    // Twelve times as many pages, cycled: the table doubles until they fit.
    const std::uint64_t pages = 12 * n0;
    for (int round = 0; round < 8; ++round)
        for (std::uint64_t i = 0; i < pages; ++i) {
            const std::uint64_t va = va0 + i * page_size;
            if (tlb_entry_of(env, 0, va).addr_read != va) tlb_set_page(env, va, qf::tcg::test::ram_base, prot::rwx, 0);
        }
    CHECK(tlb_size(env, 0) >= pages);
    CHECK(tlb_size(env, 1) == n0);
    std::size_t held = 0;
    for (std::uint64_t i = 0; i < pages; ++i) held += tlb_entry_of(env, 0, va0 + i * page_size).addr_read == va0 + i * page_size;
    CHECK(held == pages);
}
