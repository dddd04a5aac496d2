#include "qf/core/log.hpp"
#include "qf/core/error.hpp"

#include <cstdarg>
#include <mutex>

namespace qf {
namespace detail {
std::uint32_t log_mask = 0;
}

namespace {
struct item_desc {
    std::string_view name;
    log_item item;
    std::string_view help;
};
constexpr item_desc items[] = {
    {"out_asm", log_item::out_asm, "show generated host assembly code for each compiled TB"},
    {"in_asm", log_item::in_asm, "show target assembly code for each compiled TB"},
    {"op", log_item::op, "show micro ops for each compiled TB"},
    {"op_opt", log_item::op_opt, "show micro ops after optimization"},
    {"int", log_item::int_, "show interrupts/exceptions in short format"},
    {"exec", log_item::exec, "show trace before each executed TB (lots of logs)"},
    {"cpu", log_item::cpu, "show CPU registers before entering a TB (lots of logs)"},
    {"cpu_reset", log_item::cpu_reset, "show CPU state before CPU resets"},
    {"guest_errors", log_item::guest_errors,
     "log when the guest OS does something invalid (eg accessing a non-existent register)"},
    {"unimp", log_item::unimp, "log unimplemented functionality"},
    {"nochain", log_item::nochain,
     "do not chain compiled TBs so that \"exec\" and \"cpu\" show complete traces"},
};

std::FILE* g_log = nullptr;  // nullptr: stderr
std::mutex g_log_mutex;
} // namespace

std::uint32_t parse_log_items(std::string_view list) {
    std::uint32_t mask = 0;
    while (!list.empty()) {
        auto comma = list.find(',');
        auto name = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (name == "all") {
            for (auto& d : items) mask |= static_cast<std::uint32_t>(d.item);
            continue;
        }
        bool found = false;
        for (auto& d : items)
            if (d.name == name) {
                mask |= static_cast<std::uint32_t>(d.item);
                found = true;
            }
        if (!found)
            throw error("-d " + std::string(name) + ": unknown log item (-d help lists them)");
    }
    return mask;
}

void set_log_mask(std::uint32_t mask) { detail::log_mask = mask; }
std::uint32_t log_mask() { return detail::log_mask; }

std::string log_items_help() {
    std::string s = "Log items (comma separated):\n";
    for (auto& d : items) {
        std::string name(d.name);
        name.resize(std::max<std::size_t>(name.size() + 1, 9), ' ');
        s += name + std::string(d.help) + "\n";
    }
    s += "all      all of the above\n";
    return s;
}

void set_log_file(const std::string& path) {
    if (path.empty()) {  // back to stderr
        std::lock_guard lock(g_log_mutex);
        if (g_log) std::fclose(g_log);
        g_log = nullptr;
        return;
    }
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) throw error(errno_message("-D " + path));
    std::setvbuf(f, nullptr, _IOLBF, 0);
    std::lock_guard lock(g_log_mutex);
    if (g_log) std::fclose(g_log);
    g_log = f;
}

void flush_log() {
    std::lock_guard lock(g_log_mutex);
    std::fflush(g_log ? g_log : stderr);
}

void logf(log_item item, const char* fmt, ...) {
    if (!log_enabled(item)) return;
    std::lock_guard lock(g_log_mutex);
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(g_log ? g_log : stderr, fmt, ap);
    va_end(ap);
}

} // namespace qf
