// The smallest emulator here that boots Linux: machine microvm alone, on
// TCG or KVM - no PCI, no firmware, no fw_cfg, no pc or testrig compiled in.
// The machine is a type; this file is the whole program.
//
//   qforge-microvm -nographic -kernel vmlinuz -initrd initrd.gz -append console=ttyS0
#include "machines/microvm/microvm.hpp"
#include "qf/machine/system_main.hpp"

int main(int argc, char** argv) {
    using namespace qf::machines;
    return qf::system_main(qf::machine_list<microvm<qf::accel::tcg<>>, microvm<qf::accel::kvm>>{}, argc, argv);
}
