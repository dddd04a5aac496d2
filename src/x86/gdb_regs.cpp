#include "targets/x86/gdb_regs.hpp"

#include "helpers.hpp"

#include <bit>
#include <cstring>
#include <initializer_list>
#include <tuple>
#include <utility>

namespace qf::x86::gdb {

namespace {

enum class kind : std::uint8_t {
    gpr, ip, flags, seg, fs_base, gs_base, k_gs_base, cr, efer, st, fctrl, fstat, ftag, fiseg, fioff, foseg, fooff,
    fop, xmm, mxcsr
};

struct reg {
    std::string name;
    unsigned bits;
    std::string type;
    kind k;
    unsigned index = 0;  // gpr: the state's register; seg, cr, st, xmm: which
};

// QEMU 7.2's order and features (one org.gnu.gdb.i386.core with them
// all), so that a client that numbers registers as QEMU does reads the same
// ones here, and gdb shows what it shows for QEMU.
std::vector<reg> make_layout(bool x86_64) {
    std::vector<reg> r;
    const unsigned w = x86_64 ? 64 : 32;
    if (x86_64) {
        static const char* const names[16] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
                                              "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
        static const unsigned index[16] = {R_EAX, R_EBX, R_ECX, R_EDX, R_ESI, R_EDI, R_EBP, R_ESP,
                                           8,     9,     10,    11,    12,    13,    14,    15};
        for (unsigned i = 0; i < 16; ++i)
            r.push_back({names[i], 64, i == 6 || i == 7 ? "data_ptr" : "int64", kind::gpr, index[i]});
        r.push_back({"rip", 64, "code_ptr", kind::ip});
    } else {
        static const char* const names[8] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};
        for (unsigned i = 0; i < 8; ++i) r.push_back({names[i], 32, i == 4 || i == 5 ? "data_ptr" : "int32", kind::gpr, i});
        r.push_back({"eip", 32, "code_ptr", kind::ip});
    }
    r.push_back({"eflags", 32, "i386_eflags", kind::flags});
    static const char* const segs[6] = {"cs", "ss", "ds", "es", "fs", "gs"};
    static const unsigned seg_index[6] = {R_CS, R_SS, R_DS, R_ES, R_FS, R_GS};
    for (unsigned i = 0; i < 6; ++i) r.push_back({segs[i], 32, "int32", kind::seg, seg_index[i]});
    const std::string wt = x86_64 ? "int64" : "int32";
    r.push_back({"fs_base", w, wt, kind::fs_base});
    r.push_back({"gs_base", w, wt, kind::gs_base});
    r.push_back({"k_gs_base", w, wt, kind::k_gs_base});
    r.push_back({"cr0", w, "i386_cr0", kind::cr, 0});
    r.push_back({"cr2", w, wt, kind::cr, 2});
    r.push_back({"cr3", w, "i386_cr3", kind::cr, 3});
    r.push_back({"cr4", w, "i386_cr4", kind::cr, 4});
    r.push_back({"cr8", w, wt, kind::cr, 8});
    r.push_back({"efer", w, "i386_efer", kind::efer});
    for (unsigned i = 0; i < 8; ++i) r.push_back({"st" + std::to_string(i), 80, "i387_ext", kind::st, i});
    r.push_back({"fctrl", 32, "int", kind::fctrl});
    r.push_back({"fstat", 32, "int", kind::fstat});
    r.push_back({"ftag", 32, "int", kind::ftag});
    r.push_back({"fiseg", 32, "int", kind::fiseg});
    r.push_back({"fioff", 32, "int", kind::fioff});
    r.push_back({"foseg", 32, "int", kind::foseg});
    r.push_back({"fooff", 32, "int", kind::fooff});
    r.push_back({"fop", 32, "int", kind::fop});
    for (unsigned i = 0; i < (x86_64 ? 16u : 8u); ++i)
        r.push_back({"xmm" + std::to_string(i), 128, "vec128", kind::xmm, i});
    r.push_back({"mxcsr", 32, "i386_mxcsr", kind::mxcsr});
    return r;
}

const std::vector<reg>& layout(bool x86_64) {
    static const std::vector<reg> l64 = make_layout(true), l32 = make_layout(false);
    return x86_64 ? l64 : l32;
}

std::string make_xml(bool x86_64) {
    std::string x = "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target>\n<architecture>";
    x += x86_64 ? "i386:x86-64" : "i386";
    x += "</architecture>\n<feature name=\"org.gnu.gdb.i386.core\">\n";
    const auto field = [&](const char* name, int lo, int hi) {
        x += "<field name=\"" + std::string(name) + "\" start=\"" + std::to_string(lo) + "\" end=\"" +
             std::to_string(hi) + "\"/>";
    };
    // Each flag register's fields from the top bit down, as QEMU's
    // description gives them (gdb shows them in this order).
    const auto flags = [&](const char* id, unsigned size, std::initializer_list<std::tuple<const char*, int, int>> f) {
        x += "<flags id=\"" + std::string(id) + "\" size=\"" + std::to_string(size) + "\">\n";
        for (const auto& [name, lo, hi] : f) {
            field(name, lo, hi);
            x += "\n";
        }
        x += "</flags>\n";
    };
    const unsigned wb = x86_64 ? 8 : 4;
    flags("i386_eflags", 4,
          {{"", 22, 31}, {"ID", 21, 21}, {"VIP", 20, 20}, {"VIF", 19, 19}, {"AC", 18, 18}, {"VM", 17, 17},
           {"RF", 16, 16}, {"", 15, 15}, {"NT", 14, 14}, {"IOPL", 12, 13}, {"OF", 11, 11}, {"DF", 10, 10},
           {"IF", 9, 9}, {"TF", 8, 8}, {"SF", 7, 7}, {"ZF", 6, 6}, {"", 5, 5}, {"AF", 4, 4}, {"", 3, 3},
           {"PF", 2, 2}, {"", 1, 1}, {"CF", 0, 0}});
    flags("i386_cr0", wb,
          {{"PG", 31, 31}, {"CD", 30, 30}, {"NW", 29, 29}, {"AM", 18, 18}, {"WP", 16, 16}, {"NE", 5, 5},
           {"ET", 4, 4}, {"TS", 3, 3}, {"EM", 2, 2}, {"MP", 1, 1}, {"PE", 0, 0}});
    flags("i386_cr3", wb, {{"PDBR", 12, x86_64 ? 63 : 31}, {"PCID", 0, 11}});
    flags("i386_cr4", wb,
          {{"PKE", 22, 22}, {"SMAP", 21, 21}, {"SMEP", 20, 20}, {"OSXSAVE", 18, 18}, {"PCIDE", 17, 17},
           {"FSGSBASE", 16, 16}, {"SMXE", 14, 14}, {"VMXE", 13, 13}, {"LA57", 12, 12}, {"UMIP", 11, 11},
           {"OSXMMEXCPT", 10, 10}, {"OSFXSR", 9, 9}, {"PCE", 8, 8}, {"PGE", 7, 7}, {"MCE", 6, 6}, {"PAE", 5, 5},
           {"PSE", 4, 4}, {"DE", 3, 3}, {"TSD", 2, 2}, {"PVI", 1, 1}, {"VME", 0, 0}});
    flags("i386_efer", wb,
          {{"TCE", 15, 15}, {"FFXSR", 14, 14}, {"LMSLE", 13, 13}, {"SVME", 12, 12}, {"NXE", 11, 11},
           {"LMA", 10, 10}, {"LME", 8, 8}, {"SCE", 0, 0}});
    x += "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>\n"
         "<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>\n"
         "<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>\n"
         "<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>\n"
         "<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>\n"
         "<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>\n"
         "<union id=\"vec128\">\n<field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" type=\"v2d\"/>"
         "<field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" type=\"v8i16\"/>"
         "<field name=\"v4_int32\" type=\"v4i32\"/><field name=\"v2_int64\" type=\"v2i64\"/>"
         "<field name=\"uint128\" type=\"uint128\"/>\n</union>\n";
    // MXCSR's fields from bit 0 up, as QEMU's SSE description lists them
    // (here on one line): the exceptions' flags, DAZ, their masks, FZ.
    {
        namespace mx = mxcsr_bit;
        const std::pair<const char*, std::uint32_t> mxcsr[] = {
            {"IE", mx::ie}, {"DE", mx::de}, {"ZE", mx::ze}, {"OE", mx::oe}, {"UE", mx::ue}, {"PE", mx::pe},
            {"DAZ", mx::daz}, {"IM", mx::ie << mx::mask_shift}, {"DM", mx::de << mx::mask_shift},
            {"ZM", mx::ze << mx::mask_shift}, {"OM", mx::oe << mx::mask_shift}, {"UM", mx::ue << mx::mask_shift},
            {"PM", mx::pe << mx::mask_shift}, {"FZ", mx::fz}};
        x += "<flags id=\"i386_mxcsr\" size=\"4\">\n";
        for (const auto& [name, bit] : mxcsr) field(name, std::countr_zero(bit), std::countr_zero(bit));
        x += "\n</flags>\n";
    }
    for (const reg& r : layout(x86_64)) {
        x += "<reg name=\"" + r.name + "\" bitsize=\"" + std::to_string(r.bits) + "\" type=\"" + r.type + "\"";
        if (r.k >= kind::st && r.k <= kind::fop) x += " group=\"float\"";
        x += "/>\n";
    }
    x += "</feature>\n</target>\n";
    return x;
}

std::uint64_t get(const state& s, const reg& r, std::uint8_t* wide, std::uint64_t cr8) {
    switch (r.k) {
    case kind::gpr: return s.regs[r.index];
    case kind::ip: return s.rip;
    case kind::flags: return compute_eflags(s);
    case kind::seg: return s.segs[r.index].selector;
    case kind::fs_base: return s.segs[R_FS].base;
    case kind::gs_base: return s.segs[R_GS].base;
    case kind::k_gs_base: return s.kernel_gs_base;
    case kind::cr: return r.index == 8 ? cr8 : s.cr[r.index];
    case kind::efer: return s.efer;
    case kind::st: {
        const unsigned top = (s.fsw >> 11) & 7;
        const x87_reg& f = s.fpr[(top + r.index) & 7];
        std::memcpy(wide, &f.mant, 8);
        std::memcpy(wide + 8, &f.sign_exp, 2);
        return 0;
    }
    case kind::fctrl: return s.fcw;
    case kind::fstat: return s.fsw;
    case kind::ftag: return fpu_tag_word(s);
    case kind::fiseg: return 0;  // the selectors are not kept (64-bit FXSAVE's layout)
    case kind::fioff: return s.fip & 0xffff'ffff;
    case kind::foseg: return 0;
    case kind::fooff: return s.fdp & 0xffff'ffff;
    case kind::fop: return s.fop;
    case kind::xmm: std::memcpy(wide, s.xmm[r.index].b, 16); return 0;
    case kind::mxcsr: return s.mxcsr;
    }
    return 0;
}

void append(std::vector<std::uint8_t>& out, const state& s, const reg& r, std::uint64_t cr8) {
    std::uint8_t wide[16] = {};
    const std::uint64_t v = get(s, r, wide, cr8);
    const unsigned n = r.bits / 8;
    if (r.k == kind::st || r.k == kind::xmm) {
        out.insert(out.end(), wide, wide + n);
        return;
    }
    for (unsigned i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

bool put(state& s, bool x86_64, const reg& r, std::span<const std::uint8_t> b, const descriptor_reader& rd) {
    std::uint64_t v = 0;
    if (r.k != kind::st && r.k != kind::xmm)
        for (unsigned i = 0; i < b.size() && i < 8; ++i) v |= std::uint64_t{b[i]} << (8 * i);
    switch (r.k) {
    case kind::gpr:
        // The i386 view writes the low half, as a 32-bit CPU would.
        s.regs[r.index] = x86_64 ? v : (s.regs[r.index] & ~0xffff'ffffull) | v;
        return true;
    case kind::ip: s.rip = v; return true;
    case kind::flags: load_eflags(s, v, 0x3f'7fd5); return true;
    case kind::seg: {
        segment& g = s.segs[r.index];
        const auto sel = static_cast<std::uint16_t>(v);
        if (!(s.cr[0] & 1) || (s.eflags & eflags_bit::vm)) {
            // Real and virtual-8086 mode: the base follows the selector.
            g.selector = sel;
            g.base = std::uint64_t{sel} << 4;
            return true;
        }
        if (sel == g.selector) return true;
        if ((sel & ~3u) == 0) {  // a null selector: unusable, as loaded
            g = segment{};
            g.selector = sel;
            return true;
        }
        const dtable& t = (sel & 4) ? dtable{s.ldt.base, s.ldt.limit} : s.gdt;
        if ((sel & ~7u) + 7 > t.limit) return false;
        std::uint64_t d = 0;
        if (!rd(t.base + (sel & ~7u), d)) return false;
        g = unpack_descriptor(d, sel);
        return true;
    }
    case kind::fs_base: s.segs[R_FS].base = v; return true;
    case kind::gs_base: s.segs[R_GS].base = v; return true;
    case kind::k_gs_base: s.kernel_gs_base = v; return true;
    case kind::cr:
        if (r.index == 8) return true;  // the TPR is the local APIC's: the caller writes it
        s.cr[r.index] = v;
        return true;
    case kind::efer: s.efer = v; return true;
    case kind::st: {
        const unsigned top = (s.fsw >> 11) & 7;
        x87_reg& f = s.fpr[(top + r.index) & 7];
        std::memcpy(&f.mant, b.data(), 8);
        std::memcpy(&f.sign_exp, b.data() + 8, 2);
        return true;
    }
    case kind::fctrl: s.fcw = static_cast<std::uint16_t>(v); return true;
    case kind::fstat: s.fsw = static_cast<std::uint16_t>(v); return true;
    case kind::ftag: {
        // Back to the abridged form: a register is valid unless tagged empty.
        std::uint8_t t = 0;
        for (unsigned i = 0; i < 8; ++i)
            if (((v >> (2 * i)) & 3) != 3) t |= static_cast<std::uint8_t>(1u << i);
        s.ftw = t;
        return true;
    }
    case kind::fiseg:
    case kind::foseg: return true;
    case kind::fioff: s.fip = v; return true;
    case kind::fooff: s.fdp = v; return true;
    case kind::fop: s.fop = static_cast<std::uint16_t>(v & 0x7ff); return true;
    case kind::xmm: std::memcpy(s.xmm[r.index].b, b.data(), 16); return true;
    case kind::mxcsr: s.mxcsr = static_cast<std::uint32_t>(v); return true;
    }
    return false;
}

} // namespace

const std::string& target_xml(bool x86_64) {
    static const std::string x64 = make_xml(true), x32 = make_xml(false);
    return x86_64 ? x64 : x32;
}

unsigned register_count(bool x86_64) { return static_cast<unsigned>(layout(x86_64).size()); }

std::vector<std::uint8_t> read_register(const state& s, bool x86_64, unsigned n, std::uint64_t cr8) {
    std::vector<std::uint8_t> out;
    if (n < layout(x86_64).size()) append(out, s, layout(x86_64)[n], cr8);
    return out;
}

std::vector<std::uint8_t> read_registers(const state& s, bool x86_64, std::uint64_t cr8) {
    std::vector<std::uint8_t> out;
    for (const reg& r : layout(x86_64)) append(out, s, r, cr8);
    return out;
}

std::optional<std::uint64_t> register_by_name(const state& s, std::string_view name, std::uint64_t cr8) {
    if (name == "pc") return s.segs[R_CS].base + s.rip;
    // The 32-bit names read the whole register, as QEMU's monitor does.
    static const char* const e32[] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};
    for (unsigned i = 0; i < 8; ++i)
        if (name == e32[i]) return s.regs[i];
    if (name == "eip") return s.rip;
    for (const reg& r : layout(true)) {
        if (r.name != name || r.k == kind::st || r.k == kind::xmm) continue;
        std::uint8_t wide[16];
        return get(s, r, wide, cr8);
    }
    return std::nullopt;
}

int cr8_register(bool x86_64) {
    const auto& l = layout(x86_64);
    for (std::size_t i = 0; i < l.size(); ++i)
        if (l[i].k == kind::cr && l[i].index == 8) return static_cast<int>(i);
    return -1;
}

bool write_register(state& s, bool x86_64, unsigned n, std::span<const std::uint8_t> bytes,
                    const descriptor_reader& rd) {
    if (n >= layout(x86_64).size()) return false;
    const reg& r = layout(x86_64)[n];
    if (bytes.size() != r.bits / 8) return false;
    return put(s, x86_64, r, bytes, rd);
}

bool write_registers(state& s, bool x86_64, std::span<const std::uint8_t> bytes, const descriptor_reader& rd) {
    std::size_t total = 0;
    for (const reg& r : layout(x86_64)) total += r.bits / 8;
    if (bytes.size() != total) return false;
    // gdb writes back what it read for the registers it did not change: a
    // selector equal to the current one loads nothing.
    std::size_t at = 0;
    bool ok = true;
    for (const reg& r : layout(x86_64)) {
        const std::size_t n = r.bits / 8;
        ok &= put(s, x86_64, r, bytes.subspan(at, n), rd);
        at += n;
    }
    return ok;
}

} // namespace qf::x86::gdb
