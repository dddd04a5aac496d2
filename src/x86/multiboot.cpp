// QEMU 7.2's load_multiboot (hw/i386/multiboot.c) with the parts of
// load_elf (hw/core/loader.c, include/hw/elf_ops.h) and rom_copy it goes
// through. Integer widths follow QEMU's: where it computes in uint32_t, so
// do we, and the same for its elf_word/elf_sword per ELF class. The places
// we depart from it are listed in the header.
#include "targets/x86/boot/multiboot.hpp"

#include "qf/core/error.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace qf::x86 {

namespace {

constexpr std::uint32_t header_magic = 0x1BADB002;
constexpr std::uint32_t header_flag_vbe = 1u << 2, header_flag_aout_kludge = 1u << 16;
// The header is 12 dwords; x86_load_linux hands over the first 8 KiB.
constexpr std::size_t header_window = 8192, header_scan_end = header_window - 48;
constexpr std::uint64_t page_size = 4096;

// Offsets in the information structure and in a module entry.
constexpr std::size_t mbi_flags = 0, mbi_boot_device = 12, mbi_cmdline = 16, mbi_mods_count = 20,
                      mbi_mods_addr = 24, mbi_mmap_addr = 48, mbi_boot_loader_name = 64;
constexpr std::uint32_t mod_entry_size = 16;
constexpr std::uint32_t info_flags = 1u << 0    // mem_lower/mem_upper (the ROM fills them)
                                     | 1u << 1  // boot_device
                                     | 1u << 2  // cmdline
                                     | 1u << 3  // mods
                                     | 1u << 6  // mmap (the ROM fills it)
                                     | 1u << 9; // boot_loader_name
constexpr std::uint32_t boot_device_none = 0x8000ffff;
constexpr std::string_view boot_loader_name = "qemu";

constexpr std::uint16_t em_386 = 3, em_x86_64 = 62;
constexpr std::uint32_t pt_load = 1, pf_x = 1;

[[noreturn]] void fail(std::string msg) { throw qf::error(std::move(msg)); }

// Little-endian loads; bytes past the end read as zero.
std::uint64_t load_le(std::span<const std::byte> b, std::uint64_t off, unsigned n) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i)
        if (off + i < b.size()) v |= std::uint64_t{std::to_integer<std::uint8_t>(b[off + i])} << (8 * i);
    return v;
}
std::uint32_t le32(std::span<const std::byte> b, std::uint64_t off) {
    return static_cast<std::uint32_t>(load_le(b, off, 4));
}
void store_le32(std::span<std::byte> b, std::uint64_t off, std::uint64_t v) {
    for (unsigned i = 0; i < 4; ++i) b[off + i] = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t page_align(std::uint64_t v) { return (v + page_size - 1) & ~(page_size - 1); }

// --- load_elf ------------------------------------------------------------

// A ROM blob as QEMU's loader keeps it (struct Rom without the fw_cfg
// kind, which rom_copy and the overlap check skip): datasize bytes of
// data, then zeros up to romsize.
struct rom_blob {
    std::string name;
    std::uint64_t addr = 0;
    std::span<const std::byte> data;
    std::uint64_t romsize = 0;
};

// The ELF header and program header layouts of one class.
struct elf32 {
    using word = std::uint32_t;
    using sword = std::int32_t;
    static constexpr std::size_t ehdr_size = 52, phdr_size = 32;
    static constexpr std::size_t e_entry = 24, e_phoff = 28, e_phnum = 44;
    static constexpr std::size_t p_offset = 4, p_vaddr = 8, p_paddr = 12, p_filesz = 16, p_memsz = 20,
                                 p_flags = 24;
};
struct elf64 {
    using word = std::uint64_t;
    using sword = std::int64_t;
    static constexpr std::size_t ehdr_size = 64, phdr_size = 56;
    static constexpr std::size_t e_entry = 24, e_phoff = 32, e_phnum = 56;
    static constexpr std::size_t p_flags = 4, p_offset = 8, p_vaddr = 16, p_paddr = 24, p_filesz = 32,
                                 p_memsz = 40;
};

struct elf_load {
    std::int64_t total_size = 0;  // load_elf's return value
    std::uint64_t entry = 0, low = 0, high = 0;
    std::vector<rom_blob> roms;
};

// load_elf's failures all end as one message in load_multiboot.
[[noreturn]] void elf_fail() { fail("Error while loading elf kernel"); }

// glue(load_elf, SZ) for elf_machine = I386_ELF_MACHINE (EM_X86_64 in
// qemu-system-x86_64: EM_386 and EM_X86_64 files pass), no translation,
// no byte swapping (load_elf_ram_sym refused a big-endian file already).
template <class E>
elf_load load_elf_class(std::span<const std::byte> file, const std::string& name) {
    using word = typename E::word;
    using sword = typename E::sword;
    const auto w = [&](std::uint64_t off) -> word { return static_cast<word>(load_le(file, off, sizeof(word))); };

    // read(fd, &ehdr, sizeof(ehdr)) != sizeof(ehdr)
    if (file.size() < E::ehdr_size) elf_fail();
    const auto machine = static_cast<std::uint16_t>(load_le(file, 18, 2));
    if (machine != em_x86_64 && machine != em_386) elf_fail();

    const word e_entry = w(E::e_entry);
    elf_load r;
    r.entry = static_cast<std::uint64_t>(static_cast<sword>(e_entry));

    // The program headers, sizeof(phdr) apart whatever e_phentsize says.
    // lseek to e_phoff must land there (an ELF64 offset past INT64_MAX
    // does not), g_malloc0(0) is NULL (no program headers fails), and the
    // read must not come up short.
    const std::uint64_t phoff = w(E::e_phoff);
    const std::uint64_t phnum = load_le(file, E::e_phnum, 2);
    const std::uint64_t phsize = phnum * E::phdr_size;
    if (phoff > static_cast<std::uint64_t>(INT64_MAX) || phsize == 0 || phoff > file.size() ||
        file.size() - phoff < phsize)
        elf_fail();
    const auto ph = [&](std::uint64_t i, std::size_t field) { return w(phoff + i * E::phdr_size + field); };
    const auto ph_type = [&](std::uint64_t i) { return le32(file, phoff + i * E::phdr_size); };

    std::uint64_t low = UINT64_MAX, high = 0;
    for (std::uint64_t i = 0; i < phnum; ++i) {
        if (ph_type(i) != pt_load) continue;
        word mem_size = ph(i, E::p_memsz);
        const word file_size = ph(i, E::p_filesz);
        const word data_offset = ph(i, E::p_offset);
        const word paddr = ph(i, E::p_paddr), vaddr = ph(i, E::p_vaddr);
        const auto flags = le32(file, phoff + i * E::phdr_size + E::p_flags);

        // QEMU tests length < file_size + data_offset in elf_word, which
        // wraps; we test the range itself.
        if (file_size > 0 && (data_offset > file.size() || file.size() - data_offset < file_size)) elf_fail();

        // A segment whose zero-filled tail would run into another PT_LOAD
        // segment is cut to its file size (elf_word arithmetic, as QEMU).
        if (mem_size > file_size) {
            const word zero_start = static_cast<word>(paddr + file_size);
            const word zero_end = static_cast<word>(paddr + mem_size);
            for (std::uint64_t j = 0; j < phnum; ++j) {
                if (j == i || ph_type(j) != pt_load) continue;
                const word other_start = ph(j, E::p_paddr);
                const word other_end = static_cast<word>(other_start + ph(j, E::p_memsz));
                if (!(other_start >= zero_end || zero_start >= other_end)) {
                    mem_size = file_size;
                    break;
                }
            }
        }
        if (std::uint64_t{mem_size} > static_cast<std::uint64_t>(INT64_MAX - r.total_size)) elf_fail();

        const std::uint64_t addr = paddr;
        // The entry point is a virtual address: moved into the segment's
        // physical placement when it lies in an executable segment whose
        // addresses differ.
        if (vaddr != paddr && e_entry >= vaddr && e_entry < static_cast<word>(vaddr + file_size) && (flags & pf_x))
            r.entry = static_cast<word>(e_entry - vaddr + paddr);

        // Empty segments make no ROM blob, but still count for low/high.
        if (mem_size != 0)
            r.roms.push_back({name + " ELF program header segment " + std::to_string(i), addr,
                              file.subspan(file_size > 0 ? data_offset : 0, file_size), mem_size});

        r.total_size += static_cast<std::int64_t>(mem_size);
        if (addr < low) low = addr;
        if (addr + mem_size > high) high = addr + mem_size;
    }
    // Through elf_sword: an ELF32 address with bit 31 set comes out
    // sign-extended.
    r.low = static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<sword>(low)));
    r.high = static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<sword>(high)));
    return r;
}

