#include "qf/monitor/hmp.hpp"

#include "qf/accel/tcg/disas.hpp"
#include "qf/chardev/chardev.hpp"
#include "qf/core/strprintf.hpp"
#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "qf/machine/session.hpp"

#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <sstream>
#include <vector>

namespace qf {

namespace {

struct failure {
    std::string message;
    bool usage = false;  // a bad argument: QEMU points at the command's help
};


// Monitor expressions, as QEMU's get_expr: numbers (0x hex, 0 octal,
// decimal), $registers, parentheses, unary - + ~, * / %, + -, & | ^.
class expr_parser {
public:
    expr_parser(std::string_view text, std::function<std::optional<std::uint64_t>(std::string_view)> reg)
        : t_(text), reg_(std::move(reg)) {}

    std::uint64_t parse_all() {
        const std::uint64_t v = logic();
        skip();
        if (p_ != t_.size()) throw failure{"invalid char '" + std::string(1, t_[p_]) + "' in expression", true};
        return v;
    }

private:
    void skip() {
        while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\t')) ++p_;
    }
    bool eat(char c) {
        skip();
        if (p_ < t_.size() && t_[p_] == c) {
            ++p_;
            return true;
        }
        return false;
    }
    std::uint64_t logic() {
        std::uint64_t v = sum();
        for (;;) {
            if (eat('&')) v &= sum();
            else if (eat('|')) v |= sum();
            else if (eat('^')) v ^= sum();
            else return v;
        }
    }
    std::uint64_t sum() {
        std::uint64_t v = product();
        for (;;) {
            if (eat('+')) v += product();
            else if (eat('-')) v -= product();
            else return v;
        }
    }
    std::uint64_t product() {
        std::uint64_t v = unary();
        for (;;) {
            if (eat('*')) {
                v *= unary();
            } else if (eat('/') || (p_ < t_.size() && t_[p_] == '%' && eat('%'))) {
                const bool mod = t_[p_ - 1] == '%';
                const std::uint64_t d = unary();
                if (d == 0) throw failure{"division by zero", true};
                v = mod ? v % d : v / d;
            } else {
                return v;
            }
        }
    }
    // Each '(' and unary operator recurses: QMP's human-monitor-command
    // takes a line of a megabyte, deep enough to overflow the stack.
    static constexpr unsigned max_depth = 1000;
    std::uint64_t unary() {
        if (depth_ == max_depth) throw failure{"expression nested too deeply", true};
        ++depth_;
        const std::uint64_t v = unary_operand();
        --depth_;
        return v;
    }
    std::uint64_t unary_operand() {
        skip();
        if (p_ >= t_.size()) throw failure{"unexpected end of expression", true};
        if (eat('-')) return -unary();
        if (eat('+')) return unary();
        if (eat('~')) return ~unary();
        if (eat('(')) {
            const std::uint64_t v = logic();
            if (!eat(')')) throw failure{"')' expected", true};
            return v;
        }
        if (eat('$')) {
            const std::size_t start = p_;
            while (p_ < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[p_])) || t_[p_] == '_')) ++p_;
            const std::string_view name = t_.substr(start, p_ - start);
            const auto v = reg_ ? reg_(name) : std::nullopt;
            if (!v) throw failure{"unknown register", true};
            return *v;
        }
        const std::size_t start = p_;
        int base = 10;
        if (t_.substr(p_).starts_with("0x") || t_.substr(p_).starts_with("0X")) {
            base = 16;
            p_ += 2;
        } else if (t_[p_] == '0') {
            base = 8;
        }
        std::uint64_t v = 0;
        bool any = false;
        while (p_ < t_.size()) {
            const char c = t_[p_];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
            if (d >= base) break;
            v = v * static_cast<unsigned>(base) + static_cast<unsigned>(d);
            any = true;
            ++p_;
        }
        if (!any && base != 8) {
            p_ = start;
            throw failure{"invalid char '" + std::string(1, t_[p_]) + "' in expression", true};
        }
        return v;
    }

    std::string_view t_;
    std::size_t p_ = 0;
    unsigned depth_ = 0;
    std::function<std::optional<std::uint64_t>(std::string_view)> reg_;
};

