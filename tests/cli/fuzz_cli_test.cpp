// qforge-fuzz's command line: every malformed option, a firmware image that
// is not one and a missing input are one line on stderr and status 1,
// before any input runs (examples/ replays good and crashing inputs).
#include "process.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace {
const std::string fuzz = qft::build_path("QF_FUZZ_BINARY", QF_FUZZ_BINARY);
const std::string parser = qft::build_path("QF_FUZZ_PARSER_BIOS", QF_FUZZ_PARSER_BIOS);
const std::string seeds = QF_FUZZ_EXAMPLE_DIR;
} // namespace

TEST_CASE("qforge-fuzz refuses each malformed option with one line and status 1") {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--input", "foo"}, "--input: 'foo' is not mem:ADDR or serial"},
        {{"--input", "mem:"}, "--input: '' is not a number"},
        {{"--input", "mem:0x"}, "--input: '0x' is not a number"},
        {{"--crash", "bogus"}, "--crash: 'bogus' is not exception:V, port:P or timeout"},
        {{"--crash", "exception:32"}, "--crash: '32' is not a number up to 31"},
        {{"--crash", "port:65536"}, "--crash: '65536' is not a number up to 65535"},
        {{"--timeout", "0"}, "--timeout: 0 blocks runs nothing"},
        {{"--timeout", "-5"}, "--timeout: '-5' is not a number"},
        {{"--repeat", "0"}, "--repeat: 0 runs nothing"},
        {{"--bogus"}, "unknown option --bogus"},
        {{}, "say where the input goes"},
    };
    for (const auto& [extra, message] : cases) {
        std::vector<std::string> args = {fuzz, "-bios", parser};
        if (!extra.empty() && extra.front() != "--input") args.insert(args.end(), {"--input", "mem:0x200000"});
        args.insert(args.end(), extra.begin(), extra.end());
        args.insert(args.end(), {"--", seeds + "/seeds/patch.bin"});
        const std::string what = extra.empty() ? std::string("(no --input)") : extra.front() + " " + (extra.size() > 1 ? extra[1] : "");
        INFO(what);
        const auto r = qft::run(args);
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        CHECK(r.err.find("qforge-fuzz: " + message) != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
    // A firmware image that is not one, and an input file that is not there.
    const auto bad_bios = qft::run({fuzz, "-bios", seeds + "/seeds/patch.bin", "--input", "mem:0x200000", "--",
                                    seeds + "/seeds/patch.bin"});
    CHECK(bad_bios.status == 1);
    CHECK(std::count(bad_bios.err.begin(), bad_bios.err.end(), '\n') == 1);
    const auto missing = qft::run({fuzz, "-bios", parser, "--input", "mem:0x200000", "--", "/nonexistent/input"});
    CHECK(missing.status == 1);
    CHECK(missing.err.find("cannot open /nonexistent/input") != std::string::npos);
}
