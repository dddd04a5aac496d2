#pragma once
// QEMU's -d log items and -D log file. The mask is a global, checked inline,
// so a disabled item costs one test of a bit.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace qf {

enum class log_item : std::uint32_t {
    out_asm = 1u << 0,
    in_asm = 1u << 1,
    op = 1u << 2,
    op_opt = 1u << 3,
    int_ = 1u << 4,
    exec = 1u << 5,
    cpu = 1u << 6,
    guest_errors = 1u << 7,
    unimp = 1u << 8,
    nochain = 1u << 9,
    cpu_reset = 1u << 10,
};

namespace detail {
extern std::uint32_t log_mask;
}

inline bool log_enabled(log_item i) { return detail::log_mask & static_cast<std::uint32_t>(i); }

// Parses "in_asm,int,guest_errors" (or "all"); throws qf::error naming the
// first unknown item.
std::uint32_t parse_log_items(std::string_view list);
void set_log_mask(std::uint32_t mask);
std::uint32_t log_mask();

// The text of -d help.
std::string log_items_help();

// -D FILE: where log lines go (stderr by default, or again after an empty
// path). Throws qf::error if the file cannot be opened.
void set_log_file(const std::string& path);
void flush_log();

// Writes one formatted line (the caller supplies the newline) if item is on.
void logf(log_item item, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

} // namespace qf