// /[count][format][size], as QEMU's x, xp and p take them.
struct format_spec {
    int count = 1;
    char format = 'x';
    int size = 4;
    bool size_given = false;
};
// The format and size last given stay the defaults, as in QEMU. The count
// is bounded (QEMU's is not) so that one command cannot build a dump of
// gigabytes: memsave and pmemsave write more.
constexpr int max_count = 1 << 20;
format_spec parse_format(std::string_view& args, char& last_format, int& last_size) {
    format_spec f;
    f.format = last_format;
    f.size = last_size;
    if (!args.starts_with('/')) return f;
    std::size_t i = 1;
    if (i < args.size() && std::isdigit(static_cast<unsigned char>(args[i]))) {
        f.count = 0;
        while (i < args.size() && std::isdigit(static_cast<unsigned char>(args[i]))) {
            f.count = f.count * 10 + (args[i++] - '0');
            if (f.count > max_count)
                throw failure{"count past " + std::to_string(max_count) + " (memsave and pmemsave write more)"};
        }
    }
    while (i < args.size() && args[i] != ' ') {
        const char c = args[i++];
        switch (c) {
        case 'o': case 'd': case 'u': case 'x': case 'i': case 'c': f.format = c; break;
        case 'b': f.size = 1; f.size_given = true; break;
        case 'h': f.size = 2; f.size_given = true; break;
        case 'w': f.size = 4; f.size_given = true; break;
        case 'g': f.size = 8; f.size_given = true; break;
        default: throw failure{"invalid char in format: '" + std::string(1, c) + "'", true};
        }
    }
    args.remove_prefix(i);
    if (!f.size_given) f.size = last_size;
    last_size = f.size;
    last_format = f.format;
    return f;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
    return s;
}

// Splits off the first word.
std::string_view word(std::string_view& s) {
    s = trim(s);
    const auto sp = s.find_first_of(" \t");
    const std::string_view w = s.substr(0, sp);
    s = sp == std::string_view::npos ? std::string_view{} : trim(s.substr(sp));
    return w;
}

std::string status_line(session& s) {
    const run_state st = s.state().get();
    std::string r = std::string("VM status: ") + (s.state().is_running() ? "running" : "paused");
    if (!s.state().is_running() && st != run_state::paused) r += " (" + std::string(to_string(st)) + ")";
    return r + "\n";
}

const char* const help_text =
    "cont|c -- resume emulation\n"
    "cpu index -- set the default CPU\n"
    "delvm tag -- delete a VM snapshot from its tag\n"
    "gdbserver [device] -- start gdbserver on given device (default 'tcp::1234'), stop with 'none'\n"
    "help|? [cmd] -- show the help\n"
    "info [subcommand] -- show various information about the system state\n"
    "loadvm tag -- restore a VM snapshot from its tag\n"
    "log item1[,...] -- activate logging of the specified items\n"
    "memsave addr size file -- save to disk virtual memory dump starting at 'addr' of size 'size'\n"
    "migrate [-d] uri -- migrate to URI (using -d to not wait for completion)\n"
    "migrate_cancel  -- cancel the current VM migration\n"
    "migrate_incoming uri -- Continue an incoming migration from an -incoming defer\n"
    "nmi  -- inject an NMI\n"
    "p|print /fmt expr -- print expression value (use $reg for CPU register access)\n"
    "pmemsave addr size file -- save to disk physical memory dump starting at 'addr' of size 'size'\n"
    "quit|q -- quit the emulator\n"
    "savevm [tag] -- save a VM snapshot. If no tag is provided, a new snapshot is created\n"
    "stop -- stop emulation\n"
    "system_powerdown -- send system power down event\n"
    "system_reset -- reset the system\n"
    "x /fmt addr -- virtual memory dump starting at 'addr'\n"
    "xp /fmt addr -- physical memory dump starting at 'addr'\n";

const char* const info_help =
    "info chardev  -- show the character devices\n"
    "info cpus  -- show infos for each CPU\n"
    "info ioapic  -- show the IOAPIC's redirection table (also part of info pic)\n"
    "info irq  -- show the interrupts statistics (if available)\n"
    "info jit  -- show dynamic compiler info\n"
    "info lapic [apic-id] -- show local apic state (apic-id: local apic to read, default is which of current CPU)\n"
    "info migrate  -- show migration status\n"
    "info mtree  -- show memory tree\n"
    "info pci  -- show PCI info\n"
    "info pic  -- show PIC state\n"
    "info qtree  -- show device tree\n"
    "info registers [-a] -- show the cpu registers (-a: all CPUs)\n"
    "info snapshots  -- show the currently saved VM snapshots\n"
    "info status  -- show the current VM status (running|paused)\n";

