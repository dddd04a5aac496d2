#pragma once
// What the device and monitor targets' LLVMFuzzerTestOneInput share: QEMU's
// log quiet, and an exception that leaves the code under test made a
// finding.
#include "fuzz.hpp"
#include "qf/core/error.hpp"
#include "qf/core/log.hpp"

#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

namespace qf::fuzz {

// QEMU's log (-d) goes to /dev/null, with QF_FUZZ_LOG's items if set: at
// the first input.
inline void quiet_log() {
    static const bool once = [] {
        set_log_file("/dev/null");
        if (const char* l = std::getenv("QF_FUZZ_LOG")) set_log_mask(parse_log_items(l));
        return true;
    }();
    (void)once;
}

// f(); a qf::error or another exception that leaves it is a finding, said
// to have left `who`.
template <class F>
void run_checked(std::string_view who, F&& f) {
    try {
        f();
    } catch (const qf::error& e) {
        fail("qf::error left " + std::string(who) + ": " + e.what());
    } catch (const std::exception& e) {
        fail("an exception left " + std::string(who) + ": " + e.what());
    }
}

} // namespace qf::fuzz
