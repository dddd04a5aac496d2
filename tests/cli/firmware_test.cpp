// The firmware test suite (tests/firmware): each -bios image boots from the
// reset vector, prints on COM1 and leaves through isa-debug-exit. The serial
// output and exit status must be the expected ones under every TCG backend,
// and, where qemu-system-x86_64 is installed, match QEMU's.
#include "process.hpp"

#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

struct image {
    const char* name;
    const char* expected_out;
    int expected_status;
    std::vector<std::string> extra_args;
    // Lines QEMU does not print: the faults of checks its TCG leaves out
    // (hardware and KVM make them). Compared with QEMU without these lines.
    std::vector<std::string> not_in_qemu = {};
    // Why KVM gives other output, where it does (then it is not run there).
    const char* not_under_kvm = nullptr;
    // The CPUs it is run with (-smp) where a machine can have them: QEMU,
    // and KVM with the kernel's local APICs. Elsewhere (TCG's testrig has
    // one CPU) it runs on one and prints one_cpu_out.
    unsigned smp = 1;
    const char* one_cpu_out = nullptr;
    // Why QEMU cannot run it, where it cannot (then it is not compared).
    const char* qemu_cannot = nullptr;
};

constexpr const char* cr4_out = "cr4 bits 0-10 accepted: 000007df\r\ncr4 reserved bits follow CPUID\r\n";
constexpr const char* cr4_allowed_out = "cr4 bits 0-10 accepted: 000007df\r\ncr4 takes every bit CPUID allows\r\n";
constexpr const char* cr4_qemu_loops =
    "QEMU 7.2's TCG makes an SVM #VMEXIT of a reserved CR4 bit and restarts the MOV forever; test-cr4-allowed is compared";

