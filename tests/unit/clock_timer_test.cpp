#include "qf/core/clock.hpp"
#include "qf/core/timer.hpp"

#include <catch2/catch.hpp>
#include <vector>

namespace {
qf::ns g_mono = 1'000'000'000, g_wall = 1'700'000'000'000'000'000;
qf::time_source manual() {
    return {[] { return g_mono; }, [] { return g_wall; }};
}
} // namespace

TEST_CASE("the vm clock stands still while stopped and resumes where it stopped") {
    qf::clocks c(manual());
    CHECK(c.now(qf::clock_type::virt) == 0);
    g_mono += 500;
    CHECK(c.now(qf::clock_type::virt) == 0);  // not started yet (-S)
    c.enable_vm();
    g_mono += 1000;
    CHECK(c.now(qf::clock_type::virt) == 1000);
    c.disable_vm();
    g_mono += 123456;
    CHECK(c.now(qf::clock_type::virt) == 1000);
    c.enable_vm();
    g_mono += 10;
    CHECK(c.now(qf::clock_type::virt) == 1010);
    // rt and host always run.
    CHECK(c.now(qf::clock_type::realtime) == g_mono);
    CHECK(c.now(qf::clock_type::host) == g_wall);
}

TEST_CASE("timers fire in deadline order / once / and only when due") {
    qf::clocks c(manual());
    qf::timer_lists lists(c);
    std::vector<int> fired;
    qf::timer a(lists, qf::clock_type::realtime, [&] { fired.push_back(1); });
    qf::timer b(lists, qf::clock_type::realtime, [&] { fired.push_back(2); });
    qf::timer v(lists, qf::clock_type::virt, [&] { fired.push_back(3); });
    a.mod_in(300);
    b.mod_in(100);
    v.mod(50);
    CHECK(lists.deadline() == 100);  // the vm timer does not count while the vm clock is off
    g_mono += 99;
    CHECK_FALSE(lists.run_expired());
    g_mono += 1;
    CHECK(lists.run_expired());
    CHECK(fired == std::vector<int>{2});
    CHECK_FALSE(b.pending());
    c.enable_vm();
    g_mono += 200;  // vm clock now 200 >= 50; a due too
    CHECK(lists.run_expired());
    CHECK(fired == std::vector<int>{2, 1, 3});
    CHECK_FALSE(lists.deadline().has_value());
}

TEST_CASE("a deleted or destroyed timer never fires/ re-arming moves it") {
    qf::clocks c(manual());
    qf::timer_lists lists(c);
    int n = 0;
    {
        qf::timer t(lists, qf::clock_type::realtime, [&] { ++n; });
        t.mod_in(10);
    }
    qf::timer t2(lists, qf::clock_type::realtime, [&] { ++n; });
    t2.mod_in(10);
    t2.del();
    qf::timer t3(lists, qf::clock_type::realtime, [&] { n += 10; });
    t3.mod_in(10);
    t3.mod_in(1000);
    g_mono += 20;
    lists.run_expired();
    CHECK(n == 0);
    g_mono += 1000;
    lists.run_expired();
    CHECK(n == 10);
}

TEST_CASE("arming a timer earlier than all others tells the loop") {
    qf::clocks c(manual());
    qf::timer_lists lists(c);
    int told = 0;
    lists.on_earlier_deadline = [&] { ++told; };
    qf::timer a(lists, qf::clock_type::realtime, [] {});
    qf::timer b(lists, qf::clock_type::realtime, [] {});
    a.mod_in(100);
    b.mod_in(200);  // later: no need to wake
    b.mod_in(50);   // earlier: wake
    CHECK(told == 2);
}
