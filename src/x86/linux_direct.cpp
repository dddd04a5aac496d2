// A boot loader's part of the Linux boot protocol (Documentation/arch/x86/
// boot.rst, "32-bit boot protocol" and "64-bit boot protocol"), done by the
// board before the first instruction: the same zero page a loader fills in.
#include "targets/x86/boot/linux_direct.hpp"

#include "qf/core/error.hpp"
#include "targets/x86/vcpu.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

namespace qf::x86 {

namespace {
unsigned byte_at(const std::vector<std::byte>& v, std::size_t i) { return std::to_integer<unsigned>(v[i]); }
std::uint16_t le16(const std::vector<std::byte>& v, std::size_t i) {
    return static_cast<std::uint16_t>(byte_at(v, i) | byte_at(v, i + 1) << 8);
}
void put(std::vector<std::byte>& v, std::size_t at, std::uint64_t value, unsigned n) {
    for (unsigned i = 0; i < n; ++i) v[at + i] = std::byte(static_cast<std::uint8_t>(value >> (8 * i)));
}

// struct boot_params (arch/x86/include/uapi/asm/bootparam.h).
constexpr std::size_t bp_e820_entries = 0x1e8, bp_hdr = 0x1f1, bp_hdr_end_max = 0x290, bp_e820_table = 0x2d0,
                      bp_e820_max = 128;
constexpr std::uint16_t xlf_kernel_64 = 1u << 0;
constexpr std::uint8_t loaded_high = 1u << 0;

// Flat 4 GiB descriptors: __BOOT_CS (0x10) and __BOOT_DS (0x18).
constexpr std::uint64_t gdt_code64 = 0x00af'9b00'0000'ffffull, gdt_code32 = 0x00cf'9b00'0000'ffffull,
                        gdt_data = 0x00cf'9300'0000'ffffull;
constexpr std::uint16_t boot_cs = 0x10, boot_ds = 0x18;

// As boot.rst writes versions: 0x0201 is 2.01.
std::string version(unsigned protocol) {
    char s[16];
    std::snprintf(s, sizeof s, "%u.%02x", (protocol >> 8) & 0xffu, protocol & 0xffu);
    return s;
}
std::uint32_t le32(const std::vector<std::byte>& v, std::size_t i) { return le16(v, i) | std::uint32_t{le16(v, i + 2)} << 16; }
} // namespace

linux_direct_boot build_linux_direct(linux_boot_config c, const std::vector<e820_entry>& e820) {
    if (!is_linux_kernel(c.kernel)) throw error("not a Linux bzImage (no \"HdrS\" boot header at 0x202)");
    c.acpi_data_size = 0;  // no ACPI tables at the top of RAM
    const std::uint64_t ram_top = c.below_4g_mem_size;
    linux_boot_image img = build_linux_boot(std::move(c));
    const std::vector<std::byte>& setup = img.setup;
    const unsigned protocol = le16(setup, 0x206);
    if (protocol < 0x202 || !(byte_at(setup, 0x211) & loaded_high))
        throw error("boot protocol " + version(protocol) +
                    (protocol < 0x202 ? "" : ", a zImage") +
                    ": a kernel entered without firmware needs a bzImage of protocol 2.02 or later");

    linux_direct_boot b;
    b.long_mode = protocol >= 0x20c && (le16(setup, 0x236) & xlf_kernel_64);
    b.gdt = linux_direct_gdt;
    b.boot_params = linux_direct_zero_page;

    if (img.prot_addr + img.kernel.size() > ram_top)
        throw error("the kernel (" + std::to_string(img.kernel.size()) + " bytes at 1 MiB) does not fit in RAM");
    if (img.has_initrd && img.initrd_addr < img.prot_addr + img.kernel.size())
        throw error("the initrd (" + std::to_string(img.initrd.size()) + " bytes) does not fit in RAM above the kernel");

    // The zero page: zeros, the setup header as the kernel's file has it
    // (with the loader's fields that build_linux_boot filled in), the e820
    // map.
    std::vector<std::byte> zp(4096);
    const std::size_t hdr_end = std::min<std::size_t>(0x202 + byte_at(setup, 0x201), bp_hdr_end_max);
    std::copy(setup.begin() + bp_hdr, setup.begin() + static_cast<std::ptrdiff_t>(hdr_end), zp.begin() + bp_hdr);
    if (e820.size() > bp_e820_max) throw error("more than 128 e820 entries");
    zp[bp_e820_entries] = std::byte(static_cast<std::uint8_t>(e820.size()));
    const std::vector<std::byte> map = serialize_e820(e820);
    std::copy(map.begin(), map.end(), zp.begin() + bp_e820_table);

    std::vector<std::byte> gdt(4 * 8);
    put(gdt, boot_cs, b.long_mode ? gdt_code64 : gdt_code32, 8);
    put(gdt, boot_ds, gdt_data, 8);

    b.blobs.push_back({b.gdt, std::move(gdt)});
    b.blobs.push_back({b.boot_params, std::move(zp)});
    if (b.long_mode) {
        // PML4 -> one PDPT -> four page directories of 2 MiB pages: the
        // first 4 GiB identity-mapped, which covers everything above.
        b.page_tables = linux_direct_page_tables;
        std::vector<std::byte> pt(6 * 4096);
        constexpr std::uint64_t present_rw = 0x3, page_2m = 0x80;
        put(pt, 0, (b.page_tables + 0x1000) | present_rw, 8);
        for (unsigned i = 0; i < 4; ++i) put(pt, 0x1000 + 8 * i, (b.page_tables + 0x2000 + 0x1000 * i) | present_rw, 8);
        for (std::uint64_t i = 0; i < 4 * 512; ++i) put(pt, 0x2000 + 8 * i, (i << 21) | present_rw | page_2m, 8);
        b.blobs.push_back({b.page_tables, std::move(pt)});
    }
    std::vector<std::byte> cmdline(img.cmdline.size() + 1);
    std::memcpy(cmdline.data(), img.cmdline.data(), img.cmdline.size());
    b.blobs.push_back({img.cmdline_addr, std::move(cmdline)});
    const std::uint64_t prot = img.prot_addr;
    // startup_64 is 0x200 into the protected-mode part; the 32-bit entry is
    // where the header says (0x100000 in every bzImage).
    b.entry = b.long_mode ? prot + 0x200 : le32(setup, 0x214);
    b.blobs.push_back({prot, std::move(img.kernel)});
    if (img.has_initrd) b.blobs.push_back({img.initrd_addr, std::move(img.initrd)});
    return b;
}

void enter_linux_direct(state& st, const linux_direct_boot& b) {
    using namespace seg_attr;
    const auto code = static_cast<std::uint16_t>(present | s | seg_attr::code | writable | accessed | g |
                                                 (b.long_mode ? l : db));
    const auto data = static_cast<std::uint16_t>(present | s | writable | accessed | db | g);
    st.segs[R_CS] = {0, 0xffff'ffff, boot_cs, code};
    for (unsigned r : {R_DS, R_ES, R_SS, R_FS, R_GS}) st.segs[r] = {0, 0xffff'ffff, boot_ds, data};
    st.gdt = {b.gdt, 4 * 8 - 1};
    std::memset(st.regs, 0, sizeof st.regs);
    st.regs[R_ESI] = b.boot_params;
    st.rip = b.entry;
    load_eflags(st, eflags_bit::fixed1, ~0ull);
    // PE (and ET); caches on, unlike after RESET (Linux expects them on).
    st.cr[0] = 0x11;
    if (b.long_mode) {
        st.cr[0] |= 1ull << 31;  // PG
        st.cr[3] = b.page_tables;
        st.cr[4] = 1u << 5;      // PAE
        st.efer = (1u << 8) | (1u << 10);  // LME, LMA
    }
    compute_hflags(st);
}

} // namespace qf::x86
