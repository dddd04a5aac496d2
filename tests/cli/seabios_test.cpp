// Debian's SeaBIOS on the default machine (pc): from the reset vector to
// "No bootable device.", its console on COM1 under -nographic, its debug
// log on isa-debugcon at 0x402 saying what it found - QEMU, fw_cfg with
// DMA, the e820 map, the PM timer, the PCI functions, the CPUs - as under
// QEMU, which ctest also compares it with where QEMU is installed.
#include "process.hpp"

#include <catch2/catch.hpp>
#include <csignal>
#include <algorithm>
#include <cstdlib>
#include <unistd.h>

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

const std::string binary = qft::build_path("QF_SYSTEM_BINARY", QF_SYSTEM_BINARY);

struct boot {
    std::string serial, debug, err;
    int status = -1;
    bool reached = false;
};

// Runs args (an emulator and its options) with SeaBIOS's debug log on
// 0x402 until the console says "No bootable device.", then SIGTERM.
boot run_to_no_bootable_device(std::vector<std::string> args, int timeout_s = 60) {
    static int n = 0;
    const std::string log = "/tmp/qf-seabios-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".log";
    args.insert(args.end(), {"-nographic", "-chardev", "file,id=seabios,path=" + log, "-device",
                             "isa-debugcon,iobase=0x402,chardev=seabios"});
    qft::child c = qft::spawn(args);
    boot b;
    b.reached = qft::wait_for([&] { return qft::slurp(c.out_path).find("No bootable device.") != std::string::npos; },
                              timeout_s * 1000);
    kill(c.pid, SIGTERM);
    const qft::result r = c.wait();
    b.serial = r.out;
    b.err = r.err;
    b.status = r.status;
    b.debug = qft::slurp(log);
    unlink(log.c_str());
    return b;
}

// The console's lines, without the boot attempts of devices one machine
// has and the other not yet (floppy, disks, CD), and blank lines.
std::string console_without_boot_devices(const std::string& s) {
    std::string kept;
    for (std::size_t at = 0; at < s.size();) {
        const std::size_t end = std::min(s.find('\n', at), s.size() - 1) + 1;
        const std::string line = s.substr(at, end - at);
        at = end;
        if (line.starts_with("Booting from ") || line.starts_with("Boot failed") || line == "\r\n" || line == "\n")
            continue;
        kept += line;
    }
    return kept;
}

const char* const found_lines[] = {
    "Running on QEMU (i440fx)",
    "Found QEMU fw_cfg",
    "QEMU fw_cfg DMA interface supported",
    "qemu/e820: addr 0x0000000000000000 len 0x0000000008000000 [RAM]",
    "PCI: init bdf=00:00.0 id=8086:1237",
    "PCI: init bdf=00:01.0 id=8086:7000",
    "PIIX3/PIIX4 init: elcr=00 0c",
    "PCI: init bdf=00:01.1 id=8086:7010",
    "PCI: map device bdf=00:01.1  bar 4, addr 0000c000, size 00000010 [io]",
    "PCI: init bdf=00:01.3 id=8086:7113",
    "Using pmtimer, ioport 0x",
    "PS2 keyboard initialized",
    "Found 1 serial ports",
};

} // namespace

TEST_CASE("SeaBIOS boots on the default machine to 'No bootable device.', its console on COM1 and its log on 0x402") {
    boot b = run_to_no_bootable_device({binary});
    INFO("stderr: " << b.err << "\nconsole: " << b.serial << "\nlog: " << b.debug);
    REQUIRE(b.reached);
    CHECK(b.status == 0);  // SIGTERM: an orderly shutdown, as QEMU
    // The only diagnostic, as QEMU's: nothing from the guest went to stderr.
    CHECK_THAT(b.err, Contains("terminating on signal 15"));
    CHECK(std::count(b.err.begin(), b.err.end(), '\n') == 1);
    // sercon's terminal set-up, then the banner, as under QEMU -nographic.
    CHECK_THAT(b.serial, StartsWith("\x1b" "c\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version "));
    CHECK_THAT(b.serial, Contains("No bootable device.\r\n"));
    for (const char* line : found_lines) CHECK_THAT(b.debug, Contains(line));
    CHECK_THAT(b.debug, Contains("Found 1 cpu(s) max supported 1 cpu(s)"));
    CHECK_THAT(b.debug, Contains("sercon: using ioport 0x3f8"));
}

TEST_CASE("SeaBIOS starts the application processors of -smp 4 through the local APICs, and sees 1 GiB") {
    boot b = run_to_no_bootable_device({binary, "-smp", "4", "-m", "1G"});
    INFO("stderr: " << b.err << "\nlog: " << b.debug);
    REQUIRE(b.reached);
    CHECK_THAT(b.debug, Contains("Found 4 cpu(s) max supported 4 cpu(s)"));
    CHECK_THAT(b.debug, Contains("qemu/e820: addr 0x0000000000000000 len 0x0000000040000000 [RAM]"));
}