// QEMU's hmp_info_pci_device, line for line.
std::string format_pci(const std::vector<pci_device_info>& devices) {
    std::string out;
    for (const auto& d : devices) {
        out += strprintf("  Bus %2u, device %3u, function %u:\n    ", d.bus, d.slot, d.function);
        const std::string desc = pci_class_name(d.class_code);
        out += desc.empty() ? strprintf("Class %04u", unsigned{d.class_code}) : desc;
        out += strprintf(": PCI device %04x:%04x\n", unsigned{d.vendor}, unsigned{d.device});
        out += strprintf("      PCI subsystem %04x:%04x\n", unsigned{d.subsystem_vendor}, unsigned{d.subsystem});
        if (d.irq_pin) out += strprintf("      IRQ %u, pin %c\n", unsigned{d.irq_line}, char('A' + d.irq_pin - 1));
        for (const auto& r : d.regions) {
            // Unmapped: QEMU's address -1, so the last byte wraps too.
            const std::uint64_t addr = r.address ? *r.address : ~std::uint64_t{0};
            out += strprintf("      BAR%u: ", r.bar);
            if (r.io)
                out += strprintf("I/O at 0x%04" PRIx64 " [0x%04" PRIx64 "].\n", addr, addr + r.size - 1);
            else
                out += strprintf("%d bit%s memory at 0x%08" PRIx64 " [0x%08" PRIx64 "].\n", r.mem64 ? 64 : 32,
                                     r.prefetch ? " prefetchable" : "", addr, addr + r.size - 1);
        }
        out += "      id \"\"\n";
    }
    return out;
}

// x, xp and memsave's reads: virtual through the CPU's page tables, or
// physical as the CPUs see it.
bool read_mem(session& s, unsigned cpu, bool physical, std::uint64_t addr, std::span<std::byte> out) {
    const auto& c = s.control();
    if (physical) {
        if (!c.read_phys) return false;
        c.read_phys(addr, out);
        return true;
    }
    if (!c.debug.read_memory) throw failure{"virtual memory is not readable under this accelerator yet (xp is)"};
    return c.debug.read_memory(cpu, addr, out);
}

std::string memory_dump(session& s, unsigned cpu, bool physical, std::uint64_t addr, const format_spec& f) {
    std::string out;
    if (f.format == 'i') {
        const unsigned bits = s.control().debug.code_bits ? s.control().debug.code_bits(cpu) : 64;
        const auto mode = bits == 64 ? tcg::disas_mode::x86_64 : bits == 32 ? tcg::disas_mode::x86_32 : tcg::disas_mode::x86_16;
        std::vector<std::byte> code(static_cast<std::size_t>(f.count) * 15);
        if (!read_mem(s, cpu, physical, addr, code)) throw failure{strprintf("Cannot access memory at 0x%" PRIx64, addr)};
        // One instruction a line, as many as asked.
        std::istringstream lines(tcg::disassemble(code.data(), code.size(), addr, mode));
        std::string line;
        for (int n = 0; n < f.count && std::getline(lines, line); ++n) out += line + "\n";
        return out;
    }
    const int wsize = f.format == 'c' ? 1 : f.size;
    const std::uint64_t line_size = wsize == 1 ? 8 : 16;
    const int max_digits = f.format == 'o' ? (wsize * 8 + 2) / 3
                           : (f.format == 'u' || f.format == 'd') ? (wsize * 8 * 10 + 32) / 33
                                                                  : wsize * 2;
    std::uint64_t len = static_cast<std::uint64_t>(wsize) * static_cast<std::uint64_t>(f.count);
    while (len > 0) {
        out += strprintf("%016" PRIx64 ":", addr);
        const std::uint64_t l = std::min(len, line_size);
        std::byte buf[16];
        if (!read_mem(s, cpu, physical, addr, std::span(buf, static_cast<std::size_t>(l)))) {
            out += strprintf(" Cannot access memory\n");
            break;
        }
        for (std::uint64_t i = 0; i < l; i += static_cast<std::uint64_t>(wsize)) {
            std::uint64_t v = 0;
            std::memcpy(&v, buf + i, static_cast<std::size_t>(wsize));
            out += ' ';
            switch (f.format) {
            case 'o': out += strprintf("%#*" PRIo64, max_digits, v); break;
            case 'u': out += strprintf("%*" PRIu64, max_digits, v); break;
            case 'd': out += strprintf("%*" PRId64, max_digits, static_cast<std::int64_t>(v)); break;
            case 'c': {
                const char c = static_cast<char>(v);
                if (c == '\'' || c == '\\') out += std::string("'\\") + c + "'";
                else if (c >= 32 && c <= 126) out += std::string("'") + c + "'";
                else out += strprintf("\\x%02x", static_cast<unsigned>(v & 0xff));
                break;
            }
            default: out += strprintf("0x%0*" PRIx64, max_digits, v); break;
            }
        }
        out += "\n";
        addr += l;
        len -= l;
    }
    return out;
}