// load_elf_ram_sym: the magic, little-endian data, then by class (anything
// but ELFCLASS64 is read as ELF32).
elf_load load_elf(std::span<const std::byte> file, const std::string& name) {
    if (file.size() < 16) elf_fail();
    if (load_le(file, 0, 4) != 0x464c457f) elf_fail();  // "\x7fELF"
    if (std::to_integer<std::uint8_t>(file[5]) != 1) elf_fail();  // ELFDATA2LSB
    return std::to_integer<std::uint8_t>(file[4]) == 2 ? load_elf_class<elf64>(file, name)
                                                       : load_elf_class<elf32>(file, name);
}

// QEMU's ROM list: ordered by address, a blob added later going after
// others at the same address (rom_insert).
std::vector<const rom_blob*> rom_list(const std::vector<rom_blob>& board, const std::vector<rom_blob>& elf) {
    std::vector<const rom_blob*> list;
    for (const auto& r : board) list.push_back(&r);
    for (const auto& r : elf) list.push_back(&r);
    std::stable_sort(list.begin(), list.end(), [](const rom_blob* a, const rom_blob* b) { return a->addr < b->addr; });
    return list;
}

// rom_copy(dest, addr, size) over the ROM list; its return value (an int,
// from the last blob it went through). Where QEMU's clamped length
// underflows into a huge memcpy/memset, this throws instead. With no
// dest, only the return value.
std::uint32_t rom_copy(std::byte* dest, std::uint64_t addr, std::uint64_t size,
                       const std::vector<const rom_blob*>& roms) {
    const std::uint64_t end = addr + size;
    std::uint64_t d = 0, l = 0;  // d: offset in dest
    const auto crash = [] { fail("Error while fetching elf kernel from rom"); };
    for (const rom_blob* rom : roms) {
        if (rom->addr + rom->romsize < addr) continue;
        if (rom->addr > end || rom->addr < addr) break;
        d = rom->addr - addr;  // <= size
        l = rom->data.size();
        bool clamped = false;
        if (l > size - d) {
            l = 0 - d;
            clamped = true;
        }
        if (l != 0) {
            if (clamped) crash();
            if (dest) std::copy(rom->data.begin(), rom->data.end(), dest + d);
        }
        if (rom->romsize > rom->data.size()) {
            d += l;  // back to 0 after a clamp
            l = rom->romsize - rom->data.size();
            clamped = false;
            if (l > size - d) {
                l = 0 - d;
                clamped = true;
            }
            if (l != 0) {
                if (clamped) crash();
                if (dest) std::fill_n(dest + d, l, std::byte{0});
            }
        }
    }
    return static_cast<std::uint32_t>(d + l);
}

