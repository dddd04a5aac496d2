#include "qf/core/main_loop.hpp"
#include "qf/core/slice_timer.hpp"

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <thread>
#include <unistd.h>

TEST_CASE("the main loop dispatches readable fds") {
    qf::clocks c;
    qf::timer_lists t(c);
    qf::main_loop loop(t);
    int p[2];
    REQUIRE(pipe(p) == 0);
    std::string got;
    loop.set_fd_handler(p[0], POLLIN, [&](short) {
        char buf[16];
        auto n = read(p[0], buf, sizeof buf);
        got.append(buf, std::size_t(n));
    });
    REQUIRE(write(p[1], "hi", 2) == 2);
    CHECK(loop.run_once(true));
    CHECK(got == "hi");
    loop.remove_fd(p[0]);
    REQUIRE(write(p[1], "x", 1) == 1);
    CHECK_FALSE(loop.run_once(false));
    CHECK(got == "hi");
    close(p[0]);
    close(p[1]);
}

TEST_CASE("a bottom half scheduled from another thread wakes a blocked loop") {
    qf::clocks c;
    qf::timer_lists t(c);
    qf::main_loop loop(t);
    loop.max_wait = 30 * qf::ns_per_s;  // only the wake-up can end the wait in time
    bool ran = false;
    auto start = std::chrono::steady_clock::now();
    std::thread other([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        loop.schedule([&] { ran = true; });
    });
    while (!ran) loop.run_once(true);
    other.join();
    CHECK(ran);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("the loop sleeps until the next timer / then runs it") {
    qf::clocks c;
    qf::timer_lists t(c);
    qf::main_loop loop(t);
    loop.max_wait = 30 * qf::ns_per_s;
    bool fired = false;
    qf::timer tm(t, qf::clock_type::realtime, [&] { fired = true; });
    tm.mod_in(5 * qf::ns_per_ms);
    auto start = c.now(qf::clock_type::realtime);
    while (!fired) loop.run_once(true);
    CHECK(c.now(qf::clock_type::realtime) - start >= 5 * qf::ns_per_ms);
}

// The slice timer (TCG's CPU slices in the main loop's thread): it kicks
// while a slice lasts, again and again (a kick can come before the CPU
// clears its exit request), and never between slices.
TEST_CASE("the slice timer kicks during a slice and only then") {
    std::atomic<int> kicks{0};
    qf::slice_timer t([&] { ++kicks; });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(kicks == 0);  // no slice yet
    t.start({});
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(kicks >= 3);  // about one a millisecond; a loaded host gives fewer
    t.end();
    const int after = kicks;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(kicks == after);
}

TEST_CASE("the slice timer ends a slice when a watched descriptor becomes ready") {
    std::atomic<int> kicks{0};
    // Slices of ten seconds: a kick within them comes from the descriptor.
    qf::slice_timer t([&] { ++kicks; }, std::chrono::seconds(10));
    int p[2];
    REQUIRE(::pipe(p) == 0);
    t.start({pollfd{p[0], POLLIN, 0}});
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(kicks == 0);
    const char c = 'x';
    REQUIRE(::write(p[1], &c, 1) == 1);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (kicks == 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK(kicks > 0);
    t.end();
    ::close(p[0]);
    ::close(p[1]);
}