std::uint64_t eval(session& s, unsigned cpu, std::string_view text) {
    const auto& d = s.control().debug;
    expr_parser p(text, [&](std::string_view name) -> std::optional<std::uint64_t> {
        if (!d.register_value) return std::nullopt;
        return d.register_value(cpu, name);
    });
    return p.parse_all();
}

std::string save(session& s, unsigned cpu, std::string_view args, bool physical) {
    const std::string_view a = word(args), b = word(args);
    const std::string file(trim(args));
    if (a.empty() || b.empty() || file.empty()) throw failure{"missing argument: usage: addr size file", true};
    const std::uint64_t addr = eval(s, cpu, a), size = eval(s, cpu, b);
    std::FILE* f = std::fopen(file.c_str(), "wb");
    if (!f) throw failure{"could not open '" + file + "': " + std::strerror(errno)};
    std::vector<std::byte> buf(64 << 10);
    bool ok = true;
    for (std::uint64_t done = 0; done < size && ok;) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size - done));
        if (!read_mem(s, cpu, physical, addr + done, std::span(buf.data(), n))) {
            std::fclose(f);
            throw failure{strprintf("Invalid addr 0x%016" PRIx64 "/size %" PRIu64 " specified", addr, size)};
        }
        ok = std::fwrite(buf.data(), 1, n, f) == n;
        done += n;
    }
    ok = std::fclose(f) == 0 && ok;
    if (!ok) throw failure{"writing memory to '" + file + "' failed"};
    return "";
}

std::string info(session& s, unsigned cpu, std::string_view args) {
    const std::string_view what = word(args);
    const auto& c = s.control();
    if (what.empty()) return info_help;
    if (what == "status") return status_line(s);
    if (what == "snapshots") return s.info_snapshots();
    if (what == "migrate") {
        // QEMU's hmp_info_migrate, the lines that apply.
        const auto& m = s.migration();
        if (m.status.empty()) return "";
        std::string out = "Migration status: " + m.status;
        if (!m.error.empty()) out += " (" + m.error + ")";
        out += "\n";
        if (m.status == "completed")
            out += "total time: " + std::to_string(m.total_ms) + " ms\ndowntime: " + std::to_string(m.downtime_ms) +
                   " ms\n";
        if (m.status == "completed" || m.status == "active")
            out += "transferred ram: " + std::to_string((m.bytes + 1023) / 1024) + " kbytes\nremaining ram: " +
                   std::to_string((m.ram_remaining + 1023) / 1024) + " kbytes\ntotal ram: " +
                   std::to_string((m.ram_total + 1023) / 1024) + " kbytes\ndirty sync count: " +
                   std::to_string(m.dirty_syncs) + "\n";
        return out;
    }
    if (what == "registers") {
        if (!c.format_registers) throw failure{"info registers: not available under this accelerator yet"};
        if (trim(args) != "-a") return c.format_registers(cpu);
        std::string out;
        for (unsigned i = 0; i < c.cpus; ++i) out += "\nCPU#" + std::to_string(i) + "\n" + c.format_registers(i);
        return out;
    }
    if (what == "cpus") {
        std::string out;
        for (unsigned i = 0; i < c.cpus; ++i)
            out += strprintf("%c CPU #%u: thread_id=%d\n", i == cpu ? '*' : ' ', i, s.cpu_thread_id(i));
        return out;
    }
    if (what == "mtree") {
        if (!c.memory_tree) throw failure{"info mtree: no machine"};
        return c.memory_tree();
    }
    if (what == "chardev") return s.chardev_info();
    if (what == "jit") {
        if (!c.jit_info) throw failure{"info jit: the accelerator (" + c.accel + ") does not translate"};
        return c.jit_info();
    }
    if (what == "pci") {
        if (!c.pci_devices) throw failure{"info pci: machine " + c.machine + " has no PCI bus"};
        return format_pci(c.pci_devices());
    }
    if (what == "pic" || what == "lapic" || what == "ioapic" || what == "irq" || what == "qtree") {
        unsigned target = cpu;
        if (what == "lapic" && !trim(args).empty()) {
            // QEMU's argument is an APIC ID, which is the CPU index here.
            const std::uint64_t id = eval(s, cpu, args);
            if (id >= c.cpus) throw failure{"No CPU with APIC ID " + std::to_string(id)};
            target = static_cast<unsigned>(id);
        }
        std::optional<std::string> text = c.device_info ? c.device_info(what, target) : std::nullopt;
        if (!text) throw failure{"info " + std::string(what) + ": machine " + c.machine + " has none"};
        return *text;
    }
    if (what == "tlb" || what == "mem") throw failure{"info " + std::string(what) + ": not implemented yet"};
    throw failure{"unknown command: 'info " + std::string(what) + "'"};
}

} // namespace