// rom_check_and_register_reset: neighbours in the list must not overlap.
void check_rom_overlaps(const std::vector<const rom_blob*>& roms) {
    std::string msg;
    const rom_blob* last = nullptr;
    const auto line = [](const rom_blob* r) {
        char buf[64];
        std::snprintf(buf, sizeof buf, " (addresses 0x%016llx - 0x%016llx)\n",
                      static_cast<unsigned long long>(r->addr), static_cast<unsigned long long>(r->addr + r->romsize));
        return "  " + r->name + buf;
    };
    for (const rom_blob* rom : roms) {
        if (last && last->addr + last->romsize > rom->addr) {
            if (msg.empty())
                msg = "Some ROM regions are overlapping\n"
                      "These ROM regions might have been loaded by direct user request or by default.\n"
                      "They could be BIOS/firmware images, a guest kernel, initrd or some other file loaded into "
                      "guest memory.\n"
                      "Check whether you intended to load all this guest code, and whether it has been built to "
                      "load to the correct addresses.\n";
            msg += "\nThe following two regions overlap (in the memory address space):\n" + line(last) + line(rom);
        }
        last = rom;
    }
    if (!msg.empty()) {
        msg.pop_back();  // the reporter ends the line
        fail(msg);
    }
}

// --- the a.out kludge -----------------------------------------------------

