// tests/firmware/badinput.asm on pc: a guest doing what it should not - a
// PCI BAR over RAM, the APICs, the BIOS, ISA ports or another BAR; fw_cfg
// DMA to or from where there is no RAM; IOAPIC messages to CPUs that do
// not exist; odd CMOS indexes and access sizes; odd config-space cycles -
// gets QEMU 7.2's answer (badinput.expected, recorded from QEMU), and the
// machine goes on. Each line we answer differently is listed below with
// why; every other line must be QEMU's.
#include "process.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <unistd.h>

namespace {

const std::string binary = qft::build_path("QF_SYSTEM_BINARY", QF_SYSTEM_BINARY);
const std::string image = qft::build_path("QF_FIRMWARE_DIR", QF_FIRMWARE_DIR) + "/test-badinput.bin";
const std::string expected_file =
    qft::build_path("QF_FIRMWARE_SOURCE_DIR", QF_FIRMWARE_SOURCE_DIR) + "/badinput.expected";

// QEMU's line (without "\r\n") -> ours.
const std::map<std::string, std::string> known = {
    // PAM's and SMRAM's PCI views are fixed "nothing decodes" regions here,
    // not windows onto the PCI address space as in QEMU.
    {"bar0 in the pam window at 000e0000: 00000100: the bar; in the smram window at 000a0000: 00000100: the bar ok",
     "bar0 in the pam window at 000e0000: 00000000: not the bar; in the smram window at 000a0000: 00000000: not the bar BAD"},
    // A bus master's DMA reaches RAM only here; QEMU's reaches devices.
    {"fw_cfg dma into pci-testdev's bar0: ctl 00000000, bar header 00000101 ok",
     "fw_cfg dma into pci-testdev's bar0: ctl 00000001, bar header 00000000 BAD"},
    {"fw_cfg dma descriptor in pci-testdev's bar0: count before 00000001, after 00000000 ok",
     "fw_cfg dma descriptor in pci-testdev's bar0: count before 00000001, after 00000001 BAD"},
    // A word access at port 71 is split into bytes here; QEMU's memory core
    // refuses it as unaligned.
    {"cmos word out 70 (5548): 48 reads 55 ; word in 70: 55ff; word in 71: 0000; word out 71 (2233), then 48 reads 55 ok",
     "cmos word out 70 (5548): 48 reads 55 ; word in 70: 55ff; word in 71: ff55; word out 71 (2233), then 48 reads 33 BAD"},
    // A dword access at CFE runs past the data window, so the port dispatch
    // splits it into bytes before the window can refuse it as unaligned.
    {"pci data window at 00:00.0: word cfd 0000 dword cfe 00000000 word cfe 1237 byte cfd 80; testdev 40 after word out cfd and dword out cfe: 00000000, after byte out cfd and word out cfe: 33221100 ok",
     "pci data window at 00:00.0: word cfd 0000 dword cfe ffff1237 word cfe 1237 byte cfd 80; testdev 40 after word out cfd and dword out cfe: bbaa0000, after byte out cfd and word out cfe: 33221100 BAD"},
    {"bad lines: 00", "bad lines: 05"},
};
constexpr int qemu_status = (0x31 << 1) | 1, our_status = ((0x40 + 5) << 1) | 1;

std::string as_ours(const std::string& qemu_out) {
    std::string out, line;
    std::istringstream in(qemu_out);
    while (std::getline(in, line)) {
        const bool cr = !line.empty() && line.back() == '\r';
        if (cr) line.pop_back();
        auto k = known.find(line);
        out += (k == known.end() ? line : k->second) + (cr ? "\r\n" : "\n");
    }
    return out;
}

std::vector<std::string> command(const std::string& emulator) {
    return {emulator, "-M", "pc", "-vga", "none", "-nic", "none", "-nographic", "-bios", image,
            "-device", "pci-testdev", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"};
}

} // namespace

TEST_CASE("bad input on pc: QEMU's answers but for the known differences, the machine goes on, errors logged") {
    const std::string log = "/tmp/qf-badinput-" + std::to_string(getpid()) + ".log";
    for (const char* accel : {"tcg", "tcg,interpreter=on"}) {
        auto args = command(binary);
        args.insert(args.end(), {"-accel", accel, "-d", "guest_errors", "-D", log});
        const qft::result r = qft::run(args, 60);
        INFO("-accel " << accel << "\nstderr: " << r.err);
        CHECK(r.out == as_ours(qft::slurp(expected_file)));
        CHECK(r.status == our_status);
        const std::string errors = qft::slurp(log);
        CHECK(errors.find("DMA write of 0x4 bytes at 0xf0000000") != std::string::npos);
        CHECK(errors.find("is ROM, refused") != std::string::npos);
        CHECK(errors.find("apic: physical destination 0x5 matches no local APIC") != std::string::npos);
        CHECK(errors.find("pci: unaligned 2-byte read of port 0xcfd refused") != std::string::npos);
    }
    unlink(log.c_str());
}

// Hidden ([.]): ctest runs it by name, and skips it without QEMU.
TEST_CASE("bad input on pc gets what it gets under QEMU", "[.]") {
    const std::string qemu = qft::find_qemu();
    REQUIRE(!qemu.empty());
    const qft::result q = qft::run(command(qemu), 60);
    INFO("QEMU: " << q.out << q.err);
    CHECK(q.out == qft::slurp(expected_file));
    CHECK(q.status == qemu_status);
    const qft::result ours = qft::run(command(binary), 60);
    CHECK(ours.out == as_ours(q.out));
}
