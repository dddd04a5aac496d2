// QEMU 7.2's x86_load_linux (hw/i386/x86.c), the bzImage part: where the
// setup, the kernel, the command line and the initrd go, and the header
// fields a boot loader fills in (Documentation/arch/x86/boot.rst).
#include "targets/x86/boot/linux.hpp"

#include "qf/core/error.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <cstring>

namespace qf::x86 {

namespace {
std::uint16_t le16(const std::byte* p) { return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) | std::to_integer<unsigned>(p[1]) << 8); }
std::uint32_t le32(const std::byte* p) { return le16(p) | static_cast<std::uint32_t>(le16(p + 2)) << 16; }
void put16(std::byte* p, std::uint16_t v) {
    p[0] = std::byte(v & 0xff);
    p[1] = std::byte(v >> 8);
}
void put32(std::byte* p, std::uint32_t v) {
    put16(p, static_cast<std::uint16_t>(v));
    put16(p + 2, static_cast<std::uint16_t>(v >> 16));
}
constexpr std::uint32_t hdrs = 0x53726448;  // "HdrS"
constexpr std::uint16_t xlf_can_be_loaded_above_4g = 1u << 1;
} // namespace

bool is_linux_kernel(std::span<const std::byte> file) { return file.size() >= 0x206 && le32(file.data() + 0x202) == hdrs; }

linux_boot_image build_linux_boot(linux_boot_config c) {
    const std::span<const std::byte> file = c.kernel;
    if (file.empty()) throw error("could not load kernel: the file is empty");
    // The first 8 KiB, which the header fields are written into.
    std::vector<std::byte> header(8192);
    std::copy_n(file.begin(), std::min(file.size(), header.size()), header.begin());
    std::byte* h = header.data();

    const std::uint16_t protocol = le32(h + 0x202) == hdrs ? le16(h + 0x206) : 0;
    const auto cmdline_size = static_cast<std::uint32_t>((c.append.size() + 16) & ~std::size_t{15});
    linux_boot_image img;
    if (protocol < 0x200 || !(std::to_integer<unsigned>(h[0x211]) & 0x01)) {  // a low kernel
        img.real_addr = 0x90000;
        img.cmdline_addr = 0x9a000 - cmdline_size;
        img.prot_addr = 0x10000;
    } else if (protocol < 0x202) {  // high but ancient
        img.real_addr = 0x90000;
        img.cmdline_addr = 0x9a000 - cmdline_size;
        img.prot_addr = 0x100000;
    } else {
        img.real_addr = 0x10000;
        img.cmdline_addr = 0x20000;
        img.prot_addr = 0x100000;
    }

    // The highest address the initrd may end at.
    std::uint32_t initrd_max = 0x37ffffff;
    if (protocol >= 0x20c && (le16(h + 0x236) & xlf_can_be_loaded_above_4g)) initrd_max = UINT32_MAX;
    else if (protocol >= 0x203) initrd_max = le32(h + 0x22c);
    if (initrd_max >= c.below_4g_mem_size - c.acpi_data_size)
        initrd_max = static_cast<std::uint32_t>(c.below_4g_mem_size - c.acpi_data_size - 1);

    img.cmdline = c.append;
    if (protocol >= 0x202) {
        put32(h + 0x228, img.cmdline_addr);
    } else {
        put16(h + 0x20, 0xa33f);
        put16(h + 0x22, static_cast<std::uint16_t>(img.cmdline_addr - img.real_addr));
    }

    // vga=: the video mode the setup code switches to.
    if (const auto v = c.append.find("vga="); v != std::string::npos) {
        const char* mode = c.append.c_str() + v + 4;
        std::uint16_t video_mode;
        if (!std::strncmp(mode, "normal", 6)) video_mode = 0xffff;
        else if (!std::strncmp(mode, "ext", 3)) video_mode = 0xfffe;
        else if (!std::strncmp(mode, "ask", 3)) video_mode = 0xfffd;
        else video_mode = static_cast<std::uint16_t>(std::strtol(mode, nullptr, 0));
        put16(h + 0x1fa, video_mode);
    }

    // The loader type: high nybble B is QEMU's.
    if (protocol >= 0x200) h[0x210] = std::byte{0xb0};
    if (protocol >= 0x201) {
        h[0x211] |= std::byte{0x80};  // CAN_USE_HEAP
        put16(h + 0x224, static_cast<std::uint16_t>(img.cmdline_addr - img.real_addr - 0x200));
    }

    if (!c.initrd_path.empty()) {
        if (protocol < 0x200) throw error("linux kernel too old to load a ram disk");
        if (c.initrd.size() >= initrd_max)
            throw error("initrd is too large, cannot support.(max: " + std::to_string(initrd_max) + ", need " +
                        std::to_string(c.initrd.size()) + ")");
        img.initrd_addr = static_cast<std::uint32_t>((initrd_max - c.initrd.size()) & ~std::uint64_t{4095});
        put32(h + 0x218, img.initrd_addr);
        put32(h + 0x21c, static_cast<std::uint32_t>(c.initrd.size()));
        img.initrd = std::move(c.initrd);
        img.has_initrd = true;
    }

    unsigned setup_sects = std::to_integer<unsigned>(h[0x1f1]);
    if (setup_sects == 0) setup_sects = 4;
    const std::size_t setup_size = (setup_sects + 1) * 512;
    if (setup_size > file.size()) throw error("invalid kernel header");
    img.setup.assign(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(setup_size));
    std::copy_n(header.begin(), std::min(header.size(), setup_size), img.setup.begin());
    img.kernel.assign(file.begin() + static_cast<std::ptrdiff_t>(setup_size), file.end());
    return img;
}

void load_linux(dev::fw_cfg_io& fw, linux_boot_config c) {
    linux_boot_image img = build_linux_boot(std::move(c));
    using namespace dev;
    fw.add_i32(fw_cfg_key::cmdline_addr, img.cmdline_addr);
    fw.add_i32(fw_cfg_key::cmdline_size, static_cast<std::uint32_t>(img.cmdline.size() + 1));
    fw.add_string(fw_cfg_key::cmdline_data, img.cmdline);
    if (img.has_initrd) {
        fw.add_i32(fw_cfg_key::initrd_addr, img.initrd_addr);
        fw.add_i32(fw_cfg_key::initrd_size, static_cast<std::uint32_t>(img.initrd.size()));
        fw.add_bytes(fw_cfg_key::initrd_data, std::move(img.initrd));
    }
    fw.add_i32(fw_cfg_key::kernel_addr, img.prot_addr);
    fw.add_i32(fw_cfg_key::kernel_size, static_cast<std::uint32_t>(img.kernel.size()));
    fw.add_bytes(fw_cfg_key::kernel_data, std::move(img.kernel));
    fw.add_i32(fw_cfg_key::setup_addr, img.real_addr);
    fw.add_i32(fw_cfg_key::setup_size, static_cast<std::uint32_t>(img.setup.size()));
    fw.add_bytes(fw_cfg_key::setup_data, std::move(img.setup));
}

} // namespace qf::x86