struct kernel_part {
    std::uint32_t entry = 0, load_addr = 0;
    std::vector<std::byte> buf;  // mb_kernel_size bytes
};

kernel_part load_aout(std::span<const std::byte> file, std::span<const std::byte> header, std::uint32_t i) {
    const std::uint32_t header_addr = le32(header, i + 12);
    const std::uint32_t load_addr = le32(header, i + 16);
    const std::uint32_t load_end_addr = le32(header, i + 20);
    const std::uint32_t bss_end_addr = le32(header, i + 24);
    if (header_addr < load_addr) fail("invalid load_addr address");
    if (header_addr - load_addr > i) fail("invalid header_addr address");

    const std::uint32_t text_offset = i - (header_addr - load_addr);
    // x86_load_linux's int kernel_size, compared as unsigned.
    const auto file_size = static_cast<std::uint32_t>(file.size());
    std::uint32_t load_size;
    if (load_end_addr) {
        if (load_end_addr < load_addr) fail("invalid load_end_addr address");
        load_size = load_end_addr - load_addr;
    } else {
        if (file_size < text_offset) fail("invalid kernel_file_size");
        load_size = file_size - text_offset;
    }
    if (load_size > UINT32_MAX - load_addr) fail("kernel does not fit in address space");
    std::uint32_t kernel_size = load_size;
    if (bss_end_addr) {
        if (bss_end_addr < load_addr + load_size) fail("invalid bss_end_addr address");
        kernel_size = bss_end_addr - load_addr;
    }

    // fseek(f, text_offset), then fread must return load_size bytes.
    if (text_offset > file.size() || file.size() - text_offset < load_size) fail("fread() failed");
    // Where QEMU's page-aligned 32-bit size would wrap to 0.
    if (page_align(kernel_size) > UINT32_MAX) fail("kernel does not fit in address space");
    kernel_part k;
    k.entry = le32(header, i + 28);
    k.load_addr = load_addr;
    k.buf.assign(kernel_size, std::byte{0});
    std::copy_n(file.begin() + text_offset, load_size, k.buf.begin());
    return k;
}

// --- modules ----------------------------------------------------------------

// get_opt_value over the whole -initrd string: values split at single
// commas, ",," standing for one.
std::vector<std::string> split_modules(std::string_view s) {
    std::vector<std::string> mods;
    std::size_t p = 0;
    while (p < s.size()) {
        std::string value;
        for (;;) {
            const std::size_t comma = std::min(s.find(',', p), s.size());
            value.append(s.substr(p, comma - p));
            if (comma + 1 < s.size() && s[comma + 1] == ',') {
                value += ',';
                p = comma + 2;
                continue;
            }
            p = comma;
            break;
        }
        mods.push_back(std::move(value));
        if (p < s.size()) ++p;  // the separating comma
    }
    return mods;
}

struct fd_closer {
    int fd;
    ~fd_closer() {
        if (fd >= 0) ::close(fd);
    }
};

