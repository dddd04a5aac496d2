// The multiboot test kernel (tests/multiboot/mbtest.asm) on pc: loaded with
// -kernel/-initrd/-append through QEMU's multiboot_dma.bin as QEMU does,
// it checks the multiboot information, CMOS and the RTC, fw_cfg, PCI, the
// PM timer, the local APIC (timer, TPR, EOI), the IOAPIC with the PIT and
// the RTC behind it, the HPET (its legacy route taking IRQ 0 and 8 from the
// PIT and the RTC, an FSB message), and under -smp 4 INIT/SIPI and fixed
// IPIs both ways -
// and prints a report whose every line QEMU 7.2 prints too
// (mbtest-smp*.expected, recorded by tests/multiboot/run-qemu.sh), but for
// the known differences below.
#include "process.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <sstream>

namespace {

const std::string binary = qft::build_path("QF_SYSTEM_BINARY", QF_SYSTEM_BINARY);
const std::string dir = qft::build_path("QF_MULTIBOOT_DIR", QF_MULTIBOOT_DIR);
const std::string kernel = qft::build_path("QF_FIRMWARE_DIR", QF_FIRMWARE_DIR) + "/mbtest.bin";
const std::string bzimage = qft::build_path("QF_FIRMWARE_DIR", QF_FIRMWARE_DIR) + "/lbtest.bin";
const std::string linuxboot_dir = qft::build_path("QF_LINUXBOOT_DIR", QF_LINUXBOOT_DIR);

// The report, from its first line (the firmware's console comes before).
std::string report(const std::string& out) {
    const std::size_t at = out.find("\nmbtest: multiboot device report\n");
    std::string r = at == std::string::npos ? std::string() : out.substr(at + 1);
    std::string lf;
    for (char c : r)
        if (c != '\r') lf += c;
    return lf;
}

// Where we differ from QEMU, each line as QEMU prints it and as we do.
// SeaBIOS builds its own ACPI tables here (QEMU hands it QEMU's through
// etc/table-loader, not built yet) and reserves 8 KiB for them at the top
// of RAM where QEMU's take 128 KiB: multiboot's mem_upper and the e820 map
// say so.
const std::map<std::string, std::string> known = {
    {"mbi mem_lower 639 KiB mem_upper 129920 KiB ok", "mbi mem_lower 639 KiB mem_upper 130040 KiB ok"},
    {"mmap base 0000000000100000 length 0000000007ee0000 type 1",
     "mmap base 0000000000100000 length 0000000007efe000 type 1"},
    {"mmap base 0000000007fe0000 length 0000000000020000 type 2",
     "mmap base 0000000007ffe000 length 0000000000002000 type 2"},
};
std::string as_ours(const std::string& qemu_report) {
    std::string out, line;
    std::istringstream in(qemu_report);
    while (std::getline(in, line)) {
        auto k = known.find(line);
        out += (k == known.end() ? line : k->second) + "\n";
    }
    return out;
}

// The reports were recorded under QEMU's TCG, whose IOAPIC (QEMU's own)
// is version 0x20; under KVM the kernel's is, version 0x11, under QEMU's
// -accel kvm as under ours.
std::string under_kvm(std::string report) {
    const std::string tcg = "ioapic id 00 version 00170020", kvm = "ioapic id 00 version 00170011";
    const std::size_t at = report.find(tcg);
    if (at != std::string::npos) report.replace(at, tcg.size(), kvm);
    return report;
}

std::vector<std::string> command(const std::string& emulator, const std::string& smp) {
    return {emulator, "-M", "pc", "-vga", "none", "-nic", "none", "-nographic", "-kernel", kernel,
            "-append", "a=1 b=two", "-initrd", dir + "/mod1.txt arg1," + dir + "/mod2.txt",
            "-fw_cfg", "name=opt/qf/test,string=hello", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-smp", smp};
}

} // namespace

TEST_CASE("the multiboot test kernel on pc: LAPIC timer, IOAPIC, HPET, IPIs, PM timer, CMOS, fw_cfg as under QEMU") {
    for (const char* smp : {"1", "4"}) {
        for (const char* accel : {"tcg", "tcg,one-insn-per-tb=on"}) {
            auto args = command(binary, smp);
            args.insert(args.end(), {"-accel", accel});
            const qft::result r = qft::run(args, 120);
            INFO("-smp " << smp << " -accel " << accel << "\nstdout: " << r.out << "\nstderr: " << r.err);
            CHECK(report(r.out) == as_ours(qft::slurp(dir + "/mbtest-smp" + smp + ".expected")));
            CHECK(r.status == 33);  // isa-debug-exit (0x10 << 1) | 1: every check passed
            CHECK(r.err.empty());
        }
    }
}

// Without its HPET the block reads as unassigned memory (0) and the first
// HPET check fails, both as under QEMU 7.2 (its lines recorded from
// tests/multiboot/run-qemu.sh -no-hpet); the rest of the report is as ever.
TEST_CASE("option -machine hpet=off / -no-hpet: pc without its HPET as under QEMU") {
    for (const std::vector<std::string>& off : {std::vector<std::string>{"-no-hpet"}, {"-machine", "pc,hpet=off"}}) {
        auto args = command(binary, "1");
        args.insert(args.end(), off.begin(), off.end());
        const qft::result r = qft::run(args, 120);
        INFO(off.back() << "\nstdout: " << r.out << "\nstderr: " << r.err);
        const std::string got = report(r.out);
        CHECK(got.find("\nhpet id 00000000 period 0 fs config 00000000 counter 0000000000000000 FAIL\n"
                       "hpet timer 0 config 00000000 00000000 ok\n") != std::string::npos);
        CHECK(got.find("\nsmp 1 cpu ok\n") != std::string::npos);
        CHECK(r.status == 35);  // a check failed
    }
}

// Multiboot and Linux kernels alike (tests/cli/linuxboot_test.cpp boots the
// Linux one).
TEST_CASE("option -kernel on pc: what is not a kernel, or cannot be read, is one line and status 1") {
    const std::string text = dir + "/mod1.txt";
    struct bad {
        std::vector<std::string> args;
        std::string says;
    } cases[] = {
        {{"-kernel", text}, "invalid kernel header"},  // QEMU takes it for an ancient Linux kernel
        {{"-kernel", "/nonexistent/kernel"}, "-kernel /nonexistent/kernel"},
        {{"-initrd", text}, "-initrd only allowed with -kernel option"},
        {{"-append", "x"}, "-append only allowed with -kernel option"},
        {{"-kernel", kernel, "-initrd", "/nonexistent/module"}, "/nonexistent/module"},
        {{"-kernel", linuxboot_dir + "/empty"}, "could not load kernel"},
        {{"-kernel", bzimage, "-initrd", binary, "-m", "1M"}, "initrd is too large"},  // larger than RAM allows
    };
    for (const bad& c : cases) {
        std::vector<std::string> args = {binary, "-nographic"};
        args.insert(args.end(), c.args.begin(), c.args.end());
        const qft::result r = qft::run(args);
        INFO(c.args.front() << " " << c.args[1] << "\nstderr: " << r.err);
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        CHECK(r.err.find(c.says) != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
}

// Hidden ([.]): ctest runs it by name, and skips it without QEMU.
TEST_CASE("the multiboot test kernel says under QEMU what it says on pc", "[.]") {
    for (const char* smp : {"1", "4"}) {
        const std::string qemu = qft::find_qemu();
        REQUIRE(!qemu.empty());  // ctest skips this test without QEMU
        const qft::result q = qft::run(command(qemu, smp), 120);
        const qft::result ours = qft::run(command(binary, smp), 120);
        INFO("-smp " << smp << "\nQEMU: " << q.out << q.err << "\nours: " << ours.out << ours.err);
        CHECK(q.status == 33);
        CHECK(ours.status == q.status);
        CHECK(report(ours.out) == as_ours(report(q.out)));
        CHECK(report(q.out) == qft::slurp(dir + "/mbtest-smp" + smp + ".expected"));
    }
}

// Hidden ([.]): kvm-verify runs it where KVM works (and in the nested-KVM
// test). The same board and kernel, the kernel's irqchip and APICs.
TEST_CASE("the multiboot test kernel on pc under KVM", "[.]") {
    for (const char* smp : {"1", "4"}) {
        if (const std::string why = qft::kvm_skip_reason(std::string("mbtest-smp") + smp); !why.empty()) {
            WARN("SKIPPED the multiboot test kernel under -accel kvm -smp " << smp << " (QF_KVM_SKIP): " << why);
            continue;
        }
        auto args = command(binary, smp);
        args.insert(args.end(), {"-accel", "kvm"});
        const qft::result r = qft::run(args, 300);
        INFO("-smp " << smp << "\nstdout: " << r.out << "\nstderr: " << r.err);
        const std::string got = report(r.out), want = under_kvm(as_ours(qft::slurp(dir + "/mbtest-smp" + smp + ".expected")));
        CHECK(got == want);
        CHECK(r.status == 33);
    }
}