const image suite[] = {
    {"test-modes", "real mode\r\n32-bit protected mode\r\n64-bit long mode\r\npage walk and 64-bit arithmetic ok\r\n",
     (0x21 << 1) | 1, {}},
    {"test-exceptions",
     "ex 00 err 00000000\r\nex 06 err 00000000\r\nex 03 err 00000000\r\nex 80 err 00000000\r\n"
     "ex 0d err 00000050\r\nex 0e err 00000000 cr2 0000000040000000\r\n"
     "ex 0e err 00000003 cr2 0000000000400000\r\n"
     "ex 0e err 00000000 cr2 0000000040000000\r\nex 0e err 00000002 cr2 0000000040000000\r\nexceptions ok\r\n",
     (0x42 << 1) | 1, {}},
    {"test-triple", "triple fault next\r\n", 0, {"-no-reboot"}},
    {"test-syscall", "syscall from cpl 3, kernel at cpl 0\r\nback in the kernel\r\n", (0x33 << 1) | 1, {}},
    {"test-farcall",
     "far call through m16:32\r\nfar call through m16:64\r\ncompatibility mode\r\nfar transfers ok\r\n",
     (0x44 << 1) | 1, {}},
    {"test-iopl",
     "user mode prints through COM1\r\nex 0d err 00000000 in cpl 0\r\nex 0d err 00000000 in cpl 0\r\n"
     "back in user mode\r\nud2: done\r\n",
     (0x66 << 1) | 1, {}},
    // Hashes of the results, as QEMU computes them (the comparison below
    // re-checks them against QEMU where it is installed).
    {"test-legacy32",
     "daa das aaa aas 2aec45c5\r\naam aad 3257bbc5\r\npusha popa push pop lds les inc dec into 8e86b8b1\r\n",
     (0x55 << 1) | 1, {}},
    {"test-irq",
     "10 timer interrupts\r\nlatched count in range\r\nuart interrupt\r\none interrupt in three passes of sti; jmp\r\n", (0x77 << 1) | 1, {}},
    {"test-sys32",
     "user code at cpl 3\r\nsysenter: kernel at cpl 0\r\nuser code at cpl 3\r\nsyscall: kernel at cpl 0\r\n"
     "call gate: kernel at cpl 0\r\n000f0187 0000001b 00002222 00001111 0007eff8 00000023 \r\n",
     (0x32 << 1) | 1, {}},
    {"test-callgate",
     "call gate: cpl 0, rsp 0008efe0, caller's cs:rsp:ss 002b:00080000:0023\r\n"
     "call gate: cpl 0, rsp 0008efe0, caller's cs:rsp:ss 002b:00080000:0023\r\n",
     (0x47 << 1) | 1, {}},
    {"test-segments",
     "ex 0b err 00000040\r\nex 0d err 00000048\r\nex 0d err 00000080\r\nex 0d err 00000050\r\n"
     "readable code segment loads into DS\r\nex 0d err 00000010\r\nnull SS at CPL 0\r\n",
     (0x46 << 1) | 1, {}},
    {"test-smc",
     "smc: same block 0000002a, calls 00000001 00000002, loop 0000002d\r\n"
     "ex 0e err 00000000 cr2 0000000000401000 rcx 0008\r\n"
     "copy across the page boundary resumed: 1122334455667788\r\n"
     "page-walk A/D bits in translated code: 00500003 00500023 00500063\r\n",
     (0x5c << 1) | 1, {}},
    {"test-a20",
     "port 92: 00\r\ngate open, [100000] = 22222222\r\ngate closed, [100000] = 11111111\r\nport 92: 02\r\n"
     "written at 100004 while closed, [000004] = 33333333\r\nand [100004] = 00000000\r\n",
     (0x20 << 1) | 1, {}, {}, "KVM has no A20 gate: the line stays open"},
    {"test-v86",
     "real-mode code in virtual-8086 mode\r\n"
     "int 30 from v86, frame: 00007013 00000000 00023046 00000ff0 00000600 00000000 00000800 00000000 00000000 00000000 \r\n"
     "back in virtual-8086 mode\r\n#GP from v86: 00000000 0000701b 00000000 \r\n",
     (0x56 << 1) | 1, {}},
    {"test-tasks",
     "task B: link, NT, TR = 00000020 00000001 00000028 \r\n"
     "task A again: TR, CR0.TS, B's descriptor = 00000020 00000001 00008903 \r\n"
     "task B resumed after its IRET: NT, A's descriptor = 00000000 00008903 \r\n",
     (0x58 << 1) | 1, {}},
    {"test-cpuid",
     "cpuid 00000000 : 0000000d 68747541 444d4163 69746e65 \r\n"
     "cpuid 00000001 : 00060fb1 00000800 80002001 078bfbfd \r\n"
     "cpuid 00000002 : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 00000003 : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 00000004 : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 00000005 : 00000000 00000000 00000003 00000000 \r\n"
     "cpuid 00000006 : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 00000007 : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 00000008 : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 00000009 : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 0000000a : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 0000000b : 00000000 00000001 00000100 00000000 \r\n"
     "cpuid 0000000c : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 0000000d : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 0000000e : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 80000000 : 8000000a 68747541 444d4163 69746e65 \r\n"
     "cpuid 80000001 : 00060fb1 00000000 00000001 2193fbfd \r\n"
     "cpuid 80000002 : 554d4551 72695620 6c617574 55504320 \r\n"
     "cpuid 80000003 : 72657620 6e6f6973 352e3220 0000002b \r\n"
     "cpuid 80000004 : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 80000005 : 01ff01ff 01ff01ff 40020140 40020140 \r\n"
     "cpuid 80000006 : 00000000 42004200 02008140 00808140 \r\n"
     "cpuid 80000007 : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 80000008 : 00003028 00000000 00000000 00000000 \r\n"
     "cpuid 80000009 : 00000000 00000000 00000000 00000000 \r\n"
     "cpuid 8000000b : 00000000 00000000 00000000 00000000 \r\n",
     (0x12 << 1) | 1, {}, {}, "CPUID is cut to what the host's KVM supports"},
    {"test-tasks16",
     "task C: EAX ECX EDI = 00001234 00005678 00039abc NT, link, FS = 00000001 00000020 00000000 \r\n"
     "task A again: EBX, C's IP and FLAGS, AX, descriptor = 11223344 004601af 0000beef 00008103 \r\n"
     "task C resumed: NT, TR = 00000000 00000038 \r\n",
     (0x59 << 1) | 1, {}},
    {"test-seglimits",
     "real mode #GP\r\nreal mode #GP\r\nreal mode #GP\r\nreal mode #SS\r\nreal-mode limits ok\r\n"
     "ex 0000000d 00000000 \r\nex 0000000d 00000000 \r\nex 0000000d 00000000 \r\nex 0000000d 00000000 \r\n"
     "ex 0000000d 00000000 \r\nex 0000000d 00000000 \r\nex 0000000d 00000000 \r\nex 0000000d 00000000 \r\n"
     "ex 0000000d 00000000 \r\nex 0000000c 00000000 \r\nex 0000000c 00000000 \r\n"
     "protected-mode limits ok\r\nunreal mode: the 4 GiB limit stays\r\n",
     (0x5e << 1) | 1, {}, {"real mode #", "ex "}},
    {"test-smp",
     "cpus: 00000004 \r\napplication processors up: 00000003 \r\n"
     "cpu 00000001 has CPUID APIC ID 00000001 \r\ncpu 00000002 has CPUID APIC ID 00000002 \r\n"
     "cpu 00000003 has CPUID APIC ID 00000003 \r\nfixed IPIs handled: 00000003 \r\n"
     "ran the code the BSP patched: 00000003 \r\n",
     (0x5a << 1) | 1, {}, {}, nullptr, 4, "cpus: 00000001 \r\nno other CPU to start\r\n"},
    {"test-strio", "rep outsb ok\r\n5a5a000033333333 0000 0000 00050004 00050005\r\n007700\r\n", (0x6a << 1) | 1, {}},
    // REP MOVS/STOS done in bulk where they are plain RAM (src/x86/rep_string.cpp).
    {"test-repstring",
     "6a4782c9e9185d97 0040 abcd 1050 1234 0000 2018 0000 1300 0000 4200 0000 0000 0000 7ff0 fff5 0000\r\n"
     "feed67a298bd9238 000000000030234c 000000000031333e 0000000000000000\r\n"
     "89afdbc3e7795f99 0000000000321800 0000000000321803 0000000000000000\r\n"
     "9dae071e1e4edd15 0000000000331900 0000000000331901 0000000000000000\r\n"
     "5c296f397eb974a5 0000000000342810 0000000000342800 0000000000000000\r\n"
     "488085d781c38d91 0000000000351200 0000000000351201 0000000000000000\r\n"
     "5725c6f0ec3a0d77 0000000000000000 0000000000362002 0000000000000000\r\n"
     "3e842005e2bfcdf9 0000000000000000 0000000000364005 0000000000000000\r\n"
     "bd2212ba7f63eb1f 0000000000000000 0000000000366002 0000000000000000\r\n"
     "3e46190a716a714e 0000000000000000 0000000000368001 0000000000000000\r\n"
     "870142f9bc843e25 0000000000301bfc 0000000000370bfc 0000000000000000\r\n"
     "6d01d2eabe7075a5 0000000000301100 00000000003820f0 0000000000000000\r\n"
     "6d01d2eabe7075a5 0000000000300000 0000000000380000 0000000000000000\r\n"
     "ex 0e err 00000002 cr2 0000000000500000 00e0 00000000 00500000\r\n"
     "9e89ca5c2d204425 0000000000000000 0000000000500000 00000000000000e0\r\n"
     "ex 0e err 00000000 cr2 0000000000500000 0080 00500000 00390080\r\n"
     "930896b3a76ea7a5 0000000000500000 0000000000390080 0000000000000080\r\n"
     "11111111 003a00c3\r\n",
     (0x5d << 1) | 1, {}},
    {"test-debugregs",
     "1111222233334444 0000000055556666 00000000ffff0ff0 0000000000000400 \r\n"
     "0000000000000403 0000000000000403 00000000ffff0ff0 \r\n0000000000000006 \r\n0000000000000000 \r\n",
     (0x6d << 1) | 1, {}, {}, "an MSR the model lacks is #GP under KVM, 0 under QEMU's TCG and ours"},
    // Each CR4 bit under two models: the reserved ones follow each one's CPUID.
    {"test-cr4", cr4_out, (0x4c << 1) | 1, {"-cpu", "qemu64"}, {}, nullptr, 1, nullptr, cr4_qemu_loops},
    {"test-cr4", cr4_out, (0x4c << 1) | 1, {"-cpu", "max"}, {}, nullptr, 1, nullptr, cr4_qemu_loops},
    {"test-cr4-allowed", cr4_allowed_out, (0x4b << 1) | 1, {"-cpu", "qemu64"}},
    {"test-cr4-allowed", cr4_allowed_out, (0x4b << 1) | 1, {"-cpu", "max"}},
    // A real-mode INT's frame over code that ran: the code is the frame now.
    {"test-rmsmc", "1\n", 1, {}},
};

