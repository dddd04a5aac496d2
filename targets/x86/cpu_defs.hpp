#pragma once
// x86 CPU definitions as types (QEMU's builtin_x86_defs). Each is data:
// the identity CPUID reports and the physical address width. Feature bits
// come with the instruction set (issue #4).
#include <cstdint>
#include <cstring>
#include <string_view>

namespace qf::x86::cpu {

struct qemu64 {
    static constexpr std::string_view name = "qemu64";
    static constexpr std::string_view model_id = "QEMU Virtual CPU version 2.5+";
    static constexpr std::string_view vendor = "AuthenticAMD";  // CPUID.0: EBX,EDX,ECX
    static constexpr unsigned family = 15;                      // CPUID.1:EAX[11:8]+[27:20]
    static constexpr unsigned model = 107;                      // CPUID.1:EAX[7:4]+[19:16]<<4
    static constexpr unsigned stepping = 1;                     // CPUID.1:EAX[3:0]
    static constexpr unsigned phys_bits = 40;                   // CPUID.80000008:EAX[7:0]

    // CPUID.1:EAX, also EDX after RESET.
    static constexpr std::uint32_t signature =
        stepping | (model & 0xf) << 4 | (family < 15 ? family : 15) << 8 | (model >> 4) << 16 |
        (family > 15 ? family - 15 : 0) << 20;

    struct regs {
        std::uint32_t eax, ebx, ecx, edx;
    };
    // QEMU's qemu64 feature words (target/i386/cpu.c); the translator raises
    // #UD, logged under -d unimp, for what it does not implement yet.
    static regs cpuid(std::uint32_t leaf, std::uint32_t) {
        auto str = [](const char* s, std::size_t i) {
            std::uint32_t v = 0;
            std::memcpy(&v, s + 4 * i, 4);
            return v;
        };
        static constexpr char brand[49] = "QEMU Virtual CPU version 2.5+\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        switch (leaf) {
        case 0: return {0xd, str("AuthenticAMD", 0), str("AuthenticAMD", 2), str("AuthenticAMD", 1)};
        case 1: return {signature, 0x0000'0800, 0x8080'2001, 0x078b'fbfd};
        case 0x8000'0000: return {0x8000'0008, str("AuthenticAMD", 0), str("AuthenticAMD", 2), str("AuthenticAMD", 1)};
        case 0x8000'0001: return {signature, 0, 0x0000'0065, 0x2010'0800};
        case 0x8000'0002: case 0x8000'0003: case 0x8000'0004: {
            const std::size_t b = (leaf - 0x8000'0002) * 4;
            return {str(brand, b), str(brand, b + 1), str(brand, b + 2), str(brand, b + 3)};
        }
        case 0x8000'0008: return {0x3000 | phys_bits, 0, 0, 0};
        default: return {0, 0, 0, 0};
        }
    }
};

} // namespace qf::x86::cpu
