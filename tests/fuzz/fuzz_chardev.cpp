// The option-string parsers under the command line: -chardev, -serial
// (also -qmp's), QemuOpts lists, -m sizes, -d items and -accel tcg
// properties. The first byte picks one, the rest is its argument. Each
// must return or throw qf::error; a chardev it returns must be usable
// (a known backend, an id, a path or address where the backend needs one,
// a power-of-two ring).
#include "fuzz.hpp"
#include "qf/accel/tcg/options.hpp"
#include "qf/chardev/spec.hpp"
#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "qf/machine/options.hpp"
#include "qf/machine/size.hpp"

#include <exception>
#include <string>

namespace {

// serial: -serial's result, whose id= may be given empty (QEMU wants an
// identifier there; the session then refuses a second one, so it is left
// to the command-line tests rather than failed here).
void check(const qf::chardev_spec& s, bool reference, bool serial = false) {
    using qf::fuzz::fail;
    if (reference) {  // -serial chardev:ID
        if (s.id.empty()) fail("parse_serial accepted chardev: without an id");
        return;
    }
    const std::string& b = s.backend;
    if (b != "stdio" && b != "file" && b != "null" && b != "socket" && b != "pty" && b != "ringbuf")
        fail("accepted unknown backend '" + b + "'");
    if (s.id.empty() && !serial) fail("accepted a chardev without an id");
    if (b == "file" && s.path.empty()) fail("accepted a file chardev without a path");
    if (b == "socket" && s.path.empty() && s.host.empty()) fail("accepted a socket without an address");
    if (b == "ringbuf" && (s.size == 0 || (s.size & (s.size - 1)))) fail("accepted a ringbuf size that is not a power of two");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string arg(reinterpret_cast<const char*>(data + 1), size - 1);
    static const char* const parsers[] = {"parser: -chardev", "parser: -serial", "parser: option list", "parser: -m",
                                          "parser: -d", "parser: -accel tcg"};
    const unsigned which = data[0] % 6;
    qf::fuzz::count(parsers[which]);
    try {
        switch (which) {
        case 0: check(qf::parse_chardev(arg), false); break;
        case 1:
            if (auto s = qf::parse_serial(arg, "serial0")) check(*s, s->backend.empty(), true);
            else if (arg != "none") qf::fuzz::fail("parse_serial gave no chardev for '" + arg + "'");
            break;
        case 2: {
            static const char* const implied[] = {"", "type", "chardev", "cpus", "order", "guest", "romfile"};
            (void)qf::parse_opt_list("-opt", arg, implied[(data[0] / 6) % 7]);
            break;
        }
        case 3: {
            const std::uint64_t n = qf::parse_ram_size(arg);
            if (n == 0) qf::fuzz::fail("parse_ram_size accepted a size of 0: '" + arg + "'");
            break;
        }
        case 4: (void)qf::parse_log_items(arg); break;
        default: (void)qf::tcg::parse_engine_options(qf::parse_opt_list("-accel", arg).props); break;
        }
        qf::fuzz::count("accepted");
    } catch (const qf::error&) {
        qf::fuzz::count("refused (qf::error)");
    } catch (const std::exception& e) {
        qf::fuzz::fail(std::string("threw something other than qf::error: ") + e.what());
    }
    return 0;
}