// Hidden ([.]): ctest runs it by name, and skips it without QEMU.
TEST_CASE("SeaBIOS says on pc what it says under QEMU", "[.]") {
    const std::string qemu = qft::find_qemu();
    REQUIRE(!qemu.empty());  // ctest skips this test without QEMU
    const std::vector<std::string> qemu_args = {qemu, "-M", "pc", "-accel", "tcg", "-nic", "none"};
    for (const char* smp : {"1", "4"}) {
        std::vector<std::string> q = qemu_args, ours = {binary};
        q.insert(q.end(), {"-smp", smp});
        ours.insert(ours.end(), {"-smp", smp});
        boot qb = run_to_no_bootable_device(q), b = run_to_no_bootable_device(ours);
        INFO("-smp " << smp << "\nQEMU's console: " << qb.serial << "\nours: " << b.serial);
        REQUIRE(qb.reached);
        REQUIRE(b.reached);
        CHECK(console_without_boot_devices(b.serial) == console_without_boot_devices(qb.serial));
        CHECK(b.status == qb.status);
        const std::string cpus = std::string("Found ") + smp + " cpu(s) max supported " + smp + " cpu(s)";
        for (const std::string& line : std::vector<std::string>(std::begin(found_lines), std::end(found_lines)))
            if (line != "Using pmtimer, ioport 0x") {  // QEMU's ACPI tables move it to 0x600; SeaBIOS's own keep 0xb000
                INFO(line);
                CHECK((qb.debug.find(line) != std::string::npos) == (b.debug.find(line) != std::string::npos));
            }
        CHECK_THAT(qb.debug, Contains(cpus));
        CHECK_THAT(b.debug, Contains(cpus));
    }
}

namespace {
// A 512-byte option ROM whose init entry writes "ROM!\r\n" to COM1 and
// returns; the checksum byte makes the bytes sum to 0, as BIOSes require.
std::string write_test_rom() {
    std::vector<unsigned char> rom = {0x55, 0xaa, 0x01, 0xeb, 0x00, 0x50, 0x52, 0xba, 0xf8, 0x03};
    for (unsigned char ch : std::string("ROM!\r\n")) rom.insert(rom.end(), {0xb0, ch, 0xee});  // mov al, ch; out dx, al
    rom.insert(rom.end(), {0x5a, 0x58, 0xcb});                                                // pop dx; pop ax; retf
    rom.resize(512);
    unsigned sum = 0;
    for (unsigned char b : rom) sum += b;
    rom.back() = static_cast<unsigned char>(-sum);
    const std::string path = "/tmp/qf-seabios-" + std::to_string(getpid()) + ".rom";
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    REQUIRE(std::fwrite(rom.data(), 1, rom.size(), f) == rom.size());
    std::fclose(f);
    return path;
}
} // namespace

TEST_CASE("option -option-rom: SeaBIOS runs the ROM from fw_cfg genroms/; a missing file is said and left out") {
    const std::string rom = write_test_rom();
    boot b = run_to_no_bootable_device({binary, "-option-rom", rom});
    INFO("stderr: " << b.err << "\nlog: " << b.debug);
    REQUIRE(b.reached);
    CHECK_THAT(b.serial, Contains("ROM!\r\n"));
    const std::string base = rom.substr(rom.rfind('/') + 1);
    CHECK_THAT(b.debug, Contains("Running option rom at "));

    // With a bootindex, its path leads fw_cfg's "bootorder".
    b = run_to_no_bootable_device({binary, "-option-rom", rom + ",bootindex=1"});
    REQUIRE(b.reached);
    CHECK_THAT(b.debug, Contains("boot order:\n1: /rom@genroms/" + base + "\n"));

    // QEMU says it cannot open the file and starts without it.
    b = run_to_no_bootable_device({binary, "-option-rom", "/nonexistent/x.rom"});
    REQUIRE(b.reached);
    CHECK_THAT(b.err, StartsWith("qforge-system-x86_64: -option-rom /nonexistent/x.rom: cannot open firmware"));
    unlink(rom.c_str());
}

// Hidden ([.]): ctest runs it by name where this host's KVM can (and
// scripts/kvm-nested in a guest with KVM), skipping it elsewhere. The
// same board and device models, with the kernel's irqchip (pc's default,
// as QEMU's) or without it.
TEST_CASE("SeaBIOS runs on pc under KVM", "[.]") {
    struct run_case {
        std::vector<std::string> args;
        const char* cpus;
    };
    for (const run_case& c : {run_case{{"-accel", "kvm"}, "1"}, run_case{{"-accel", "kvm", "-smp", "2"}, "2"},
                              run_case{{"-accel", "kvm,kernel-irqchip=off"}, "1"}}) {
        std::vector<std::string> args = {binary};
        args.insert(args.end(), c.args.begin(), c.args.end());
        boot b = run_to_no_bootable_device(args, 120);
        INFO(c.args.back() << "\nstderr: " << b.err << "\nconsole: " << b.serial << "\nlog: " << b.debug);
        REQUIRE(b.reached);
        CHECK_THAT(b.serial, StartsWith("\x1b" "c\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version "));
        for (const char* line : found_lines) CHECK_THAT(b.debug, Contains(line));
        CHECK_THAT(b.debug, Contains(std::string("Found ") + c.cpus + " cpu(s) max supported " + c.cpus + " cpu(s)"));
    }
}