// get_image_size: the size as an int (lseek to the end), -1 when the
// file cannot be opened.
int image_size(const std::string& path) {
    const fd_closer f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) return -1;
    const off_t size = ::lseek(f.fd, 0, SEEK_END);
    if (size < 0) return -1;
    return static_cast<int>(static_cast<std::uint64_t>(size));  // truncated, as QEMU's int
}

// load_image_size: reads up to dest.size() bytes; false on an error.
bool load_image(const std::string& path, std::span<std::byte> dest) {
    const fd_closer f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) return false;
    std::size_t got = 0;
    for (;;) {
        const ssize_t n = ::read(f.fd, dest.data() + got, dest.size() - got);
        if (n > 0) {
            got += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return n == 0;
    }
}

} // namespace

std::optional<multiboot_image> build_multiboot(const multiboot_config& c) {
    const std::span<const std::byte> file = c.kernel;
    const std::span<const std::byte> header = file.first(std::min(file.size(), header_window));

    // x86_load_linux: a Linux kernel is never taken for a multiboot one.
    if (le32(header, 0x202) == 0x53726448) return std::nullopt;  // "HdrS"

    std::uint32_t i = 0, flags = 0;
    bool found = false;
    for (; i < header_scan_end; i += 4) {
        if (le32(header, i) != header_magic) continue;
        flags = le32(header, i + 4);
        if (static_cast<std::uint32_t>(le32(header, i + 8) + flags + header_magic) == 0) {
            found = true;
            break;
        }
    }
    if (!found) return std::nullopt;

    if (flags & header_flag_vbe) report_error("multiboot knows VBE. we don't");

    kernel_part k;
    std::vector<rom_blob> board_roms, elf_roms;
    if (!(flags & header_flag_aout_kludge)) {
        // ELF, as QEMU 7.2 reads e_machine whatever the file is.
        if (load_le(header, 18, 2) == em_x86_64) fail("Cannot load x86-64 image, give a 32bit one.");
        elf_load elf = load_elf(file, c.kernel_path);
        // load_elf's ssize_t lands in an int.
        if (static_cast<std::int32_t>(static_cast<std::uint32_t>(elf.total_size)) < 0) elf_fail();
        k.load_addr = static_cast<std::uint32_t>(elf.low);
        k.entry = static_cast<std::uint32_t>(elf.entry);
        const auto kernel_size = static_cast<std::uint32_t>(elf.high - elf.low);
        elf_roms = std::move(elf.roms);
        for (const auto& r : c.roms) board_roms.push_back({r.name, r.addr, r.data, r.data.size()});
        const auto roms = rom_list(board_roms, elf_roms);
        // Where QEMU's page-aligned 32-bit size would wrap to 0 (checked
        // after rom_copy's, without the 4 GiB buffer).
        if (page_align(kernel_size) > UINT32_MAX) {
            if (rom_copy(nullptr, k.load_addr, kernel_size, roms) != kernel_size)
                fail("Error while fetching elf kernel from rom");
            fail("kernel does not fit in address space");
        }
        k.buf.assign(kernel_size, std::byte{0});
        if (rom_copy(k.buf.data(), k.load_addr, kernel_size, roms) != kernel_size)
            fail("Error while fetching elf kernel from rom");
    } else {
        k = load_aout(file, header, i);
    }

    // The blob: the kernel, page-aligned; the module list; the command
    // lines; the boot loader's name; page-aligned; each module,
    // page-aligned. QEMU sizes the strings' room before it splits -initrd,
    // so the name comes after room for the whole -initrd string.
    const std::uint64_t phys = k.load_addr;
    std::uint64_t buf_size = page_align(k.buf.size());
    const std::uint64_t offset_mbinfo = buf_size;
    std::uint64_t cmdline_len = c.kernel_path.size() + 1 + c.append.size() + 1;
    std::vector<std::string> mods;
    if (c.initrd) {
        cmdline_len += c.initrd->size() + 1;
        mods = split_modules(*c.initrd);
    }
    buf_size += cmdline_len + mod_entry_size * mods.size() + boot_loader_name.size() + 1;
    buf_size = page_align(buf_size);
    if (buf_size > UINT32_MAX) fail("kernel does not fit in address space");

    multiboot_image img;
    img.entry = k.entry;
    img.load_addr = k.load_addr;
    img.data = std::move(k.buf);
    img.data.resize(buf_size);
    std::uint64_t offset_cmdlines = offset_mbinfo + mod_entry_size * mods.size();
    std::uint64_t offset_boot_loader = offset_cmdlines + cmdline_len;

    const auto add_string = [&](std::uint64_t& at, std::string_view s) {
        const std::uint64_t p = at;
        std::copy(reinterpret_cast<const std::byte*>(s.data()), reinterpret_cast<const std::byte*>(s.data()) + s.size(),
                  img.data.begin() + static_cast<std::ptrdiff_t>(p));
        img.data[p + s.size()] = std::byte{0};
        at += s.size() + 1;
        return phys + p;
    };

    for (std::size_t n = 0; n < mods.size(); ++n) {
        const std::uint64_t offs = buf_size;
        // The whole value is the module's command line; its file name
        // ends at the first space.
        const std::uint64_t cmdline = add_string(offset_cmdlines, mods[n]);
        const std::string path = mods[n].substr(0, mods[n].find(' '));
        const int length = image_size(path);
        if (length < 0) fail("Failed to open file '" + path + "'");
        buf_size = page_align(static_cast<std::uint64_t>(length) + buf_size);
        if (buf_size > UINT32_MAX) fail("Error loading file '" + path + "'");
        img.data.resize(buf_size);
        if (!load_image(path, std::span(img.data).subspan(offs)))
            fail("Error loading file '" + path + "'");
        const std::uint64_t entry = offset_mbinfo + mod_entry_size * n;
        store_le32(img.data, entry + 0, phys + offs);
        store_le32(img.data, entry + 4, phys + offs + static_cast<std::uint64_t>(length));
        store_le32(img.data, entry + 8, cmdline);
    }

    // "%s %s": the kernel's file name, a space, then -append.
    const std::uint64_t cmdline = add_string(offset_cmdlines, c.kernel_path + " " + c.append);
    const std::uint64_t loader = add_string(offset_boot_loader, boot_loader_name);

    const std::span<std::byte> info(img.info);
    store_le32(info, mbi_cmdline, cmdline);
    store_le32(info, mbi_boot_loader_name, loader);
    store_le32(info, mbi_mods_addr, phys + offset_mbinfo);
    store_le32(info, mbi_mods_count, mods.size());
    store_le32(info, mbi_flags, info_flags);
    store_le32(info, mbi_boot_device, boot_device_none);
    store_le32(info, mbi_mmap_addr, multiboot_mmap_addr);

    if (!elf_roms.empty()) {
        // At machine-done time in QEMU.
        check_rom_overlaps(rom_list(board_roms, elf_roms));
        // A segment with more file bytes than memory: QEMU's first reset
        // would zero-fill 2^64 - (filesz - memsz) bytes after it.
        for (const auto& r : elf_roms)
            if (r.data.size() > r.romsize) elf_fail();
    }
    return img;
}

bool load_multiboot(dev::fw_cfg_io& fw, const multiboot_config& c) {
    auto img = build_multiboot(c);
    if (!img) return false;
    using namespace dev;
    const auto size = static_cast<std::uint32_t>(img->data.size());
    fw.add_i32(fw_cfg_key::kernel_entry, img->entry);
    fw.add_i32(fw_cfg_key::kernel_addr, img->load_addr);
    fw.add_i32(fw_cfg_key::kernel_size, size);
    fw.add_bytes(fw_cfg_key::kernel_data, std::move(img->data));
    fw.add_i32(fw_cfg_key::initrd_addr, multiboot_info_addr);
    fw.add_i32(fw_cfg_key::initrd_size, multiboot_info_size);
    fw.add_bytes(fw_cfg_key::initrd_data, {img->info.begin(), img->info.end()});
    return true;
}

} // namespace qf::x86
