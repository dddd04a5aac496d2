#pragma once
// User-facing failures. Anything the user can cause (a bad option, an
// unreadable file, a host limit) is a qf::error: reported as one line
// "PROGRAM: message" on stderr, exit status 1, as QEMU's error_report()+exit(1).
#include <stdexcept>
#include <string>
#include <string_view>

namespace qf {

struct error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The name errors are reported under (argv[0]'s basename, set once by main).
void set_program_name(std::string_view argv0);
std::string_view program_name();

// Prints "PROGRAM: msg\n" to stderr in one write, so lines from threads and
// daemonised children never interleave.
void report_error(std::string_view msg);

// "what: strerror(errno)" for the current errno.
std::string errno_message(std::string_view what);

} // namespace qf
