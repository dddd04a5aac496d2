// A Linux bzImage on pc (-kernel/-initrd/-append): the test kernel
// tests/linuxboot/lbtest.asm, loaded as QEMU's x86_load_linux loads a
// kernel and started by QEMU's linuxboot_dma.bin, prints the setup header
// its boot loader filled in, the command line, and the first bytes and a
// sum of its protected-mode part and of the initrd where the header says
// they are. lbtest.expected is QEMU 7.2's report.
#include "process.hpp"

#include <catch2/catch.hpp>

namespace {

const std::string binary = qft::build_path("QF_SYSTEM_BINARY", QF_SYSTEM_BINARY);
const std::string dir = qft::build_path("QF_LINUXBOOT_DIR", QF_LINUXBOOT_DIR);
const std::string kernel = qft::build_path("QF_FIRMWARE_DIR", QF_FIRMWARE_DIR) + "/lbtest.bin";

// The report, from its first line, with LF line ends.
std::string report(const std::string& out) {
    const std::size_t at = out.find("lbtest: linux boot report");
    std::string lf;
    if (at == std::string::npos) return lf;
    for (char c : out.substr(at))
        if (c != '\r') lf += c;
    return lf;
}

// The one known difference: linuxboot_dma.bin moves the initrd below the
// top of RAM as SeaBIOS's e801 call reports it, and SeaBIOS reserves 8 KiB
// there for the ACPI tables it builds itself, where QEMU hands it its own
// (etc/table-loader, not built yet) in 128 KiB.
std::string as_ours(std::string qemu_report) {
    const std::string qemu = "ramdisk_image 07fdf000", ours = "ramdisk_image 07fef000";
    if (const std::size_t at = qemu_report.find(qemu); at != std::string::npos) qemu_report.replace(at, qemu.size(), ours);
    return qemu_report;
}

std::vector<std::string> command(const std::string& emulator) {
    return {emulator, "-M", "pc", "-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", kernel, "-initrd", dir + "/initrd.txt",
            "-append", "console=ttyS0 vga=ext quiet"};
}

} // namespace

TEST_CASE("a Linux kernel on pc: the setup header, command line, kernel and initrd as QEMU's loader leaves them") {
    for (const char* accel : {"tcg", "tcg,one-insn-per-tb=on"}) {
        auto args = command(binary);
        args.insert(args.end(), {"-accel", accel});
        const qft::result r = qft::run(args, 60);
        INFO("-accel " << accel << "\nstdout: " << r.out << "\nstderr: " << r.err);
        CHECK(report(r.out) == as_ours(qft::slurp(dir + "/lbtest.expected")));
        CHECK(r.status == 1);  // isa-debug-exit (0 << 1) | 1
        CHECK(r.err.empty());
    }
}

// Hidden ([.]): ctest runs it by name, and skips it without QEMU.
TEST_CASE("the Linux boot test kernel says under QEMU what it says on pc", "[.]") {
    const std::string qemu = qft::find_qemu();
    REQUIRE(!qemu.empty());  // ctest skips this test without QEMU
    const qft::result q = qft::run(command(qemu), 60);
    const qft::result ours = qft::run(command(binary), 60);
    INFO("QEMU: " << q.out << q.err << "\nours: " << ours.out << ours.err);
    CHECK(q.status == 1);
    CHECK(ours.status == q.status);
    CHECK(report(ours.out) == as_ours(report(q.out)));
    CHECK(report(q.out) == qft::slurp(dir + "/lbtest.expected"));
}