std::string hmp_execute(session& s, std::string_view line, unsigned& cpu) {
    static char last_format = 'x';
    static int last_size = 4;
    std::string_view args = line;
    const std::string_view cmd = word(args);
    if (cmd.empty()) return "";
    try {
        if (cmd == "help" || cmd == "?" || cmd == "h") return help_text;
        if (cmd == "info" || cmd == "i") return info(s, cpu, args);
        if (cmd == "stop") {
            s.vm_pause();
            return "";
        }
        if (cmd == "cont" || cmd == "c") {
            try {
                s.cont();
            } catch (const error& e) {
                throw failure{e.what()};
            }
            return "";
        }
        if (cmd == "savevm") {
            s.savevm(trim(args));
            return "";
        }
        if (cmd == "loadvm" || cmd == "delvm") {
            const std::string_view name = trim(args);
            if (name.empty()) throw failure{std::string(cmd) + ": a snapshot name is needed", true};
            if (cmd == "loadvm") s.loadvm(name);
            else s.delvm(name);
            return "";
        }
        if (cmd == "migrate_cancel") {
            s.migrate_cancel();
            return "";
        }
        if (cmd == "migrate") {
            std::string_view uri = word(args);
            // It goes on in the main loop either way (info migrate follows it):
            // this monitor does not wait for it as QEMU's does without -d.
            if (uri == "-d") uri = word(args);
            if (uri.empty()) throw failure{"migrate: a URI is needed (exec:CMD, unix:PATH, tcp:HOST:PORT)"};
            try {
                s.migrate(uri);
            } catch (const error& e) {
                throw failure{e.what()};
            }
            return "";
        }
        if (cmd == "migrate_incoming") {
            const std::string_view uri = word(args);
            if (uri.empty()) throw failure{"migrate_incoming: a URI is needed (exec:CMD, unix:PATH, tcp:HOST:PORT)"};
            try {
                s.migrate_incoming(uri);
            } catch (const error& e) {
                throw failure{e.what()};
            }
            return "";
        }
        if (cmd == "system_reset") {
            if (s.control().system_reset) s.control().system_reset();
            return "";
        }
        if (cmd == "system_powerdown") {
            s.emit_event("POWERDOWN");
            if (s.control().system_powerdown) s.control().system_powerdown();
            return "";
        }
        if (cmd == "quit" || cmd == "q") {
            s.request_quit();
            return "";
        }
        if (cmd == "cpu") {
            const std::uint64_t n = eval(s, cpu, args);
            if (n >= s.control().cpus) throw failure{"invalid CPU index"};
            cpu = static_cast<unsigned>(n);
            return "";
        }
        if (cmd == "x" || cmd == "xp") {
            const format_spec f = parse_format(args, last_format, last_size);
            if (trim(args).empty()) throw failure{"unexpected end of expression", true};
            return memory_dump(s, cpu, cmd == "xp", eval(s, cpu, args), f);
        }
        if (cmd == "p" || cmd == "print") {
            format_spec f = parse_format(args, last_format, last_size);
            const std::uint64_t v = eval(s, cpu, args);
            switch (f.format) {
            case 'o': return strprintf("%#" PRIo64 "\n", v);
            case 'd': return strprintf("%" PRId64 "\n", static_cast<std::int64_t>(v));
            case 'u': return strprintf("%" PRIu64 "\n", v);
            case 'c': return strprintf("'%c'\n", static_cast<char>(v));
            default: return strprintf("%#" PRIx64 "\n", v);
            }
        }
        if (cmd == "log") {
            const std::string items(trim(args));
            if (items.empty()) throw failure{"log: which items? (log none turns logging off)"};
            try {
                set_log_mask(items == "none" ? 0 : parse_log_items(items));
            } catch (const error& e) {
                throw failure{e.what()};
            }
            return "";
        }
        if (cmd == "gdbserver") {
            const std::string dev(trim(args));
            return s.start_gdbserver(dev.empty() ? "tcp::1234" : dev) + "\n";
        }
        if (cmd == "nmi") {
            if (!s.control().inject_nmi) throw failure{"nmi: not available on this machine"};
            s.control().inject_nmi();
            return "";
        }
        if (cmd == "memsave") return save(s, cpu, args, false);
        if (cmd == "pmemsave") return save(s, cpu, args, true);
        return "unknown command: '" + std::string(cmd) + "'\n";
    } catch (const failure& f) {
        if (f.usage) return f.message + "\nTry \"help " + std::string(cmd) + "\" for more information\n";
        return f.message + "\n";
    } catch (const error& e) {
        return std::string(e.what()) + "\n";
    }
}

