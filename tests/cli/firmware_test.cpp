// The firmware test suite (tests/firmware): each -bios image boots from the
// reset vector, prints on COM1 and leaves through isa-debug-exit. The serial
// output and exit status must be the expected ones under every TCG backend,
// and, where qemu-system-x86_64 is installed, match QEMU's.
#include "process.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

struct image {
    const char* name;
    const char* expected_out;
    int expected_status;
};

const image suite[] = {
    {"test-modes", "real mode\r\n32-bit protected mode\r\n64-bit long mode\r\npage walk and 64-bit arithmetic ok\r\n",
     (0x21 << 1) | 1},
};

std::string path_of(const image& i) { return std::string(QF_FIRMWARE_DIR) + "/" + i.name + ".bin"; }

std::string find_qemu() {
    for (const char* dir : {"/usr/bin", "/usr/local/bin"}) {
        const std::string p = std::string(dir) + "/qemu-system-x86_64";
        if (access(p.c_str(), X_OK) == 0) return p;
    }
    return {};
}

} // namespace

TEST_CASE("the firmware suite runs from the reset vector on the JIT and the interpreter") {
    for (const image& img : suite)
        for (const char* accel : {"tcg", "tcg,interpreter=on", "tcg,one-insn-per-tb=on"}) {
            auto r = qft::run({QF_SYSTEM_BINARY, "-nographic", "-accel", accel, "-bios", path_of(img)});
            INFO(img.name << " with -accel " << accel << "\nstderr: " << r.err);
            CHECK(r.out == img.expected_out);
            CHECK(r.status == img.expected_status);
            CHECK(r.err.empty());
        }
}

TEST_CASE("the firmware suite behaves as under QEMU") {
    const std::string qemu = find_qemu();
    if (qemu.empty()) {
        WARN("SKIPPED: qemu-system-x86_64 is not installed, so the firmware suite is not compared with QEMU");
        return;
    }
    for (const image& img : suite) {
        auto q = qft::run({qemu, "-M", "pc", "-accel", "tcg", "-display", "none", "-nographic", "-bios", path_of(img),
                           "-device", "isa-debug-exit,iobase=0xf4,iosize=4"});
        auto ours = qft::run({QF_SYSTEM_BINARY, "-nographic", "-bios", path_of(img)});
        INFO(img.name << "\nQEMU stderr: " << q.err);
        CHECK(ours.out == q.out);
        CHECK(ours.status == q.status);
    }
}
