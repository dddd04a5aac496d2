#pragma once
// x86 CPU definitions as types (QEMU's builtin_x86_defs). Each is data: the
// identity CPUID reports, the physical address width and the feature words.
// A machine names the set it offers as cpu::models<Default, Others...>;
// -cpu picks one by name and +feat/-feat adjusts its features at run time.
// The translator reads the features: an instruction of a feature the
// model lacks raises #UD.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qf::x86 {

// The CPUID words that carry feature bits, named by leaf and register.
enum class feature_word : unsigned { l1_edx, l1_ecx, l7_ebx, l7_ecx, l7_edx, e1_edx, e1_ecx, count };

struct feature {
    feature_word word;
    unsigned bit;
};

struct feature_set {
    std::array<std::uint32_t, static_cast<unsigned>(feature_word::count)> w{};

    constexpr bool has(feature f) const { return (w[static_cast<unsigned>(f.word)] >> f.bit) & 1; }
    constexpr void set(feature f, bool on) {
        auto& x = w[static_cast<unsigned>(f.word)];
        x = on ? x | 1u << f.bit : x & ~(1u << f.bit);
    }
    constexpr std::uint32_t word(feature_word k) const { return w[static_cast<unsigned>(k)]; }
    constexpr bool operator==(const feature_set&) const = default;
};

// The features instructions are gated on (QEMU's names in comments).
namespace feat {
inline constexpr feature fpu{feature_word::l1_edx, 0}, tsc{feature_word::l1_edx, 4}, msr{feature_word::l1_edx, 5},
    cx8{feature_word::l1_edx, 8}, sep{feature_word::l1_edx, 11}, cmov{feature_word::l1_edx, 15},
    clflush{feature_word::l1_edx, 19}, mmx{feature_word::l1_edx, 23}, fxsr{feature_word::l1_edx, 24},
    sse{feature_word::l1_edx, 25}, sse2{feature_word::l1_edx, 26};
inline constexpr feature sse3{feature_word::l1_ecx, 0}, ssse3{feature_word::l1_ecx, 9}, cx16{feature_word::l1_ecx, 13},
    sse4_1{feature_word::l1_ecx, 19}, sse4_2{feature_word::l1_ecx, 20}, movbe{feature_word::l1_ecx, 22},
    pcid{feature_word::l1_ecx, 17}, popcnt{feature_word::l1_ecx, 23}, xsave{feature_word::l1_ecx, 26}, avx{feature_word::l1_ecx, 28},
    hypervisor{feature_word::l1_ecx, 31};
inline constexpr feature fsgsbase{feature_word::l7_ebx, 0}, bmi1{feature_word::l7_ebx, 3}, smep{feature_word::l7_ebx, 7},
    bmi2{feature_word::l7_ebx, 8}, erms{feature_word::l7_ebx, 9}, smap{feature_word::l7_ebx, 20};
inline constexpr feature umip{feature_word::l7_ecx, 2}, pku{feature_word::l7_ecx, 3}, la57{feature_word::l7_ecx, 16},
    pks{feature_word::l7_ecx, 31};
inline constexpr feature syscall{feature_word::e1_edx, 11}, nx{feature_word::e1_edx, 20}, rdtscp{feature_word::e1_edx, 27},
    lm{feature_word::e1_edx, 29};
inline constexpr feature lahf_lm{feature_word::e1_ecx, 0}, abm{feature_word::e1_ecx, 5}, sse4a{feature_word::e1_ecx, 6};
} // namespace feat

// A CPU model as the running CPU sees it: a definition, adjusted by -cpu.
struct cpu_model {
    std::string_view name, model_id, vendor;
    unsigned family, model, stepping, phys_bits;
    std::uint32_t level, xlevel;  // highest basic and extended CPUID leaves
    feature_set features;

    // CPUID.1:EAX, also EDX after RESET.
    constexpr std::uint32_t signature() const {
        return stepping | (model & 0xf) << 4 | (family < 15 ? family : 15) << 8 | (model >> 4) << 16 |
               (family > 15 ? family - 15 : 0) << 20;
    }
};

