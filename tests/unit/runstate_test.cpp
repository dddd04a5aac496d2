#include "qf/core/runstate.hpp"

#include <catch2/catch.hpp>
#include <vector>

using qf::run_state;

TEST_CASE("run states follow QEMU's transition table") {
    // A sample of QEMU's allowed transitions...
    CHECK(qf::transition_allowed(run_state::prelaunch, run_state::running));
    CHECK(qf::transition_allowed(run_state::running, run_state::paused));
    CHECK(qf::transition_allowed(run_state::paused, run_state::running));
    CHECK(qf::transition_allowed(run_state::running, run_state::shutdown));
    CHECK(qf::transition_allowed(run_state::shutdown, run_state::prelaunch));
    CHECK(qf::transition_allowed(run_state::guest_panicked, run_state::running));
    // ...and ones it forbids.
    CHECK_FALSE(qf::transition_allowed(run_state::prelaunch, run_state::paused));
    CHECK_FALSE(qf::transition_allowed(run_state::shutdown, run_state::running));
    CHECK_FALSE(qf::transition_allowed(run_state::save_vm, run_state::paused));
    CHECK_FALSE(qf::transition_allowed(run_state::colo, run_state::paused));

    // The table has QEMU 7.2's 68 distinct transitions.
    int allowed = 0;
    for (std::size_t f = 0; f < qf::run_state_count; ++f)
        for (std::size_t t = 0; t < qf::run_state_count; ++t)
            if (f != t && qf::transition_allowed(run_state(f), run_state(t))) ++allowed;
    CHECK(allowed == 68);
}

TEST_CASE("an illegal transition is caught / and leaves the state as it was") {
    qf::runstate rs;
    REQUIRE(rs.get() == run_state::prelaunch);
    REQUIRE_THROWS_AS(rs.set(run_state::suspended), qf::illegal_transition);
    CHECK(rs.get() == run_state::prelaunch);
    try {
        rs.set(run_state::paused);
        FAIL("no exception");
    } catch (const qf::illegal_transition& e) {
        CHECK(std::string(e.what()) == "invalid runstate transition: 'prelaunch' -> 'paused'");
    }
}

TEST_CASE("change-state notifiers hear starts and stops") {
    qf::runstate rs;
    std::vector<std::pair<bool, run_state>> heard;
    auto h = rs.change_notifiers().add([&](bool running, run_state s) { heard.emplace_back(running, s); });
    rs.start();
    rs.stop(run_state::paused);
    rs.start();
    rs.change_notifiers().remove(h);
    rs.stop(run_state::shutdown);
    REQUIRE(heard.size() == 3);
    CHECK(heard[0] == std::pair{true, run_state::running});
    CHECK(heard[1] == std::pair{false, run_state::paused});
    CHECK(heard[2] == std::pair{true, run_state::running});
    CHECK(rs.needs_reset());
}
