#pragma once
// What a fuzz target and the engines that drive it share. A target is one
// LLVMFuzzerTestOneInput, so the same object file runs under libFuzzer,
// under AFL++ (persistent or with @@) and under driver.cpp's main(), which
// CI uses: files, or random and mutated inputs for a bounded time.
//
// A target reports a finding with fail(): the message goes to stderr and
// the process aborts, so that each engine saves the input the way it saves
// a crash (driver.cpp prints it and writes it to a file).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace qf::fuzz {

[[noreturn]] void fail(std::string_view why);

// Splits an input at NUL bytes, as an argv (an empty piece is an empty
// argument); the command-line targets read their inputs this way.
std::vector<std::string> split_args(std::string_view input);

// The scratch directory of the fuzz process with this pid (under the
// system's temporary directory): where a target that must write files
// keeps them (session_rig.hpp's sandbox). The driver removes a child's
// after --minimize ran an input in it.
std::string scratch_dir_of(long pid);

// QF_FUZZ_OPEN=1: a target's guards against its open findings
// (regressions/TARGET/*.open, docs/fuzzing.md) are off, so that an open
// finding's input fails.
bool open_findings();

// A counter a target bumps and the driver prints at the end of a run
// ("stops: halted 412, budget 3301, ..."), so that a CI log says what the
// inputs reached, not only that nothing crashed.
void count(std::string_view what, std::uint64_t n = 1);

} // namespace qf::fuzz

// Optional, in a target: a generator for driver.cpp's random mode, which
// writes an input of at most max bytes into out from the seed and returns
// its size. Without one the driver mutates the corpus and random bytes.
// libFuzzer and AFL++ ignore it: they mutate by coverage.
extern "C" std::size_t qf_fuzz_generate(std::uint8_t* out, std::size_t max, std::uint64_t seed) __attribute__((weak));
