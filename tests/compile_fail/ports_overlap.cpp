// A machine whose debug console sits inside the UART's ports must not build.
// expect: static assertion failed: two devices of this machine claim the same I/O ports
// expect: qf::ports_overlap<qf::dev::uart16550<1016, 4>, qf::dev::isa_debugcon<1020>, 1020, 1020>
#include "qf/accel/accel.hpp"
#include "qf/devices/isa_debugcon.hpp"
#include "qf/devices/uart16550.hpp"
#include "qf/machine/machine.hpp"
#include "qf/machine/topology.hpp"
#include "targets/x86/cpu_defs.hpp"

using bad = qf::machine<qf::topology<qf::sockets<1>, qf::cores<1>, qf::threads<1>>, qf::x86::cpu::models<qf::x86::cpu::qemu64>,
                        qf::accel::tcg<>, qf::devices<qf::dev::uart16550<0x3f8, 4>, qf::dev::isa_debugcon<0x3fc>>>;
static_assert(bad::device_count == 2);
