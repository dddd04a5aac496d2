// Writes random firmware images for -bios: the prologue enters the mode
// asked for and jumps to a random or half-random payload, whose exceptions
// lead back into it. For probing qforge as a user would, e.g.
//
//   random-firmware --mode long64 --ring3 --seed 7 -o fw.bin
//   qforge-system-x86_64 -M testrig -bios fw.bin -nographic -no-reboot
//
//   random-firmware --count 100 --dir imgs    (modes and flags in turn)
//
// The firmware fuzz target runs the same images in process (fuzz_firmware).
#include "firmware_image.hpp"
#include "qf/core/error.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using qf::fuzz::cpu_config;
using qf::fuzz::cpu_mode;

const char* const mode_names[] = {"real", "prot16", "prot32", "prot32-ring3", "prot32-paging", "v86", "long64",
                                  "long64-ring3", "compat32"};

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: random-firmware [--mode MODE] [--ring3] [--flags N] [--seed S] [--size BYTES]\n"
                 "                       [--random | --half-random] -o FILE\n"
                 "       random-firmware --count N --dir DIR [--seed S] [--size BYTES] [--random]\n"
                 "MODE: real prot16 prot32 prot32-ring3 prot32-paging v86 long64 long64-ring3 compat32\n"
                 "--flags: bit 0 IF, 2-3 IOPL, 4 AC, 5-6 CR0.TS/EM, 7 CR0.WP+CR4.TSD (as the fuzz inputs' byte 1)\n");
    std::exit(2);
}

void write(const std::filesystem::path& p, const std::vector<std::uint8_t>& img) {
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(img.data()), static_cast<std::streamsize>(img.size()));
    if (!f) throw qf::error("cannot write " + p.string());
}

} // namespace

int main(int argc, char** argv) {
    std::string out, dir;
    unsigned mode = 2, flags = 0, count = 0;
    bool ring3 = false, half = true;
    std::uint64_t seed = 1;
    std::size_t size = 4096;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage();
            return argv[++i];
        };
        if (a == "--mode") {
            const std::string m = value();
            mode = ~0u;
            for (unsigned k = 0; k < std::size(mode_names); ++k)
                if (m == mode_names[k] || m == std::to_string(k)) mode = k;
            if (mode == ~0u) usage();
        } else if (a == "--ring3") ring3 = true;
        else if (a == "--flags") flags = static_cast<unsigned>(std::stoul(value(), nullptr, 0));
        else if (a == "--seed") seed = std::stoull(value(), nullptr, 0);
        else if (a == "--size") size = std::stoull(value(), nullptr, 0);
        else if (a == "--random") half = false;
        else if (a == "--half-random") half = true;
        else if (a == "-o") out = value();
        else if (a == "--count") count = static_cast<unsigned>(std::stoul(value()));
        else if (a == "--dir") dir = value();
        else usage();
    }
    if (size > qf::fuzz::max_payload) size = qf::fuzz::max_payload;
    try {
        if (count && !dir.empty()) {
            std::filesystem::create_directories(dir);
            for (unsigned n = 0; n < count; ++n) {
                const unsigned m = n % std::size(mode_names);
                const unsigned f = (n / std::size(mode_names)) % 4 == 0 ? 0 : static_cast<unsigned>(qf::fuzz::mix(seed + n));
                const cpu_config cfg = cpu_config::from(static_cast<std::uint8_t>(m), static_cast<std::uint8_t>(f), 0);
                const auto img = qf::fuzz::build_firmware(cfg, qf::fuzz::random_payload(seed + n, size, half && n % 3));
                write(std::filesystem::path(dir) / (std::string(mode_names[m]) + "-" + std::to_string(n) + ".bin"), img);
            }
            return 0;
        }
        if (out.empty()) usage();
        if (ring3 && mode == 2) mode = 3;
        if (ring3 && mode == 6) mode = 7;
        const cpu_config cfg = cpu_config::from(static_cast<std::uint8_t>(mode), static_cast<std::uint8_t>(flags), 0);
        write(out, qf::fuzz::build_firmware(cfg, qf::fuzz::random_payload(seed, size, half)));
    } catch (const qf::error& e) {
        std::fprintf(stderr, "random-firmware: %s\n", e.what());
        return 1;
    }
    return 0;
}
