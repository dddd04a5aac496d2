#include "qf/core/error.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <unistd.h>

namespace qf {
namespace {
std::string g_program = "qforge";
}

void set_program_name(std::string_view argv0) {
    auto slash = argv0.rfind('/');
    g_program = std::string(slash == std::string_view::npos ? argv0 : argv0.substr(slash + 1));
}

std::string_view program_name() { return g_program; }

void report_error(std::string_view msg) {
    std::string line = g_program + ": " + std::string(msg) + "\n";
    // Best effort: stderr may be closed after -daemonize.
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

std::string errno_message(std::string_view what) {
    int e = errno;
    return std::string(what) + ": " + std::strerror(e);
}

} // namespace qf
