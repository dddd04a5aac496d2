#pragma once
// x86 CPU definitions as types (QEMU's builtin_x86_defs). Each is data:
// the identity CPUID reports and the physical address width. Feature bits
// come with the instruction set (issue #4).
#include <cstdint>
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
};

} // namespace qf::x86::cpu
