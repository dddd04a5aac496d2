// CPUID from a model, and -cpu's feature syntax with QEMU's feature names.
#include <bit>
#include "targets/x86/cpu_defs.hpp"

#include "qf/core/error.hpp"

#include <cstring>

namespace qf::x86 {

namespace {

// QEMU's feature_word_info names, by word and bit ("" where a bit has no
// name one may set; aliases QEMU also accepts follow in `aliases`).
constexpr std::string_view names[static_cast<unsigned>(feature_word::count)][32] = {
    {"fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "", "sep", "mtrr", "pge", "mca", "cmov",
     "pat", "pse36", "pn", "clflush", "", "ds", "acpi", "mmx", "fxsr", "sse", "sse2", "ss", "ht", "tm", "ia64", "pbe"},
    {"pni", "pclmulqdq", "dtes64", "monitor", "ds-cpl", "vmx", "smx", "est", "tm2", "ssse3", "cid", "", "fma", "cx16",
     "xtpr", "pdcm", "", "pcid", "dca", "sse4.1", "sse4.2", "x2apic", "movbe", "popcnt", "tsc-deadline", "aes", "xsave",
     "", "avx", "f16c", "rdrand", "hypervisor"},
    {"fsgsbase", "tsc-adjust", "sgx", "bmi1", "hle", "avx2", "", "smep", "bmi2", "erms", "invpcid", "rtm", "", "",
     "mpx", "", "avx512f", "avx512dq", "rdseed", "adx", "smap", "avx512ifma", "pcommit", "clflushopt", "clwb",
     "intel-pt", "avx512pf", "avx512er", "avx512cd", "sha-ni", "avx512bw", "avx512vl"},
    {"", "avx512vbmi", "umip", "pku", "", "waitpkg", "avx512vbmi2", "", "gfni", "vaes", "vpclmulqdq", "avx512vnni",
     "avx512bitalg", "", "avx512-vpopcntdq", "", "la57", "", "", "", "", "", "rdpid", "", "bus-lock-detect",
     "cldemote", "", "movdiri", "movdir64b", "", "sgxlc", "pks"},
    {"", "", "avx512-4vnniw", "avx512-4fmaps", "fsrm", "", "", "", "avx512-vp2intersect", "", "md-clear", "", "", "",
     "serialize", "", "tsx-ldtrk", "", "", "", "", "", "amx-bf16", "avx512-fp16", "amx-tile", "amx-int8",
     "spec-ctrl", "stibp", "", "arch-capabilities", "core-capability", "ssbd"},
    {"", "", "", "", "", "", "", "", "", "", "", "syscall", "", "", "", "", "", "", "", "mp", "nx", "", "mmxext", "",
     "", "fxsr-opt", "pdpe1gb", "rdtscp", "", "lm", "3dnowext", "3dnow"},
    {"lahf-lm", "cmp-legacy", "svm", "extapic", "cr8legacy", "abm", "sse4a", "misalignsse", "3dnowprefetch", "osvw",
     "ibs", "xop", "skinit", "wdt", "", "lwp", "fma4", "tce", "", "nodeid-msr", "", "tbm", "topoext", "perfctr-core",
     "perfctr-nb", "", "", "", "", "", "", ""},
};

constexpr std::pair<std::string_view, std::string_view> aliases[] = {
    {"sse3", "pni"},       {"sse4_1", "sse4.1"}, {"sse4-1", "sse4.1"},     {"sse4_2", "sse4.2"},
    {"sse4-2", "sse4.2"},  {"lahf_lm", "lahf-lm"}, {"fxsr_opt", "fxsr-opt"}, {"pclmuldq", "pclmulqdq"},
    {"i64", "lm"},         {"tsc_adjust", "tsc-adjust"}, {"ds_cpl", "ds-cpl"},
};

bool find_feature(std::string_view name, feature& out) {
    for (const auto& [a, n] : aliases)
        if (name == a) name = n;
    for (unsigned w = 0; w < static_cast<unsigned>(feature_word::count); ++w)
        for (unsigned b = 0; b < 32; ++b)
            if (!names[w][b].empty() && names[w][b] == name) {
                out = {static_cast<feature_word>(w), b};
                return true;
            }
    return false;
}

std::uint32_t str4(std::string_view s, std::size_t i) {
    std::uint32_t v = 0;
    std::memcpy(&v, s.data() + 4 * i, 4);
    return v;
}

// AMD copies these CPUID.1:EDX bits into CPUID.80000001:EDX (QEMU's
// CPUID_EXT2_AMD_ALIASES, applied when the vendor is AMD).
constexpr std::uint32_t amd_aliases = 0x0183'f3ff;

} // namespace

cpuid_result cpuid(const cpu_model& m, std::uint32_t leaf, std::uint32_t subleaf) {
    const feature_set& f = m.features;
    const bool amd = m.vendor == "AuthenticAMD";
    if (leaf >= 0x8000'0000 ? leaf > m.xlevel : leaf > m.level) leaf = m.level;  // as Intel: the highest basic leaf
    switch (leaf) {
    case 0: return {m.level, str4(m.vendor, 0), str4(m.vendor, 2), str4(m.vendor, 1)};
    case 1:  // EBX: CLFLUSH line size 8 qwords, APIC ID 0
        return {m.signature(), 0x0000'0800, f.word(feature_word::l1_ecx), f.word(feature_word::l1_edx)};
    case 5: return {0, 0, 3, 0};  // MONITOR/MWAIT: the extensions QEMU reports
    case 7:
        if (subleaf != 0) return {0, 0, 0, 0};
        return {0, f.word(feature_word::l7_ebx), f.word(feature_word::l7_ecx), f.word(feature_word::l7_edx)};
    case 0xb:  // topology of one thread in one core: SMT level, then core level
        if (subleaf == 0) return {0, 1, 0x100, 0};
        if (subleaf == 1) return {0, 1, 0x201, 0};
        return {0, 0, subleaf & 0xff, 0};
    case 0x8000'0000: return {m.xlevel, str4(m.vendor, 0), str4(m.vendor, 2), str4(m.vendor, 1)};
    case 0x8000'0001: {
        std::uint32_t edx = f.word(feature_word::e1_edx);
        if (amd) edx = (edx & ~amd_aliases) | (f.word(feature_word::l1_edx) & amd_aliases);
        return {m.signature(), 0, f.word(feature_word::e1_ecx), edx};
    }
    case 0x8000'0002: case 0x8000'0003: case 0x8000'0004: {
        char brand[48] = {};
        std::memcpy(brand, m.model_id.data(), std::min<std::size_t>(m.model_id.size(), 47));
        const std::string_view b(brand, 48);
        const std::size_t i = (leaf - 0x8000'0002) * 4;
        return {str4(b, i), str4(b, i + 1), str4(b, i + 2), str4(b, i + 3)};
    }
    case 0x8000'0005:  // L1 TLBs and caches (QEMU's legacy AMD values)
        return {0x01ff'01ff, 0x01ff'01ff, 0x4002'0140, 0x4002'0140};
    case 0x8000'0006:  // L2 TLB and cache, L3
        return {0, 0x4200'4200, 0x0200'8140, 0x0080'8140};
    case 0x8000'0008:  // physical and linear address widths
        return {0x3000 | m.phys_bits, 0, 0, 0};
    default: return {0, 0, 0, 0};
    }
}

void apply_topology(std::uint32_t leaf, std::uint32_t index, cpuid_result& r, cpu_topology where) {
    const unsigned n = where.count, id = where.apic_id;
    const unsigned id_bits = n > 1 ? std::bit_width(n - 1) : 0;  // the core's part of an APIC ID
    switch (leaf) {
    case 1:  // EBX[31:24] initial APIC ID, [23:16] logical processors (with HTT) when more than one
        r.ebx = (r.ebx & 0xffff) | id << 24 | (n > 1 ? n << 16 : 0);
        if (n > 1) r.edx |= 1u << 28;
        break;
    case 4:  // EAX[31:26]: cores per package - 1, in each cache descriptor
        if (r.eax & 0x1f) r.eax = (r.eax & 0x03ff'ffff) | (n - 1) << 26;
        break;
    case 0xb:  // EDX: x2APIC ID at every level; the core level covers all of them
        r.edx = id;
        if (index == 1) {
            r.eax = (r.eax & ~0x1fu) | id_bits;
            r.ebx = (r.ebx & ~0xffffu) | n;
        }
        break;
    case 0x8000'0008:  // ECX[7:0] cores - 1, [15:12] the APIC ID's core bits
        if (n > 1) r.ecx = (r.ecx & ~0xf0ffu) | id_bits << 12 | (n - 1);
        break;
    default: break;
    }
}

std::uint64_t cr4_writable_bits(const cpu_model& m) {
    std::uint64_t bits = 0x7ff;  // VME, PVI, TSD, DE, PSE, PAE, MCE, PGE, PCE, OSFXSR, OSXMMEXCPT
    const struct {
        feature f;
        unsigned bit;
    } gated[] = {{feat::umip, 11}, {feat::la57, 12}, {feat::fsgsbase, 16}, {feat::pcid, 17}, {feat::xsave, 18},
                 {feat::smep, 20}, {feat::smap, 21}, {feat::pku, 22}, {feat::pks, 24}};
    for (auto g : gated)
        if (m.features.has(g.f)) bits |= 1ull << g.bit;
    return bits;
}

feature_set host_usable(feature_set f) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("sse3")) f.set(feat::sse3, false);
    if (!__builtin_cpu_supports("ssse3")) f.set(feat::ssse3, false);
    if (!__builtin_cpu_supports("sse4.1")) f.set(feat::sse4_1, false);
    if (!__builtin_cpu_supports("sse4.2")) f.set(feat::sse4_2, false);
    return f;
}

cpu_model apply_features(cpu_model m, const std::vector<std::string>& list) {
    for (const std::string& item : list) {
        std::string_view name = item;
        bool on;
        if (name.starts_with('+') || name.starts_with('-')) {
            on = name[0] == '+';
            name.remove_prefix(1);
        } else if (auto eq = name.find('='); eq != std::string_view::npos) {
            const std::string_view v = name.substr(eq + 1);
            name = name.substr(0, eq);
            if (v == "on" || v == "true" || v == "yes") on = true;
            else if (v == "off" || v == "false" || v == "no") on = false;
            else throw error("-cpu " + std::string(m.name) + "," + item + ": expected on or off");
        } else {
            on = true;
        }
        feature f{};
        if (!find_feature(name, f))
            throw error("-cpu " + std::string(m.name) + "," + item + ": unknown CPU feature '" + std::string(name) +
                        "'");
        if (on && !cpu::max::def.features.has(f))
            throw error("-cpu " + std::string(m.name) + "," + item + ": CPU feature '" + std::string(name) +
                        "' is not implemented yet (-cpu max has everything that is)");
        m.features.set(f, on);
    }
    return m;
}

std::string feature_names() {
    std::string s;
    std::size_t col = 0;
    for (const auto& word : names)
        for (std::string_view n : word) {
            if (n.empty()) continue;
            if (col + n.size() + 1 > 76) {
                s += '\n';
                col = 0;
            }
            s += ' ';
            s += n;
            col += n.size() + 1;
        }
    return s + '\n';
}

cpu_model select_model(std::string_view name, const std::vector<std::string>& features, const cpu_model* all,
                       std::size_t n) {
    if (name.empty()) return apply_features(all[0], features);
    for (std::size_t i = 0; i < n; ++i)
        if (all[i].name == name) return apply_features(all[i], features);
    std::string known;
    for (std::size_t i = 0; i < n; ++i) known += (i ? ", " : "") + std::string(all[i].name);
    throw error("-cpu " + std::string(name) + ": unknown CPU model (this machine has: " + known + ")");
}

std::string models_help(const cpu_model* all, std::size_t n) {
    std::string s = "Available CPUs:\n";
    for (std::size_t i = 0; i < n; ++i) {
        std::string line = "x86 " + std::string(all[i].name);
        line.resize(std::max<std::size_t>(24, line.size() + 1), ' ');
        s += line + std::string(all[i].model_id) + (i == 0 ? " (default)" : "") + "\n";
    }
    return s + "\nRecognized CPUID flags (-cpu MODEL,+flag,-flag):\n" + feature_names();
}

} // namespace qf::x86
