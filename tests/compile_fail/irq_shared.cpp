// Two UARTs on one edge-triggered ISA line must not build.
// expect: two devices of this machine are wired to the same
// expect: qf::irq_shared<qf::dev::uart16550<1016, 4>, qf::dev::uart16550<760, 4>, 4>
#include "qf/accel/accel.hpp"
#include "qf/devices/uart16550.hpp"
#include "qf/machine/machine.hpp"
#include "qf/machine/topology.hpp"
#include "targets/x86/cpu_defs.hpp"

using bad = qf::machine<qf::topology<qf::sockets<1>, qf::cores<1>, qf::threads<1>>, qf::x86::cpu::models<qf::x86::cpu::qemu64>,
                        qf::accel::tcg<>, qf::devices<qf::dev::uart16550<0x3f8, 4>, qf::dev::uart16550<0x2f8, 4>>>;
static_assert(bad::device_count == 2);
