// qforge-system-x86_64: the stock binary. Its machine list is fixed here at
// compile time; the first entry is the default machine.
#include "machines/testrig/testrig.hpp"
#include "qf/machine/system_main.hpp"

int main(int argc, char** argv) {
    return qf::system_main(qf::machine_list<qf::machines::testrig<>>{}, argc, argv);
}
