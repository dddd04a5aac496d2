#include "state_fields.hpp"

#include <cstdio>
#include <cstring>

namespace qf::fuzz {

void append_state(named_values& f, const x86::state& s) {
    using namespace qf::x86;
    for (unsigned i = 0; i < 16; ++i) f.emplace_back("r" + std::to_string(i), s.regs[i]);
    f.emplace_back("rip", s.rip);
    f.emplace_back("eflags", compute_eflags(s));
    f.emplace_back("hflags", s.hflags);
    static const char* const segs[] = {"es", "cs", "ss", "ds", "fs", "gs"};
    auto seg = [&](const std::string& n, const segment& g) {
        f.emplace_back(n + ".selector", g.selector);
        f.emplace_back(n + ".base", g.base);
        f.emplace_back(n + ".limit", g.limit);
        f.emplace_back(n + ".attr", g.attr);
    };
    for (unsigned i = 0; i < 6; ++i) seg(segs[i], s.segs[i]);
    seg("ldt", s.ldt);
    seg("tr", s.tr);
    f.emplace_back("gdt.base", s.gdt.base);
    f.emplace_back("gdt.limit", s.gdt.limit);
    f.emplace_back("idt.base", s.idt.base);
    f.emplace_back("idt.limit", s.idt.limit);
    for (unsigned i = 0; i < 5; ++i) f.emplace_back("cr" + std::to_string(i), s.cr[i]);
    f.emplace_back("efer", s.efer);
    for (unsigned i = 0; i < 8; ++i) f.emplace_back("dr" + std::to_string(i), s.dr[i]);
    f.emplace_back("a20_mask", s.a20_mask);
    const std::pair<const char*, std::uint64_t> msrs[] = {
        {"star", s.star}, {"lstar", s.lstar}, {"cstar", s.cstar}, {"fmask", s.fmask}, {"kernel_gs_base", s.kernel_gs_base},
        {"sysenter_cs", s.sysenter_cs}, {"sysenter_esp", s.sysenter_esp}, {"sysenter_eip", s.sysenter_eip},
        {"tsc_aux", s.tsc_aux}, {"pat", s.pat}, {"apic_base", s.apic_base}, {"misc_enable", s.misc_enable}};
    for (const auto& [n, v] : msrs) f.emplace_back(n, v);
    for (unsigned i = 0; i < 28; ++i) f.emplace_back("mtrr" + std::to_string(i), s.mtrr[i]);
    for (unsigned i = 0; i < 8; ++i) {
        f.emplace_back("fpr" + std::to_string(i) + ".mant", s.fpr[i].mant);
        f.emplace_back("fpr" + std::to_string(i) + ".sign_exp", s.fpr[i].sign_exp);
    }
    f.emplace_back("fcw", s.fcw);
    f.emplace_back("fsw", s.fsw);
    f.emplace_back("fop", s.fop);
    f.emplace_back("ftw", s.ftw);
    f.emplace_back("fip", s.fip);
    f.emplace_back("fdp", s.fdp);
    for (unsigned i = 0; i < 16; ++i) {
        f.emplace_back("xmm" + std::to_string(i) + ".lo", s.xmm[i].q[0]);
        f.emplace_back("xmm" + std::to_string(i) + ".hi", s.xmm[i].q[1]);
    }
    f.emplace_back("mxcsr", s.mxcsr);
    f.emplace_back("halted", s.halted);
}

std::string first_difference(const named_values& a, const named_values& b) {
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
        if (a[i].second != b[i].second) {
            char line[200];
            std::snprintf(line, sizeof line, "%s: %#llx against %#llx", a[i].first.c_str(),
                          static_cast<unsigned long long>(a[i].second), static_cast<unsigned long long>(b[i].second));
            return line;
        }
    return {};
}

std::string memory_difference(const char* what, const std::uint8_t* a, const std::uint8_t* b, std::size_t size) {
    if (std::memcmp(a, b, size) == 0) return {};
    std::size_t i = 0;
    while (a[i] == b[i]) ++i;
    char line[160];
    std::snprintf(line, sizeof line, "%s at %#zx: %#x against %#x", what, i, a[i], b[i]);
    return line;
}

} // namespace qf::fuzz