struct cpuid_result {
    std::uint32_t eax, ebx, ecx, edx;
};

// Where a CPU sits: its APIC ID among count CPUs, each a core of one
// socket (QEMU's -smp N: one socket, N cores, one thread each).
struct cpu_topology {
    unsigned apic_id = 0;
    unsigned count = 1;
};
// The topology fields of leaf/index for that CPU: the initial APIC ID and
// logical count in leaf 1, cores in leaf 4, the x2APIC ID and level widths
// in leaf 0xB, cores in 0x80000008.
void apply_topology(std::uint32_t leaf, std::uint32_t index, cpuid_result& r, cpu_topology where);
// CPUID as the model answers it (QEMU's cpu_x86_cpuid for one CPU).
cpuid_result cpuid(const cpu_model& m, std::uint32_t leaf, std::uint32_t subleaf);

// The CR4 bits a MOV to CR4 may set (QEMU's cr4_reserved_bits, inverted):
// VME..OSXMMEXCPT always; UMIP, LA57, FSGSBASE, PCIDE, OSXSAVE, SMEP,
// SMAP, PKE, PKS only where the model's CPUID has the feature; VMXE and
// SMXE never, as neither VMX nor SMX is emulated.
std::uint64_t cr4_writable_bits(const cpu_model& m);

// The model with "+feat", "-feat", "feat=on|off" applied, in order. An
// unknown feature, or turning on one the emulator does not implement, is
// a qf::error naming it.
cpu_model apply_features(cpu_model m, const std::vector<std::string>& list);

// The known feature names, for -cpu help.
std::string feature_names();

// The SSE3 to SSE4.2 helpers run the host's own instructions: a model
// offers them only where the host has them (x86-64 guarantees SSE2).
feature_set host_usable(feature_set f);

namespace cpu {

// QEMU's qemu64 (target/i386/cpu.c) as QEMU's TCG presents it: the
// definition with what TCG does not implement filtered out (ABM, SSE4A).
// Unlike QEMU, no SVM: it is not implemented.
struct qemu64 {
    static constexpr cpu_model def{
        "qemu64", "QEMU Virtual CPU version 2.5+", "AuthenticAMD", 15, 107, 1, 40, 0xd, 0x8000'000a,
        {{0x078b'fbfd, 0x8000'2001, 0, 0, 0, 0x2010'0800, 0x0000'0001}}};
};

// Everything the emulator implements: qemu64 and the extensions beyond it
// (SSSE3, SSE4.1, SSE4.2, POPCNT, MOVBE, LZCNT, RDTSCP, BMI1, BMI2).
struct max {
    static constexpr cpu_model def{
        "max", "QEMU TCG CPU version 2.5+", "AuthenticAMD", 15, 107, 1, 40, 0xd, 0x8000'000a,
        {{0x078b'fbfd, 0x8000'2001 | 1u << 9 | 1u << 19 | 1u << 20 | 1u << 22 | 1u << 23, 1u << 3 | 1u << 8, 0, 0,
          0x2010'0800 | 1u << 27, 0x0000'0021}}};
};

// The models a machine offers; the first is the default.
template <class Default, class... Others>
struct models {
    using default_type = Default;
    static constexpr std::array<cpu_model, 1 + sizeof...(Others)> all{Default::def, Others::def...};

    // -cpu NAME,feat...: the model to run, or a qf::error.
    static cpu_model select(std::string_view name, const std::vector<std::string>& features);
    // -cpu help
    static std::string help();
};

} // namespace cpu

// models<> without its template body in every machine: the work is here.
cpu_model select_model(std::string_view name, const std::vector<std::string>& features, const cpu_model* all,
                       std::size_t n);
std::string models_help(const cpu_model* all, std::size_t n);

template <class D, class... O>
cpu_model cpu::models<D, O...>::select(std::string_view name, const std::vector<std::string>& features) {
    return select_model(name, features, all.data(), all.size());
}
template <class D, class... O>
std::string cpu::models<D, O...>::help() {
    return models_help(all.data(), all.size());
}

} // namespace qf::x86