// out without the lines that start with one of prefixes.
std::string without_lines(const std::string& out, const std::vector<std::string>& prefixes) {
    std::string kept;
    for (std::size_t at = 0; at < out.size();) {
        const std::size_t end = std::min(out.find('\n', at), out.size() - 1) + 1;
        const std::string line = out.substr(at, end - at);
        if (std::none_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return line.starts_with(p); }))
            kept += line;
        at = end;
    }
    return kept;
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

std::string path_of(const image& i) { return qft::build_path("QF_FIRMWARE_DIR", QF_FIRMWARE_DIR) + "/" + i.name + ".bin"; }
const std::string binary = qft::build_path("QF_SYSTEM_BINARY", QF_SYSTEM_BINARY);


// The suite's machines: testrig, with isa-debug-exit built in (one CPU
// under TCG), and pc, a PC as QEMU's with the device on the command line,
// whose local APICs start the APs of test-smp.
struct machine_args {
    const char* name;
    std::vector<std::string> args;
    bool smp;
};
const machine_args machines[] = {
    {"testrig", {"-M", "testrig"}, false},
    {"pc", {"-M", "pc", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"}, true},
};

std::vector<std::string> on(const machine_args& m, const image& img, std::vector<std::string> args) {
    args = with(args, m.args);
    if (m.smp && img.smp > 1) args = with(args, {"-smp", std::to_string(img.smp)});
    return with(args, img.extra_args);
}

} // namespace

TEST_CASE("the firmware suite runs from the reset vector on the JIT and the interpreter") {
    for (const machine_args& m : machines)
        for (const image& img : suite)
            for (const char* accel : {"tcg", "tcg,interpreter=on", "tcg,one-insn-per-tb=on"}) {
                auto r = qft::run(on(m, img, {binary, "-nographic", "-accel", accel, "-bios", path_of(img)}));
                INFO(img.name << " on " << m.name << " with -accel " << accel << "\nstderr: " << r.err);
                CHECK(r.out == (img.smp > 1 && !m.smp ? img.one_cpu_out : img.expected_out));
                CHECK(r.status == img.expected_status);
                CHECK(r.err.empty());
            }
}

// Hidden ([.]): ctest runs it by name, and skips it when /dev/kvm cannot be
// opened. Both ways of taking interrupts: the machine's own 8259A pair
// (one CPU), and the kernel's irqchip with a local APIC per CPU (-smp).
TEST_CASE("the firmware suite runs under KVM", "[.]") {
    for (const char* accel : {"kvm", "kvm,kernel-irqchip=on"}) {
        const bool apics = std::string(accel).ends_with("=on");
        for (const image& img : suite) {
            if (img.not_under_kvm) {
                WARN(img.name << " is not run under KVM: " << img.not_under_kvm);
                continue;
            }
            if (const std::string why = qft::kvm_skip_reason(img.name); !why.empty()) {
                WARN("SKIPPED " << img.name << " under -accel " << accel << " (QF_KVM_SKIP): " << why);
                continue;
            }
            std::vector<std::string> args = {binary, "-M", "testrig", "-nographic", "-accel", accel, "-bios", path_of(img)};
            if (img.smp > 1 && apics) args = with(args, {"-smp", std::to_string(img.smp)});
            auto r = qft::run(with(args, img.extra_args));
            INFO(img.name << " under -accel " << accel << "\nstderr: " << r.err);
            CHECK(r.out == (img.smp > 1 && !apics ? img.one_cpu_out : img.expected_out));
            CHECK(r.status == img.expected_status);
        }
    }
}

// Hidden ([.]): ctest runs it by name, and skips it without QEMU.
TEST_CASE("the firmware suite behaves as under QEMU", "[.]") {
    const std::string qemu = qft::find_qemu();
    if (qemu.empty()) {
        WARN("SKIPPED: qemu-system-x86_64 is not installed, so the firmware suite is not compared with QEMU");
        return;
    }
    for (const image& img : suite) {
        if (img.qemu_cannot) {
            WARN(img.name << " is not compared with QEMU: " << img.qemu_cannot);
            continue;
        }
        const std::vector<std::string> qemu_args = {qemu, "-M", "pc", "-nic", "none", "-accel", "tcg", "-display", "none", "-nographic",
                                                    "-bios", path_of(img), "-device", "isa-debug-exit,iobase=0xf4,iosize=4"};
        if (img.smp > 1) {  // the expected output is QEMU's with that many CPUs
            auto q = qft::run(with(with(qemu_args, {"-smp", std::to_string(img.smp)}), img.extra_args));
            INFO(img.name << " with -smp " << img.smp << "\nQEMU stderr: " << q.err);
            CHECK(q.out == img.expected_out);
            CHECK(q.status == img.expected_status);
        }
        auto q = qft::run(with(qemu_args, img.extra_args));
        // The same machine and command line: pc, one CPU.
        auto ours = qft::run(with({binary, "-nographic", "-bios", path_of(img), "-device", "isa-debug-exit,iobase=0xf4,iosize=4"},
                                  img.extra_args));
        INFO(img.name << "\nQEMU stderr: " << q.err);
        CHECK(without_lines(ours.out, img.not_in_qemu) == q.out);
        CHECK(ours.status == q.status);
    }
}
