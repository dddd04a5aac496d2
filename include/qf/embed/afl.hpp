#pragma once
// AFL++'s side of a fuzzing run, without AFL++'s compiler: its shared-memory
// coverage map and its fork server, spoken by a program that records
// coverage itself (qforge-fuzz records the guest's TB edges, not its own).
//
// The protocol is afl-fuzz's (src/afl-forkserver.c): the server says hello
// on fd 199, then for each input reads a word from fd 198, answers with a
// child's pid and, once the child stops or dies, its wait status. The child
// runs inputs in a loop ("persistent mode"): after each it stops itself
// (SIGSTOP) and the server reports it stopped, which tells afl-fuzz that the
// same child takes the next input; a crash kills the child with SIGABRT, and
// afl-fuzz's own timeout kills it with SIGKILL; either way the server forks
// a fresh one for the next input.
#include <cstdint>
#include <span>
#include <vector>

namespace qf::embed::afl {

// Started by afl-fuzz: its control and status pipes are open and it named
// its coverage map (__AFL_SHM_ID).
bool under_afl();

// The coverage map afl-fuzz shares: its first 64 KiB (or AFL_MAP_SIZE
// bytes, a power of two, if less). Throws qf::error when the segment
// cannot be attached.
std::span<std::uint8_t> attach_coverage_map();

// Becomes the fork server: returns only in a child, which then runs inputs
// until it dies (the server itself exits when afl-fuzz goes away). Call it
// before starting any thread: only the calling thread survives a fork.
// map_size: the coverage map's (what afl-fuzz then clears and scans).
void serve_forks(std::size_t map_size);

// In the child: the input just run is done (report it, and wait for the
// next); the first call returns at once, for the first input.
void next_input();
// In the child: the input just run is a crash. Does not return.
[[noreturn]] void report_crash();

// The current input: afl-fuzz rewrites the file behind stdin (or the file
// named in place of @@) for each one. At most max bytes.
std::vector<std::byte> read_input(int fd, std::size_t max);

} // namespace qf::embed::afl
