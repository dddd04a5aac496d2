// -kernel with multiboot images, against QEMU 7.2's load_multiboot
// (hw/i386/multiboot.c) and the load_elf/rom_copy it calls (hw/core/
// loader.c, include/hw/elf_ops.h). The expected values are worked out from
// that code, line by line in the comments; every layout and every message
// here was also checked against qemu-system-x86_64 7.2 (Debian 7.2+dfsg-7)
// booting the same kind of image with a guest that dumped fw_cfg to the
// debug console. Bytes QEMU leaves uninitialised (the gaps in its
// g_malloc'd blob) are zero here.
#include "capture.hpp"
#include "qf/core/error.hpp"
#include "qf/devices/fw_cfg.hpp"
#include "targets/x86/boot/multiboot.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {

using qf::x86::build_multiboot;
using qf::x86::load_multiboot;
using qf::x86::multiboot_config;
namespace key = qf::dev::fw_cfg_key;
using bytes = std::vector<std::byte>;

constexpr std::uint32_t magic = 0x1BADB002, aout_kludge = 1u << 16, vbe = 1u << 2;

void put(bytes& b, std::size_t at, std::uint64_t v, unsigned n) {
    if (b.size() < at + n) b.resize(at + n);
    for (unsigned i = 0; i < n; ++i) b[at + i] = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put(bytes& b, std::size_t at, const bytes& data) {
    if (b.size() < at + data.size()) b.resize(at + data.size());
    std::copy(data.begin(), data.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
}
std::uint32_t get32(std::span<const std::byte> b, std::size_t at) {
    std::uint32_t v = 0;
    for (unsigned i = 0; i < 4; ++i) v |= std::to_integer<std::uint32_t>(b[at + i]) << (8 * i);
    return v;
}
bytes text(std::string_view s) {
    bytes b(s.size());
    std::memcpy(b.data(), s.data(), s.size());
    return b;
}
// A NUL-terminated string in the blob.
std::string cstr(std::span<const std::byte> b, std::size_t at) {
    std::string s;
    while (at < b.size() && b[at] != std::byte{0}) s += static_cast<char>(b[at++]);
    return s;
}
bool all_zero(std::span<const std::byte> b) {
    return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}
bytes pattern(std::size_t n, std::uint8_t seed) {
    bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = std::byte(static_cast<std::uint8_t>(seed + i * 7));
    return b;
}

// The multiboot header: magic, flags, checksum, and with the a.out kludge
// header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr.
struct aout_fields {
    std::uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};
bytes mb_header(std::uint32_t flags, std::optional<aout_fields> a = {}) {
    bytes h;
    put(h, 0, magic, 4);
    put(h, 4, flags, 4);
    put(h, 8, 0u - magic - flags, 4);
    if (a) {
        put(h, 12, a->header_addr, 4);
        put(h, 16, a->load_addr, 4);
        put(h, 20, a->load_end_addr, 4);
        put(h, 24, a->bss_end_addr, 4);
        put(h, 28, a->entry_addr, 4);
    }
    return h;
}

struct segment {
    std::uint32_t type = 1;  // PT_LOAD
    std::uint64_t offset = 0, vaddr = 0, paddr = 0;
    bytes data;
    std::uint64_t memsz = 0;
    std::uint32_t flags = 5;  // R+X
    std::optional<std::uint64_t> filesz;  // data.size() unless given
};
segment load(std::uint64_t offset, std::uint64_t vaddr, std::uint64_t paddr, bytes data, std::uint64_t memsz,
             std::uint32_t flags = 5) {
    segment s;
    s.offset = offset;
    s.vaddr = vaddr;
    s.paddr = paddr;
    s.data = std::move(data);
    s.memsz = memsz;
    s.flags = flags;
    return s;
}
segment note(std::uint64_t offset, std::uint64_t paddr, std::uint64_t memsz) {
    segment s = load(offset, 0, paddr, {}, memsz);
    s.type = 4;  // PT_NOTE
    return s;
}

// An ELF32 (or, with elf64, an ELF64) executable: the program headers
// right after the ELF header, each segment's bytes at its offset.
bytes elf(const std::vector<segment>& segs, std::uint64_t entry, std::uint16_t machine = 3, bool elf64 = false) {
    bytes b;
    put(b, 0, 0x464c457f, 4);  // "\x7fELF"
    put(b, 4, elf64 ? 2 : 1, 1);
    put(b, 5, 1, 1);  // little-endian
    put(b, 6, 1, 1);
    put(b, 16, 2, 2);  // ET_EXEC
    put(b, 18, machine, 2);
    put(b, 20, 1, 4);
    const std::size_t ehsize = elf64 ? 64 : 52, phsize = elf64 ? 56 : 32;
    if (elf64) {
        put(b, 24, entry, 8);
        put(b, 32, ehsize, 8);  // e_phoff
        put(b, 52, ehsize, 2);
        put(b, 54, phsize, 2);
        put(b, 56, segs.size(), 2);
    } else {
        put(b, 24, entry, 4);
        put(b, 28, ehsize, 4);
        put(b, 40, ehsize, 2);
        put(b, 42, phsize, 2);
        put(b, 44, segs.size(), 2);
    }
    for (std::size_t i = 0; i < segs.size(); ++i) {
        const auto& s = segs[i];
        const std::size_t p = ehsize + i * phsize;
        const std::uint64_t filesz = s.filesz.value_or(s.data.size());
        if (elf64) {
            put(b, p, s.type, 4);
            put(b, p + 4, s.flags, 4);
            put(b, p + 8, s.offset, 8);
            put(b, p + 16, s.vaddr, 8);
            put(b, p + 24, s.paddr, 8);
            put(b, p + 32, filesz, 8);
            put(b, p + 40, s.memsz, 8);
            put(b, p + 48, 0x1000, 8);
        } else {
            put(b, p, s.type, 4);
            put(b, p + 4, s.offset, 4);
            put(b, p + 8, s.vaddr, 4);
            put(b, p + 12, s.paddr, 4);
            put(b, p + 16, filesz, 4);
            put(b, p + 20, s.memsz, 4);
            put(b, p + 24, s.flags, 4);
            put(b, p + 28, 0x1000, 4);
        }
    }
    for (const auto& s : segs)
        if (!s.data.empty()) put(b, s.offset, s.data);
    return b;
}

// A directory of module files, removed afterwards.
struct temp_dir {
    std::string path;
    std::vector<std::string> files;
    temp_dir() {
        char tmpl[] = "/tmp/qf-multiboot-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    std::string add(const std::string& name, const bytes& data) {
        const std::string p = path + "/" + name;
        std::FILE* f = std::fopen(p.c_str(), "wb");
        REQUIRE(f);
        if (!data.empty()) std::fwrite(data.data(), 1, data.size(), f);
        std::fclose(f);
        files.push_back(p);
        return p;
    }
    ~temp_dir() {
        for (const auto& f : files) ::unlink(f.c_str());
        ::rmdir(path.c_str());
    }
};

struct loaded {
    qf::device_context ctx;
    qf::dev::fw_cfg_io fw{ctx};
    bool ok = false;
    explicit loaded(const multiboot_config& c) { ok = load_multiboot(fw, c); }
    std::uint32_t u32(std::uint16_t k) const { return get32(fw.entry(k), 0); }
    std::span<const std::byte> data() const { return fw.entry(key::kernel_data); }
    std::span<const std::byte> info() const { return fw.entry(key::initrd_data); }
};

multiboot_config config(const bytes& kernel, std::string path = "/boot/kernel") {
    multiboot_config c;
    c.kernel_path = std::move(path);
    c.kernel = kernel;
    return c;
}

using qft::stderr_capture;

// 88 bytes of multiboot information as QEMU fills them in (the ROM adds
// mem_lower, mem_upper and mmap_length in the guest).
void check_info(std::span<const std::byte> info, std::uint32_t cmdline, std::uint32_t mods_count,
                std::uint32_t mods_addr, std::uint32_t boot_loader_name) {
    REQUIRE(info.size() == 88);
    CHECK(get32(info, 0) == 0x24f);  // MEMORY|BOOT_DEVICE|CMDLINE|MODULES|MMAP|BOOTLOADER
    CHECK(get32(info, 4) == 0);      // mem_lower
    CHECK(get32(info, 8) == 0);      // mem_upper
    CHECK(get32(info, 12) == 0x8000ffff);
    CHECK(get32(info, 16) == cmdline);
    CHECK(get32(info, 20) == mods_count);
    CHECK(get32(info, 24) == mods_addr);
    CHECK(all_zero(info.subspan(28, 20)));  // syms, mmap_length
    CHECK(get32(info, 48) == 0x9000);        // ADDR_E820_MAP
    CHECK(all_zero(info.subspan(52, 12)));  // drives, config table
    CHECK(get32(info, 64) == boot_loader_name);
    CHECK(all_zero(info.subspan(68)));      // APM, VBE
}

std::uint32_t page_align(std::uint32_t v) { return (v + 0xfff) & ~0xfffu; }

} // namespace

TEST_CASE("multiboot: which kernels are multiboot ones") {
    const bytes code = pattern(64, 1);
    SECTION("no header: Linux/PVH's turn, nothing added") {
        const bytes k = pattern(10000, 3);
        loaded l(config(k));
        CHECK_FALSE(l.ok);
        CHECK_FALSE(l.fw.has_entry(key::kernel_data));
        CHECK_FALSE(build_multiboot(config({})));
    }
    SECTION("a Linux bzImage with a multiboot header is Linux's (x86_load_linux tests HdrS first)") {
        bytes k = mb_header(aout_kludge, aout_fields{0x100000, 0x100000, 0, 0, 0x100000});
        put(k, 0x202, text("HdrS"));
        CHECK_FALSE(build_multiboot(config(k)));
    }
    SECTION("the magic with a bad checksum is skipped; a later good header counts") {
        bytes k = mb_header(aout_kludge, aout_fields{0x100000, 0x100000, 0, 0, 0x100000});
        put(k, 8, 0, 4);
        CHECK_FALSE(build_multiboot(config(k)));
        put(k, 16, mb_header(aout_kludge, aout_fields{0x100010, 0x100000, 0, 0, 0x100030}));
        put(k, 48, code);
        const auto img = build_multiboot(config(k));
        REQUIRE(img);
        CHECK(img->entry == 0x100030);
        CHECK(img->load_addr == 0x100000);
    }
    SECTION("the last header offset tried is 8140: i < 8192 - 48, in steps of 4") {
        bytes k(8140);
        put(k, 8140, mb_header(aout_kludge, aout_fields{0x100000 + 8140, 0x100000, 0, 0, 0x100000}));
        put(k, 8140 + 32, code);
        CHECK(build_multiboot(config(k)));
        bytes late(8144);
        put(late, 8144, mb_header(aout_kludge, aout_fields{0x100000 + 8144, 0x100000, 0, 0, 0x100000}));
        put(late, 8144 + 32, code);
        CHECK_FALSE(build_multiboot(config(late)));
        bytes unaligned(8);  // only dword-aligned offsets are looked at
        put(unaligned, 6, mb_header(aout_kludge, aout_fields{0x100006, 0x100000, 0, 0, 0x100000}));
        CHECK_FALSE(build_multiboot(config(unaligned)));
    }
}

TEST_CASE("multiboot: a.out kludge kernel with modules and command lines") {
    temp_dir dir;
    const bytes m1 = text("module one contents");  // 19 bytes
    const bytes m2 = pattern(5000, 9);
    const bytes m4k = pattern(4096, 77);
    dir.add("m1", m1);
    dir.add("m,2", m2);
    dir.add("empty", {});
    dir.add("m4k", m4k);

    // 0x40 bytes the header does not load, then 0x40 loaded ones before the
    // header: header_addr - load_addr = 0x40, so mb_kernel_text_offset =
    // i - 0x40 = 0x40. load_end_addr cuts the file at 0x200 loaded bytes,
    // bss_end_addr adds 0x1e00 of zeros.
    bytes k = pattern(0x40, 0xee);
    put(k, 0x40, pattern(0x40, 0x10));
    put(k, 0x80, mb_header(aout_kludge, aout_fields{0x200040, 0x200000, 0x200200, 0x202000, 0x200060}));
    put(k, 0xa0, pattern(0x300, 0x55));  // 0x1a0 of it loaded, the rest past load_end_addr

    multiboot_config c = config(k, "/boot/kernel.aout");
    const std::string d = dir.path + "/";
    c.initrd = d + "m1 a b  c," + d + "m,,2 x=1," + d + "empty," + d + "m4k";
    c.append = "console=ttyS0 foo";
    loaded l(c);
    REQUIRE(l.ok);

    CHECK(l.u32(key::kernel_entry) == 0x200060);
    CHECK(l.u32(key::kernel_addr) == 0x200000);
    CHECK(l.u32(key::initrd_addr) == 0x9500);
    CHECK(l.u32(key::initrd_size) == 88);
    CHECK(l.fw.entry(key::kernel_entry).size() == 4);
    // Only the seven numbered entries: no command line entries, no files.
    CHECK_FALSE(l.fw.has_entry(key::cmdline_size));
    CHECK_FALSE(l.fw.has_entry(key::kernel_cmdline));
    CHECK(l.fw.file_names().empty());

    const auto data = l.data();
    // The kernel: fread of mb_load_size = 0x200 bytes from text offset
    // 0x40, then memset to mb_kernel_size = 0x2000.
    REQUIRE(data.size() >= 0x2000);
    CHECK(std::equal(data.begin(), data.begin() + 0x200, k.begin() + 0x40));
    CHECK(all_zero(data.subspan(0x200, 0x1e00)));

    // mb_buf_size = TARGET_PAGE_ALIGN(0x2000) = offset_mbinfo; 4 modules
    // (mb_mods_avail) of 16 bytes; then the command lines, whose room
    // (cmdline_len) is strlen(kernel) + 1 + strlen(append) + 1 +
    // strlen(-initrd as given) + 1; then "qemu".
    const std::uint32_t mbinfo = 0x2000, cmdlines = mbinfo + 4 * 16;
    const std::uint32_t cmdline_len = static_cast<std::uint32_t>(c.kernel_path.size() + 1 + c.append.size() + 1 +
                                                                 c.initrd->size() + 1);
    const std::uint32_t loader = cmdlines + cmdline_len;
    // mb_add_cmdline for each module's whole value (",," unescaped by
    // get_opt_value), then "%s %s" of kernel and -append.
    std::uint32_t at = cmdlines;
    const std::string mod_lines[] = {d + "m1 a b  c", d + "m,2 x=1", d + "empty", d + "m4k"};
    for (const auto& s : mod_lines) {
        CHECK(cstr(data, at) == s);
        at += static_cast<std::uint32_t>(s.size() + 1);
    }
    const std::uint32_t kcmdline = at;
    const std::string kc = "/boot/kernel.aout console=ttyS0 foo";
    CHECK(cstr(data, kcmdline) == kc);
    CHECK(cstr(data, loader) == "qemu");
    // The room left over: one byte here, as ",," and the separating commas
    // take room but become one byte and NULs.
    const std::uint32_t used = kcmdline + static_cast<std::uint32_t>(kc.size() + 1);
    CHECK(loader - used == 1);
    CHECK(all_zero(data.subspan(used, loader - used)));

    // Modules start at the page after "qemu"; each is page aligned.
    std::uint32_t mod = page_align(loader + 5);
    const std::uint32_t sizes[] = {19, 5000, 0, 4096};
    const bytes* contents[] = {&m1, &m2, nullptr, &m4k};
    std::uint32_t line = cmdlines;
    for (unsigned i = 0; i < 4; ++i) {
        const std::uint32_t e = mbinfo + 16 * i;
        CHECK(get32(data, e) == 0x200000 + mod);                 // mod_start
        CHECK(get32(data, e + 4) == 0x200000 + mod + sizes[i]);  // mod_end
        CHECK(get32(data, e + 8) == 0x200000 + line);            // cmdline
        CHECK(get32(data, e + 12) == 0);                         // reserved
        if (contents[i]) CHECK(std::equal(contents[i]->begin(), contents[i]->end(), data.begin() + mod));
        CHECK(all_zero(data.subspan(mod + sizes[i], page_align(sizes[i]) - sizes[i])));
        line += static_cast<std::uint32_t>(mod_lines[i].size() + 1);
        mod += page_align(sizes[i]);  // the empty module takes no room: the next starts where it ends
    }
    CHECK(data.size() == mod);
    CHECK(l.u32(key::kernel_size) == mod);

    check_info(l.info(), 0x200000 + kcmdline, 4, 0x200000 + mbinfo, 0x200000 + loader);
}

TEST_CASE("multiboot: a.out kludge edge cases that load") {
    SECTION("load_end_addr 0: the rest of the file; bss_end_addr 0: no bss; no -initrd, no -append") {
        bytes k = mb_header(aout_kludge, aout_fields{0x100000, 0x100000, 0, 0, 0x100020});
        put(k, 32, pattern(100, 4));
        loaded l(config(k, "k"));
        REQUIRE(l.ok);
        const auto data = l.data();
        // 132 bytes of kernel in a page, then a page for the strings.
        REQUIRE(data.size() == 0x2000);
        CHECK(std::equal(k.begin(), k.end(), data.begin()));
        CHECK(all_zero(data.subspan(132, 0x1000 - 132)));
        // No modules: the list is empty, mods_addr still points past the
        // kernel; cmdline_len = strlen("k") + 1 + 0 + 1, then "qemu".
        CHECK(cstr(data, 0x1000) == "k ");
        CHECK(cstr(data, 0x1003) == "qemu");
        check_info(l.info(), 0x101000, 0, 0x101000, 0x101003);
    }
    SECTION("a header cut short by the end of the file reads zeros there") {
        // magic, flags, checksum and header_addr only: load_addr = 0 from
        // the missing bytes, so header_addr 0 puts the text at offset 0.
        bytes k = mb_header(aout_kludge);
        put(k, 12, 0, 4);
        loaded l(config(k, "k"));
        REQUIRE(l.ok);
        CHECK(l.u32(key::kernel_addr) == 0);
        CHECK(l.u32(key::kernel_entry) == 0);
        CHECK(std::equal(k.begin(), k.end(), l.data().begin()));  // mb_load_size = file size
    }
    SECTION("-initrd '': no modules, but one more byte of string room") {
        bytes k = mb_header(aout_kludge, aout_fields{0x100000, 0x100000, 0, 0x100100, 0x100000});
        multiboot_config c = config(k, "kern");
        c.initrd = "";
        c.append = "x";
        loaded l(c);
        REQUIRE(l.ok);
        // offset_mbinfo 0x1000, no module entries; cmdline_len =
        // 5 + 2 + 1; "qemu" at 0x1000 + 8.
        CHECK(cstr(l.data(), 0x1000) == "kern x");
        CHECK(cstr(l.data(), 0x1008) == "qemu");
        check_info(l.info(), 0x101000, 0, 0x101000, 0x101008);
    }
    SECTION("a trailing comma ends the list; ',,' is a comma in the name") {
        temp_dir dir;
        dir.add("a,b", text("AB"));
        bytes k = mb_header(aout_kludge, aout_fields{0x100000, 0x100000, 0, 0x100100, 0x100000});
        multiboot_config c = config(k, "kern");
        c.initrd = dir.path + "/a,,b,";
        loaded l(c);
        REQUIRE(l.ok);
        CHECK(get32(l.info(), 20) == 1);
        const auto data = l.data();
        // 0x1000: one module entry; its command line at 0x1010.
        CHECK(cstr(data, 0x1010) == dir.path + "/a,b");
        CHECK(get32(data, 0x1000) == 0x102000);
        CHECK(get32(data, 0x1004) == 0x102002);
    }
    SECTION("the VBE flag gets QEMU's warning and nothing else") {
        bytes k = mb_header(aout_kludge | vbe, aout_fields{0x100000, 0x100000, 0, 0, 0x100000});
        qf::set_program_name("qemu-system-x86_64");
        stderr_capture cap;
        CHECK(build_multiboot(config(k)));
        CHECK(cap.text() == "qemu-system-x86_64: multiboot knows VBE. we don't\n");
    }
}

TEST_CASE("multiboot: a.out kludge errors, with QEMU's messages") {
    // The header at offset 0, then tail bytes.
    const auto fails = [](aout_fields a, std::size_t tail, const char* msg) {
        bytes k = mb_header(aout_kludge, a);
        put(k, 32, pattern(tail, 1));
        CHECK_THROWS_WITH(build_multiboot(config(k)), msg);
    };
    // if (mh_header_addr < mh_load_addr)
    fails({0x100000, 0x100001, 0, 0, 0}, 64, "invalid load_addr address");
    // if (mh_header_addr - mh_load_addr > i): the text would start before the file
    fails({0x100010, 0x100000, 0, 0, 0}, 64, "invalid header_addr address");
    // if (mh_load_end_addr < mh_load_addr)
    fails({0x100000, 0x100000, 0xfffff, 0, 0}, 64, "invalid load_end_addr address");
    // if (mb_load_size > UINT32_MAX - mh_load_addr): 96 bytes at 0xffffffd0
    fails({0xffffffd0, 0xffffffd0, 0, 0, 0}, 64, "kernel does not fit in address space");
    // ours: QEMU's page-aligned 32-bit size wraps to 0
    fails({0, 0, 0x100, 0xfffff800, 0}, 300, "kernel does not fit in address space");
    // if (mh_bss_end_addr < (mh_load_addr + mb_load_size))
    fails({0x100000, 0x100000, 0x100100, 0x1000ff, 0}, 0x100, "invalid bss_end_addr address");
    // fread() of load_end_addr - load_addr bytes comes up short
    fails({0x100000, 0x100000, 0x200000, 0, 0}, 64, "fread() failed");
    // "invalid kernel_file_size" (the text offset past the end of the
    // file) cannot happen: the text offset is at most the header's, which
    // is in the file.
}

TEST_CASE("multiboot: ELF kernels through QEMU's load_elf and rom_copy") {
    const bytes head = mb_header(0);  // ELF: no a.out kludge
    bytes code = head;
    put(code, 12, pattern(100, 2));  // 112 bytes

    SECTION("two segments, a gap between them, bss, and a module") {
        temp_dir dir;
        const std::string m = dir.add("mod", pattern(10, 1));
        const bytes data2 = text("DATADATADATA");
        const bytes k = elf({load(0x1000, 0x100000, 0x100000, code, 112),
                             load(0x2000, 0x103000, 0x103000, data2, 0x2345, 6)},
                            0x10000c);
        multiboot_config c = config(k, "/k.elf");
        c.initrd = m + " arg";
        c.append = "hello";
        loaded l(c);
        REQUIRE(l.ok);
        // elf_low 0x100000, elf_high 0x103000 + 0x2345: mb_kernel_size 0x5345.
        CHECK(l.u32(key::kernel_addr) == 0x100000);
        CHECK(l.u32(key::kernel_entry) == 0x10000c);
        const auto data = l.data();
        CHECK(std::equal(code.begin(), code.end(), data.begin()));
        CHECK(all_zero(data.subspan(112, 0x3000 - 112)));
        CHECK(std::equal(data2.begin(), data2.end(), data.begin() + 0x3000));
        CHECK(all_zero(data.subspan(0x3000 + 12, 0x6000 - 0x3000 - 12)));
        // offset_mbinfo = 0x6000; cmdline_len = 7 + 6 + strlen(m + " arg") + 1.
        const std::uint32_t cmdline_len = static_cast<std::uint32_t>(7 + 6 + m.size() + 5);
        CHECK(cstr(data, 0x6010) == m + " arg");
        const std::uint32_t kcmd = static_cast<std::uint32_t>(0x6010 + m.size() + 5);
        CHECK(cstr(data, kcmd) == "/k.elf hello");
        const std::uint32_t loader = 0x6010 + cmdline_len;
        CHECK(cstr(data, loader) == "qemu");
        const std::uint32_t mod = page_align(loader + 5);
        CHECK(get32(data, 0x6000) == 0x100000 + mod);
        CHECK(get32(data, 0x6004) == 0x100000 + mod + 10);
        CHECK(get32(data, 0x6008) == 0x106010);
        CHECK(data.size() == mod + 0x1000);
        check_info(l.info(), 0x100000 + kcmd, 1, 0x106000, 0x100000 + loader);
    }
    SECTION("the entry point moves with paddr when vaddr differs, in an executable segment") {
        const bytes k =
            elf({load(0x1000, 0xc0100000, 0x100000, code, 112)}, 0xc010000c);
        const auto img = build_multiboot(config(k));
        REQUIRE(img);
        CHECK(img->entry == 0x10000c);
        CHECK(img->load_addr == 0x100000);
        // Not executable: the entry stays the virtual address.
        const bytes nx = elf(
            {load(0x1000, 0xc0100000, 0x100000, code, 112, 6)},
            0xc010000c);
        CHECK(build_multiboot(config(nx))->entry == 0xc010000c);
        // Past p_filesz (in the bss): likewise.
        const bytes bss =
            elf({load(0x1000, 0xc0100000, 0x100000, code, 0x1000)},
                0xc0100080);
        CHECK(build_multiboot(config(bss))->entry == 0xc0100080);
    }
    SECTION("program headers in any order, other types ignored, zero-size segments move only low/high") {
        const bytes k = elf({note(0x1000, 0x50000, 0x10),
                             load(0x2000, 0x105000, 0x105000, pattern(100, 3), 0x1000, 6),
                             load(0x1000, 0x100000, 0x100000, code, 112),
                             load(0, 0xf0000, 0xf0000, {}, 0)},
                            0x10000c);
        const auto img = build_multiboot(config(k));
        REQUIRE(img);
        CHECK(img->load_addr == 0xf0000);  // the empty segment's address
        CHECK(std::equal(code.begin(), code.end(), img->data.begin() + 0x10000));
        const bytes p = pattern(100, 3);
        CHECK(std::equal(p.begin(), p.end(), img->data.begin() + 0x15000));
        CHECK(get32(img->info, 24) == 0xf0000 + 0x16000);  // mods_addr after 0x16000 of kernel
    }
    SECTION("a bss that would run into the next segment is cut to p_filesz") {
        const bytes y(16, std::byte{'Y'});
        const bytes k = elf({load(0x1000, 0x100000, 0x100000, code, 0x3000),
                             load(0x2000, 0x101000, 0x101000, y, 16)},
                            0x10000c);
        const auto img = build_multiboot(config(k));
        REQUIRE(img);
        // elf_high = 0x101010, not 0x103000: two pages of kernel.
        CHECK(get32(img->info, 24) == 0x100000 + 0x2000);
        CHECK(std::equal(y.begin(), y.end(), img->data.begin() + 0x1000));
    }
    SECTION("ELF64 with e_machine EM_386 goes through load_elf64") {
        const bytes k = elf({load(0x1000, 0xffffffff80100000, 0x100000, code, 112)},
                            0xffffffff8010000c, 3, true);
        const auto img = build_multiboot(config(k));
        REQUIRE(img);
        CHECK(img->entry == 0x10000c);
        CHECK(img->load_addr == 0x100000);
        CHECK(std::equal(code.begin(), code.end(), img->data.begin()));
    }
    SECTION("ELFCLASS values other than 64 read as ELF32") {
        bytes k = elf({load(0x1000, 0x100000, 0x100000, code, 112)}, 0x10000c);
        put(k, 4, 0, 1);
        CHECK(build_multiboot(config(k)));
    }
    SECTION("a segment at 2 GiB: elf_low is sign-extended, and cut back to 32 bits") {
        const bytes k = elf({load(0x1000, 0x80000000, 0x80000000, code, 0x3000)},
                            0x8000000c);
        const auto img = build_multiboot(config(k));
        REQUIRE(img);
        CHECK(img->load_addr == 0x80000000);
        CHECK(img->entry == 0x8000000c);
        CHECK(img->data.size() == 0x4000);
    }
    SECTION("a segment with bytes in the file but no memory adds nothing") {
        const bytes k = elf({load(0x1000, 0x100000, 0x100000, code, 112),
                             load(0x1000, 0x100000, 0x100000, code, 0)},
                            0x10000c);
        CHECK(build_multiboot(config(k)));
    }
}

TEST_CASE("multiboot: ELF errors, with QEMU's messages") {
    bytes code = mb_header(0);
    put(code, 12, pattern(100, 2));
    const segment ok = load(0x1000, 0x100000, 0x100000, code, 112);
    const auto fails = [](const bytes& k, const char* msg) {
        CHECK_THROWS_WITH(build_multiboot(config(k, "/k")), msg);
    };
    // QEMU 7.2 refuses x86-64 ELF kernels, by e_machine at offset 18,
    // ELF32 or ELF64 alike.
    fails(elf({ok}, 0x10000c, 62, true), "Cannot load x86-64 image, give a 32bit one.");
    fails(elf({ok}, 0x10000c, 62, false), "Cannot load x86-64 image, give a 32bit one.");
    // Everything load_elf refuses is one message.
    fails(elf({ok}, 0x10000c, 40), "Error while loading elf kernel");  // EM_ARM
    {
        bytes k(0x1000);  // not an ELF at all (no a.out kludge either)
        put(k, 0x100, code);
        fails(k, "Error while loading elf kernel");
        bytes be = elf({ok}, 0x10000c);
        put(be, 5, 2, 1);  // big-endian
        fails(be, "Error while loading elf kernel");
    }
    {
        bytes k = elf({}, 0x10000c);  // no program headers: g_malloc0(0) is NULL
        put(k, 0x100, code);
        fails(k, "Error while loading elf kernel");
        bytes far = elf({ok}, 0x10000c);
        put(far, 28, 0x10000, 4);  // e_phoff past the end of the file
        fails(far, "Error while loading elf kernel");
        // The ELF header, then the multiboot header where the program
        // header should be, and the file ends: the read comes up short.
        bytes cut = elf({ok}, 0x10000c);
        cut.resize(52);
        put(cut, 52, mb_header(0));
        fails(cut, "Error while loading elf kernel");
        // An ELF64 header cut at 60 of its 64 bytes.
        bytes cut64 = elf({ok}, 0x10000c, 3, true);
        cut64.resize(48);
        put(cut64, 48, mb_header(0));
        fails(cut64, "Error while loading elf kernel");
    }
    {
        segment past = ok;
        past.filesz = 0x10000;  // p_filesz runs past the end of the file
        fails(elf({past}, 0x10000c), "Error while loading elf kernel");
        segment wrap = ok;
        wrap.offset = 0xfffff000;  // ours: QEMU's 32-bit sum wraps and reads out of bounds
        wrap.data = {};
        wrap.filesz = 0x2000;
        wrap.memsz = 0x2000;
        segment second = ok;
        second.paddr = second.vaddr = 0x200000;
        fails(elf({wrap, second}, 0x20000c), "Error while loading elf kernel");
        segment huge = ok;
        huge.memsz = 0x80000000;  // load_elf's size lands in an int: negative
        fails(elf({huge}, 0x10000c), "Error while loading elf kernel");
    }
    {
        // rom_copy's return is the end of the last ROM blob in address
        // order; it must equal elf_high - elf_low.
        segment note = ok;
        note.type = 4;
        fails(elf({note}, 0x10000c), "Error while fetching elf kernel from rom");  // no PT_LOAD: size 1, copied 0
        const segment empty_above = load(0, 0x200000, 0x200000, {}, 0);
        fails(elf({ok, empty_above}, 0x10000c), "Error while fetching elf kernel from rom");
        segment above4g = ok;
        above4g.paddr = 0x100100000;  // ELF64: cut to 32 bits, the blob is past the copied range
        fails(elf({above4g}, 0x10000c, 3, true), "Error while fetching elf kernel from rom");
        segment more_file = ok;
        more_file.memsz = 16;  // p_filesz > p_memsz in the last segment: QEMU copies nothing
        fails(elf({more_file}, 0x10000c), "Error while fetching elf kernel from rom");
        segment more_file_low = ok;
        more_file_low.paddr = more_file_low.vaddr = 0xf0000;
        more_file_low.memsz = 16;  // in a lower one QEMU hangs at reset; ours: an error
        fails(elf({ok, more_file_low}, 0x10000c), "Error while loading elf kernel");
    }
    {
        // Segments overlapping each other: QEMU's ROM check at machine-done.
        segment b = ok;
        b.paddr = b.vaddr = 0x100040;
        fails(elf({ok, b}, 0x10000c),
              "Some ROM regions are overlapping\n"
              "These ROM regions might have been loaded by direct user request or by default.\n"
              "They could be BIOS/firmware images, a guest kernel, initrd or some other file loaded into guest "
              "memory.\n"
              "Check whether you intended to load all this guest code, and whether it has been built to load to "
              "the correct addresses.\n"
              "\n"
              "The following two regions overlap (in the memory address space):\n"
              "  /k ELF program header segment 0 (addresses 0x0000000000100000 - 0x0000000000100070)\n"
              "  /k ELF program header segment 1 (addresses 0x0000000000100040 - 0x00000000001000b0)");
    }
    {
        // The board's BIOS blob at 4 GiB - 256 KiB: a kernel that reaches
        // it makes QEMU's rom_copy memcpy an underflowed length (it
        // crashes; ours: an error), one that stops below it loads.
        const bytes bios = pattern(0x40000, 5);
        const auto with_bios = [&](const bytes& k) {
            multiboot_config c = config(k, "/k");
            c.roms.push_back({"bios-256k.bin", 0xfffc0000, bios});
            return c;
        };
        segment at_bios = ok;
        at_bios.paddr = at_bios.vaddr = 0xfffb0000;
        at_bios.memsz = 0x10000;  // ends exactly where the BIOS starts
        const bytes k1 = elf({at_bios}, 0xfffb000c);
        CHECK_THROWS_WITH(build_multiboot(with_bios(k1)), "Error while fetching elf kernel from rom");
        CHECK(build_multiboot(config(k1)));  // without the board's ROMs
        at_bios.memsz = 0xf000;
        CHECK(build_multiboot(with_bios(elf({at_bios}, 0xfffb000c))));
        // A blob that starts below the copied range and reaches into it
        // ends rom_copy's walk: nothing copied. (An ELF64 segment at
        // 0x1fffd0000 is copied from 0xfffd0000, inside the BIOS.)
        segment high = ok;
        high.paddr = 0x1fffd0000;
        high.memsz = 0x1000;
        CHECK_THROWS_WITH(build_multiboot(with_bios(elf({high}, 0x10000c, 3, true))),
                          "Error while fetching elf kernel from rom");
        // A segment over the BIOS in a 64-bit range that holds it whole:
        // rom_copy copies the BIOS, then the overlap check refuses.
        segment a = ok, b = ok;
        a.paddr = a.vaddr = 0xfff00000;
        a.memsz = 0x100000;
        b.paddr = b.vaddr = 0x100000000;
        CHECK_THROWS_WITH(build_multiboot(with_bios(elf({a, b}, 0xfff0000c, 3, true))),
                          Catch::Matchers::EndsWith(
                              "The following two regions overlap (in the memory address space):\n"
                              "  /k ELF program header segment 0 (addresses 0x00000000fff00000 - 0x0000000100000000)\n"
                              "  bios-256k.bin (addresses 0x00000000fffc0000 - 0x0000000100000000)"));
    }
    {
        // Two tiny segments 4 GiB apart less a page: QEMU's page-aligned
        // size wraps to 0 (ours: an error, and no 4 GiB buffer).
        segment lo = ok, hi = ok;
        lo.paddr = lo.vaddr = 0;
        lo.memsz = 112;
        hi.paddr = hi.vaddr = 0xfffff800;
        hi.offset = 0x2000;
        hi.data = {std::byte{1}};
        hi.memsz = 16;
        fails(elf({lo, hi}, 0x10), "kernel does not fit in address space");
    }
}

TEST_CASE("multiboot: module errors, with QEMU's messages") {
    bytes k = mb_header(aout_kludge, aout_fields{0x100000, 0x100000, 0, 0x100100, 0x100000});
    multiboot_config c = config(k);
    temp_dir dir;
    // get_image_size of the name before the first space.
    c.initrd = dir.path + "/nope with args";
    CHECK_THROWS_WITH(build_multiboot(c), "Failed to open file '" + dir.path + "/nope'");
    // A leading comma is an empty first module.
    dir.add("m", text("m"));
    c.initrd = "," + dir.path + "/m";
    CHECK_THROWS_WITH(build_multiboot(c), "Failed to open file ''");

    // get_image_size is an int: a (sparse) file of 4 GiB + 100 bytes is
    // a 100-byte module, of which QEMU reads a page.
    const std::string big = dir.add("big", {});
    REQUIRE(::truncate(big.c_str(), (off_t{1} << 32) + 100) == 0);
    c.initrd = big;
    const auto img = build_multiboot(c);
    REQUIRE(img);
    const std::uint32_t start = get32(img->data, 0x1000);
    CHECK(get32(img->data, 0x1004) == start + 100);
    CHECK(img->data.size() == start - 0x100000 + 0x1000);
    // and one of 4 GiB - 4 KiB is -4096 bytes long: QEMU's open failure.
    REQUIRE(::truncate(big.c_str(), (off_t{1} << 32) - 4096) == 0);
    CHECK_THROWS_WITH(build_multiboot(c), "Failed to open file '" + big + "'");
}
