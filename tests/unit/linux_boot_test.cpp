// -kernel with a Linux bzImage, against QEMU 7.2's x86_load_linux
// (hw/i386/x86.c): where each kind of kernel (by protocol version and
// LOADED_HIGH) goes, the header fields a boot loader fills in, the initrd's
// limit, and the errors. The cli test runs a real bzImage (lbtest) through
// linuxboot_dma.bin against QEMU's own report; these cover the branches it
// does not take.
#include "qf/core/error.hpp"
#include "targets/x86/boot/linux.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

namespace {

using qf::x86::build_linux_boot;
using qf::x86::linux_boot_config;

// A kernel of setup_sects + 1 sectors of setup and 1 KiB of payload. A
// config only points at its kernel: keep the vector alive as long.
std::vector<std::byte> bzimage(std::uint16_t protocol, std::uint8_t loadflags, unsigned setup_sects = 2) {
    std::vector<std::byte> k((setup_sects + 1) * 512 + 1024, std::byte{0x5a});
    k[0x1f1] = std::byte(setup_sects);
    std::memcpy(k.data() + 0x202, "HdrS", 4);
    k[0x206] = std::byte(protocol & 0xff);
    k[0x207] = std::byte(protocol >> 8);
    k[0x211] = std::byte(loadflags);
    const std::uint32_t initrd_addr_max = 0x7fffffff;
    std::memcpy(k.data() + 0x22c, &initrd_addr_max, 4);
    k[0x236] = k[0x237] = std::byte{0};
    return k;
}
std::uint32_t rd32(const std::vector<std::byte>& v, std::size_t at) {
    std::uint32_t x;
    std::memcpy(&x, v.data() + at, 4);
    return x;
}
std::uint16_t rd16(const std::vector<std::byte>& v, std::size_t at) {
    std::uint16_t x;
    std::memcpy(&x, v.data() + at, 2);
    return x;
}
linux_boot_config config(const std::vector<std::byte>& k, std::string append = "") {
    linux_boot_config c;
    c.kernel_path = "bzImage";
    c.kernel = k;
    c.append = std::move(append);
    c.below_4g_mem_size = 128u << 20;
    return c;
}

} // namespace

TEST_CASE("a recent high kernel: setup at 0x10000, command line at 0x20000, heap, QEMU's loader type") {
    const auto k = bzimage(0x020f, 0x01);
    const auto img = build_linux_boot(config(k, "root=/dev/sda"));
    CHECK(img.real_addr == 0x10000);
    CHECK(img.cmdline_addr == 0x20000);
    CHECK(img.prot_addr == 0x100000);
    CHECK(img.setup.size() == 3 * 512);
    CHECK(img.kernel.size() == 1024);
    CHECK(rd32(img.setup, 0x228) == 0x20000);                   // cmd_line_ptr
    CHECK(std::to_integer<unsigned>(img.setup[0x210]) == 0xb0);  // type_of_loader
    CHECK(std::to_integer<unsigned>(img.setup[0x211]) == 0x81);  // LOADED_HIGH | CAN_USE_HEAP
    CHECK(rd16(img.setup, 0x224) == 0x20000 - 0x10000 - 0x200);  // heap_end_ptr
    CHECK(img.cmdline == "root=/dev/sda");
    CHECK(!img.has_initrd);
}

TEST_CASE("older kernels: 2.01 high goes below 640 KiB with its command line; a low one loads at 0x10000") {
    const std::string append(20, 'x');  // 16-byte aligned size: 32
    const auto old_high = build_linux_boot(config(bzimage(0x0201, 0x01), append));
    CHECK(old_high.real_addr == 0x90000);
    CHECK(old_high.cmdline_addr == 0x9a000 - 32);
    CHECK(old_high.prot_addr == 0x100000);
    CHECK(rd16(old_high.setup, 0x20) == 0xa33f);  // the old command-line protocol
    CHECK(rd16(old_high.setup, 0x22) == 0x9a000 - 32 - 0x90000);
    CHECK(rd16(old_high.setup, 0x224) == 0x9a000 - 32 - 0x90000 - 0x200);
    const auto low = build_linux_boot(config(bzimage(0x020f, 0x00)));
    CHECK(low.real_addr == 0x90000);
    CHECK(low.prot_addr == 0x10000);
}

TEST_CASE("vga= sets the video mode as QEMU parses it") {
    const auto k = bzimage(0x020f, 0x01);
    CHECK(rd16(build_linux_boot(config(k, "vga=normal")).setup, 0x1fa) == 0xffff);
    CHECK(rd16(build_linux_boot(config(k, "a vga=ext")).setup, 0x1fa) == 0xfffe);
    CHECK(rd16(build_linux_boot(config(k, "vga=ask b")).setup, 0x1fa) == 0xfffd);
    CHECK(rd16(build_linux_boot(config(k, "vga=0x317")).setup, 0x1fa) == 0x317);
}

TEST_CASE("the initrd ends below the kernel's limit and RAM less QEMU's ACPI reservation, page-aligned") {
    const auto k0 = bzimage(0x020f, 0x01);
    auto c = config(k0);
    c.initrd_path = "initrd";
    c.initrd.assign(5000, std::byte{1});
    const auto img = build_linux_boot(c);
    const std::uint32_t max = (128u << 20) - 0x28000 - 1;
    CHECK(img.has_initrd);
    CHECK(img.initrd_addr == ((max - 5000) & ~4095u));
    CHECK(rd32(img.setup, 0x218) == img.initrd_addr);
    CHECK(rd32(img.setup, 0x21c) == 5000);
    // Protocol 2.12 with XLF_CAN_BE_LOADED_ABOVE_4G: no limit but RAM's.
    auto k = bzimage(0x020c, 0x01);
    const std::uint32_t low_limit = 0x100000;
    std::memcpy(k.data() + 0x22c, &low_limit, 4);
    k[0x236] = std::byte{2};
    auto c2 = config(k);
    c2.initrd_path = "initrd";
    c2.initrd.assign(5000, std::byte{1});
    CHECK(build_linux_boot(c2).initrd_addr == ((max - 5000) & ~4095u));
    // Without it the header's initrd_addr_max holds.
    k[0x236] = std::byte{0};
    auto c3 = config(k);
    c3.initrd_path = "initrd";
    c3.initrd.assign(5000, std::byte{1});
    CHECK(build_linux_boot(c3).initrd_addr == ((low_limit - 5000) & ~4095u));
}

TEST_CASE("QEMU's errors: a setup longer than the file, an initrd too large, an initrd for a pre-2.00 kernel") {
    auto k = bzimage(0x020f, 0x01);
    k.resize(1000);  // 3 setup sectors do not fit
    CHECK_THROWS_WITH(build_linux_boot(config(k)), Catch::Contains("invalid kernel header"));
    const auto k1 = bzimage(0x020f, 0x01);
    auto c = config(k1);
    c.below_4g_mem_size = 1u << 20;
    c.initrd_path = "initrd";
    c.initrd.assign(1u << 20, std::byte{0});
    CHECK_THROWS_WITH(build_linux_boot(c), Catch::Contains("initrd is too large"));
    const auto k2 = bzimage(0x0100, 0x00);
    auto ancient = config(k2);
    ancient.initrd_path = "initrd";
    CHECK_THROWS_WITH(build_linux_boot(ancient), Catch::Contains("too old to load a ram disk"));
}
