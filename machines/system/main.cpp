// qforge-system-x86_64: the stock binary. Its machine list is fixed here at
// compile time, machine x accelerator; the first entry is the default
// machine and its accelerator the default one.
#include "machines/microvm/microvm.hpp"
#include "machines/pc/pc.hpp"
#include "machines/testrig/testrig.hpp"
#include "qf/machine/system_main.hpp"

int main(int argc, char** argv) {
    using namespace qf::machines;
    return qf::system_main(qf::machine_list<pc<qf::accel::tcg<>>, pc<qf::accel::kvm>, testrig<qf::accel::tcg<>>,
                                            testrig<qf::accel::kvm>, microvm<qf::accel::tcg<>>,
                                            microvm<qf::accel::kvm>>{},
                           argc, argv);
}
