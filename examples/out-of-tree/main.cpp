// my-board: qforge's testrig with this project's device list - COM1, the
// exit port, and scratch_port (scratch_port.hpp), a device of its own.
//
//   my-board --self-test        runs a 10-byte firmware through the device
//   my-board -bios FW -nographic ...   the emulator, QEMU's command line
#include "scratch_port.hpp"

#include "machines/testrig/testrig.hpp"
#include "qf/embed/harness.hpp"
#include "qf/machine/system_main.hpp"

#include <cstdio>
#include <string_view>
#include <vector>

using my_board = qf::machines::testrig<
    qf::accel::tcg<>,
    qf::devices<qf::dev::uart16550<0x3f8, 4>, qf::dev::isa_debug_exit<0xf4, 4>, my::scratch_port<0x700>>>;

namespace {

// At the reset vector: write 0x41 to the scratch port, read it back (0x42),
// and leave through isa-debug-exit with it: status (0x42 << 1) | 1.
int self_test() {
    std::vector<std::byte> bios(64 * 1024, std::byte{0xf4});  // hlt
    const unsigned char code[] = {
        0xba, 0x00, 0x07,  // mov dx, 0x700
        0xb0, 0x41,        // mov al, 0x41
        0xee,              // out dx, al
        0xec,              // in al, dx
        0xe6, 0xf4,        // out 0xf4, al
        0xf4,              // hlt
    };
    for (std::size_t i = 0; i < sizeof code; ++i) bios[0xfff0 + i] = std::byte{code[i]};
    qf::embed::harness<my_board> h;
    h.load_bios(bios);
    const auto r = h.run();
    const bool ok = r.why == qf::embed::stop::exit && r.exit_status == (0x42 << 1 | 1);
    std::printf("%s: the firmware read back 0x41 + 1 from the board's own device (exit status %d)\n",
                ok ? "ok" : "FAILED", r.exit_status);
    return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 2 && std::string_view(argv[1]) == "--self-test") return self_test();
    return qf::system_main(qf::machine_list<my_board>{}, argc, argv);
}
