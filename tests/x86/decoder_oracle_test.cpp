// The decoder against Zydis: on random byte strings in each mode, the
// instruction length and whether the encoding is valid must agree.
// Disagreements are grouped by opcode and listed. Encodings our CPUs do
// not have (VEX, EVEX, XOP, 3DNow!) are counted separately: we decode
// their length and raise #UD.
#include "targets/x86/decoder.hpp"

#include <Zydis/Zydis.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <map>
#include <random>
#include <string>

using namespace qf::x86;

namespace {

struct mode_case {
    cpu_mode mode;
    ZydisMachineMode zm;
    ZydisStackWidth sw;
    const char* name;
};

// Random instruction bytes, biased towards prefixes and the 0F maps so
// that every part of the grammar is hit often.
void random_insn(std::mt19937_64& rng, std::uint8_t* out) {
    static constexpr std::uint8_t prefixes[] = {0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36, 0x48, 0x41, 0x4c};
    unsigned i = 0;
    const unsigned np = rng() % 4 == 0 ? 1 + rng() % 3 : 0;
    for (unsigned k = 0; k < np; ++k) out[i++] = prefixes[rng() % std::size(prefixes)];
    static constexpr std::uint8_t vex[] = {0xc4, 0xc5, 0x62, 0x8f};
    switch (rng() % 8) {
    case 0:
    case 1: out[i++] = 0x0f; break;
    case 2:
        out[i++] = 0x0f;
        out[i++] = rng() % 2 ? 0x38 : 0x3a;
        break;
    case 3: out[i++] = vex[rng() % std::size(vex)]; break;
    default: break;
    }
    while (i < 15) out[i++] = static_cast<std::uint8_t>(rng());
}

std::string hex(const std::uint8_t* p, unsigned n) {
    std::string s;
    char b[4];
    for (unsigned i = 0; i < n; ++i) {
        std::snprintf(b, sizeof b, "%02x", p[i]);
        s += b;
    }
    return s;
}

} // namespace

TEST_CASE("the decoder agrees with Zydis on length and validity of random byte strings") {
    const mode_case modes[] = {{cpu_mode::real16, ZYDIS_MACHINE_MODE_REAL_16, ZYDIS_STACK_WIDTH_16, "real"},
                               {cpu_mode::m16, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16, "16-bit"},
                               {cpu_mode::m32, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32, "32-bit"},
                               {cpu_mode::m64, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64, "64-bit"}};
    const unsigned per_mode = 1'000'000;
    for (const mode_case& mc : modes) {
        ZydisDecoder zd;
        REQUIRE(ZYAN_SUCCESS(ZydisDecoderInit(&zd, mc.zm, mc.sw)));
        std::mt19937_64 rng(0x5eed + static_cast<unsigned>(mc.mode));
        unsigned compared = 0, excluded = 0, length_mismatch = 0, validity_mismatch = 0;
        unsigned vex_compared = 0, vex_length_mismatch = 0;
        std::string vex_examples;
        struct group {
            unsigned count = 0;
            std::string example;
        };
        std::map<std::string, group> groups;
        for (unsigned n = 0; n < per_mode; ++n) {
            std::uint8_t bytes[15];
            random_insn(rng, bytes);
            ZydisDecodedInstruction zi;
            const ZyanStatus zs = ZydisDecoderDecodeInstruction(&zd, nullptr, bytes, 15, &zi);
            const bool z_ok = ZYAN_SUCCESS(zs);
            const insn ours = decode(mc.mode, bytes, 15);
            if ((z_ok && zi.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY) || ours.vex ||
                (ours.map == 1 && ours.op == 0x0f)) {
                ++excluded;
                // Their length still matters: it is where the next instruction starts.
                if (z_ok && ours.len && zi.encoding != ZYDIS_INSTRUCTION_ENCODING_MVEX) {
                    ++vex_compared;
                    if (zi.length != ours.len) {
                        ++vex_length_mismatch;
                        if (vex_examples.size() < 400) vex_examples += hex(bytes, 15) + " zydis " + std::to_string(zi.length) + " ours " + std::to_string(ours.len) + "\n";
                    }
                }
                continue;
            }
            ++compared;
            const bool o_ok = ours.status == decode_status::ok;
            std::string why;
            if (z_ok != o_ok) {
                ++validity_mismatch;
                why = z_ok ? "zydis-valid/ours-invalid" : "zydis-invalid/ours-valid";
            } else if (z_ok && zi.length != ours.len) {
                ++length_mismatch;
                why = "length " + std::to_string(zi.length) + " vs " + std::to_string(ours.len);
            }
            if (!why.empty()) {
                char key[96];
                std::snprintf(key, sizeof key, "%s map%u op%02x pfx%02x: %s", mc.name, ours.map, ours.op, ours.mandatory,
                              why.c_str());
                auto& g = groups[key];
                if (g.count++ == 0) g.example = hex(bytes, 15);
            }
        }
        std::string list;
        std::vector<std::pair<unsigned, std::string>> sorted;
        for (auto& [k, g] : groups) sorted.emplace_back(g.count, k + "  e.g. " + g.example);
        std::sort(sorted.rbegin(), sorted.rend());
        for (std::size_t i = 0; i < sorted.size() && i < 40; ++i) list += std::to_string(sorted[i].first) + "  " + sorted[i].second + "\n";
        std::printf("decoder vs Zydis, %s: %u compared, %u excluded (VEX/EVEX/XOP/3DNow!), %u length and %u validity "
                    "disagreements in %zu groups\n%s",
                    mc.name, compared, excluded, length_mismatch, validity_mismatch, groups.size(), list.c_str());
        std::printf("  VEX/EVEX/XOP/3DNow! lengths: %u compared, %u differ\n%s", vex_compared, vex_length_mismatch, vex_examples.c_str());
        INFO(list);
        CHECK(length_mismatch == 0);
        CHECK(vex_length_mismatch == 0);
        CHECK(validity_mismatch == 0);
    }
}
