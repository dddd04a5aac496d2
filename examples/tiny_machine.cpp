// A tailored emulator: one x86 CPU, RAM, a -bios image, COM1 and
// isa-debug-exit, and nothing else compiled in (no PIC, no timer, no debug
// console). The machine is a type; this file is the whole program.
//
//   qforge-tiny -bios firmware.bin -nographic
#include "machines/testrig/testrig.hpp"
#include "qf/machine/system_main.hpp"

using tiny = qf::machines::testrig<qf::accel::tcg<>,
                                   qf::devices<qf::dev::uart16550<0x3f8, 4>, qf::dev::isa_debug_exit<0xf4, 4>>>;

int main(int argc, char** argv) { return qf::system_main(qf::machine_list<tiny>{}, argc, argv); }
