#pragma once
// printf into a std::string, for the monitor's QEMU-formatted output.
#include <string>

namespace qf {

std::string strprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

} // namespace qf
