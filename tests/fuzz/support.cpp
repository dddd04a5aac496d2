// The target-side helpers of fuzz.hpp, linked into every engine's binary
// (driver.cpp's main is not, under libFuzzer).
#include "fuzz.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

namespace qf::fuzz {

void fail(std::string_view why) {
    std::fprintf(stderr, "\n==== fuzz target failure ====\n%.*s\n", static_cast<int>(why.size()), why.data());
    std::fflush(stderr);
    std::abort();
}

std::vector<std::string> split_args(std::string_view input) {
    std::vector<std::string> out;
    while (true) {
        const auto nul = input.find('\0');
        out.emplace_back(input.substr(0, nul));
        if (nul == std::string_view::npos) break;
        input.remove_prefix(nul + 1);
    }
    return out;
}

bool open_findings() {
    static const bool open = std::getenv("QF_FUZZ_OPEN") != nullptr;
    return open;
}

std::string scratch_dir_of(long pid) {
    return (std::filesystem::temp_directory_path() / ("qf-fuzz-" + std::to_string(pid))).string();
}

namespace {
std::mutex counters_lock;
std::map<std::string, std::uint64_t, std::less<>>& counters() {
    static std::map<std::string, std::uint64_t, std::less<>> m;
    return m;
}
} // namespace

void count(std::string_view what, std::uint64_t n) {
    std::lock_guard g(counters_lock);
    auto& m = counters();
    auto it = m.find(what);
    if (it == m.end()) m.emplace(std::string(what), n);
    else it->second += n;
}

// For driver.cpp: the counters as "name n" lines.
std::string counters_report() {
    std::lock_guard g(counters_lock);
    std::string out;
    for (const auto& [k, v] : counters()) out += "  " + k + " " + std::to_string(v) + "\n";
    return out;
}

} // namespace qf::fuzz
