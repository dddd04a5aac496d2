// Asking a machine for a device it was not built with must not compile.
// expect: this machine type has no such device
// expect: qf::no_such_device<qf::dev::uart16550<760, 3>
#include "machines/testrig/testrig.hpp"

void f(qf::machines::testrig<>& m) { m.device<qf::dev::uart16550<0x2f8, 3>>(); }