hmp_monitor::hmp_monitor(session& s, chardev& dev) : s_(s), dev_(dev) {
    attaching_ = true;
    dev_.attach(frontend_of(*this));
    attaching_ = false;
}

hmp_monitor::~hmp_monitor() { dev_.detach(this); }

std::size_t hmp_monitor::can_receive() { return dev_.pending_output() ? 0 : 4096; }

std::string crlf(std::string_view text) {
    std::string o;
    o.reserve(text.size() + 16);
    for (char c : text) {
        if (c == '\n') o += '\r';
        o += c;
    }
    return o;
}

void hmp_monitor::out(std::string_view text) { dev_.write(crlf(text)); }

void hmp_monitor::greet() {
    greeted_ = true;
    out("QEMU 7.2.0 monitor (qforge " QF_VERSION ") - type 'help' for more information\n");
}

void hmp_monitor::prompt() { out("(qemu) "); }

void hmp_monitor::chardev_opened(bool open) {
    line_.clear();
    esc_ = 0;
    if (!open) return;
    greeted_ = false;
    // On a mux the banner waits until C-a c brings the monitor up.
    if (!dev_.mux()) {
        greet();
        prompt();
    }
}

void hmp_monitor::chardev_focus(bool in) {
    // Set-up gives a mux's input to each frontend as it attaches (the
    // serial port, last, keeps it): nothing to show for that.
    if (!in || attaching_) return;
    if (!greeted_) {
        out("\n");
        greet();
    }
    prompt();
}

void hmp_monitor::run_line() {
    const std::string line = std::move(line_);
    line_.clear();
    out("\n");
    out(hmp_execute(s_, line, cpu_));
    prompt();
}

void hmp_monitor::receive(std::span<const std::byte> data) {
    for (std::byte b : data) {
        const auto c = static_cast<unsigned char>(b);
        if (esc_) {
            // ESC [ ... final byte: arrow keys and the like, which this
            // editor does not act on.
            if (esc_ == 1 && c != '[' && c != 'O') esc_ = 0;
            else if (esc_ > 1 && c >= 0x40 && c <= 0x7e) esc_ = 0;
            else ++esc_;
            continue;
        }
        const bool was_cr = std::exchange(after_cr_, false);
        switch (c) {
        case 0x1b: esc_ = 1; break;
        case '\r': after_cr_ = true; run_line(); break;
        case '\n':
            if (!was_cr) run_line();
            break;
        case 0x7f:
        case 0x08:
            if (!line_.empty()) {
                line_.pop_back();
                out("\b \b");
            }
            break;
        case 0x15:  // C-u: the line goes
            while (!line_.empty()) {
                line_.pop_back();
                out("\b \b");
            }
            break;
        default:
            if (c >= 32 && c != 0x7f && line_.size() < max_line) {
                line_ += static_cast<char>(c);
                dev_.write(std::span(&b, 1));
            }
            break;
        }
    }
}

} // namespace qf
