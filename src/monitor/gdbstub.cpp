#include "qf/monitor/gdbstub.hpp"

#include "qf/chardev/chardev.hpp"
#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "qf/machine/session.hpp"
#include "qf/monitor/hmp.hpp"

#include <charconv>
#include <cstdio>
#include <vector>

namespace qf {

namespace {

// GDB's signal numbers (gdb/signals.def), as QEMU's gdb_vm_state_change
// picks them for the run state the VM stopped in.
constexpr int sig_int = 2, sig_quit = 3, sig_abrt = 6, sig_trap = 5, sig_alrm = 14, sig_io = 23, sig_xcpu = 24,
              sig_unknown = 143;

int signal_for(run_state s) {
    switch (s) {
    case run_state::debug: return sig_trap;
    case run_state::paused: case run_state::save_vm: case run_state::restore_vm: return sig_int;
    case run_state::shutdown: return sig_quit;
    case run_state::io_error: return sig_io;
    case run_state::watchdog: return sig_alrm;
    case run_state::internal_error: return sig_abrt;
    case run_state::finish_migrate: case run_state::postmigrate: return sig_xcpu;
    default: return sig_unknown;
    }
}

constexpr char hex_digits[] = "0123456789abcdef";

std::string to_hex(std::span<const std::uint8_t> b) {
    std::string s;
    s.reserve(b.size() * 2);
    for (std::uint8_t v : b) {
        s += hex_digits[v >> 4];
        s += hex_digits[v & 15];
    }
    return s;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view s) {
    if (s.size() % 2) return std::nullopt;
    std::vector<std::uint8_t> out;
    out.reserve(s.size() / 2);
    for (std::size_t i = 0; i < s.size(); i += 2) {
        const int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
    }
    return out;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
    if (s.empty()) return std::nullopt;
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
    if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    return v;
}

// "A,B" (or "A,B:rest"): two hex numbers.
bool parse_pair(std::string_view s, std::uint64_t& a, std::uint64_t& b) {
    const auto comma = s.find(',');
    if (comma == std::string_view::npos) return false;
    const auto x = parse_u64(s.substr(0, comma)), y = parse_u64(s.substr(comma + 1));
    if (!x || !y) return false;
    a = *x;
    b = *y;
    return true;
}

// Binary data in a reply (qXfer): '#', '$', '}' and '*' escaped.
std::string escape_binary(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '#' || c == '$' || c == '}' || c == '*') {
            out += '}';
            out += static_cast<char>(c ^ 0x20);
        } else {
            out += c;
        }
    }
    return out;
}

// A monitor command line's command word, as hmp_execute reads it: the
// line without the blanks around it (nor a line end after it), up to its
// first blank.
std::string_view command_word(std::string_view line) {
    const auto last = line.find_last_not_of(" \t\r\n");
    if (last == std::string_view::npos) return {};
    const auto first = line.find_first_not_of(" \t");  // at most last
    const std::string_view trimmed = line.substr(first, last + 1 - first);
    return trimmed.substr(0, trimmed.find_first_of(" \t"));
}

} // namespace

gdb_server::gdb_server(session& s, chardev& dev) : s_(s), dev_(dev) { dev_.attach(frontend_of(*this)); }

gdb_server::~gdb_server() { dev_.detach(this); }

// Nothing more while a reply waits to go out: a client that sends without
// reading is slowed, never answered in part.
std::size_t gdb_server::can_receive() { return dev_.pending_output() ? 0 : max_packet; }

const debug_target* gdb_server::target() const {
    const auto& d = s_.control().debug;
    return d.read_registers ? &d : nullptr;
}

unsigned gdb_server::cpu_count() const { return s_.control().cpus ? s_.control().cpus : 1; }

// One process (the machine), its CPUs as threads: "pPID.TID" once GDB
// asked for multiprocess extensions, as QEMU answers it, else "TID".
std::string gdb_server::thread_id(unsigned cpu) const {
    char b[24];
    if (multiprocess_) std::snprintf(b, sizeof b, "p01.%02x", cpu + 1);
    else std::snprintf(b, sizeof b, "%02x", cpu + 1);
    return b;
}

std::optional<long> gdb_server::parse_thread(std::string_view t) const {
    if (t.starts_with('p')) {
        // pPID[.TID]: the process is 1 (or -1, all); without a thread, any.
        const auto dot = t.find('.');
        const std::string_view pid = t.substr(1, dot == std::string_view::npos ? std::string_view::npos : dot - 1);
        if (pid != "-1" && parse_u64(pid) != 1u) return std::nullopt;
        if (dot == std::string_view::npos) return 0;
        t = t.substr(dot + 1);
    }
    if (t == "-1") return -1;
    const auto v = parse_u64(t);
    if (!v || *v > cpu_count()) return std::nullopt;
    return static_cast<long>(*v);
}

std::string gdb_server::stop_reply(int signal, unsigned cpu) const {
    char b[48];
    std::snprintf(b, sizeof b, "T%02xthread:%s;", signal, thread_id(cpu).c_str());
    return b;
}

void gdb_server::chardev_opened(bool open) {
    rx_ = rx::idle;
    packet_.clear();
    no_ack_ = waiting_ = multiprocess_ = false;
    last_.clear();
    connected_ = open;
    if (!open) return;
    // As QEMU: a debugger that attaches finds the VM stopped.
    g_cpu_ = c_cpu_ = last_cpu_ = 0;
    s_.vm_pause();
}

void gdb_server::vm_stopped(run_state why, unsigned cpu, const std::optional<debug_event>& event) {
    last_cpu_ = cpu;
    if (!connected_ || !waiting_) return;
    waiting_ = false;
    g_cpu_ = c_cpu_ = cpu;
    std::string r = stop_reply(signal_for(why), cpu);
    if (event && event->what != debug_event::kind::breakpoint && event->what != debug_event::kind::step) {
        const char* k = event->what == debug_event::kind::watch_write  ? "watch"
                        : event->what == debug_event::kind::watch_read ? "rwatch"
                                                                       : "awatch";
        char b[48];
        std::snprintf(b, sizeof b, "%s:%llx;", k, static_cast<unsigned long long>(event->watch_addr));
        r += b;
    }
    reply(r);
}

void gdb_server::exiting(int status) {
    if (!connected_) return;
    char b[8];
    std::snprintf(b, sizeof b, "W%02x", status & 0xff);
    reply(b);
}

void gdb_server::reply(std::string_view payload) {
    unsigned sum = 0;
    for (char c : payload) sum += static_cast<unsigned char>(c);
    std::string p;
    p.reserve(payload.size() + 4);
    p += '$';
    p += payload;
    p += '#';
    p += hex_digits[(sum >> 4) & 15];
    p += hex_digits[sum & 15];
    last_ = p;
    dev_.write(p);
}

void gdb_server::receive(std::span<const std::byte> data) {
    for (std::byte byte : data) {
        const char c = static_cast<char>(byte);
        switch (rx_) {
        case rx::idle:
            if (c == '$') {
                rx_ = rx::data;
                packet_.clear();
                sum_ = 0;
                escaped_ = overflow_ = false;
            } else if (c == '\x03') {
                // Ctrl-C: stop the target (a SIGINT stop reply follows).
                if (waiting_) s_.vm_pause();
            } else if (c == '-' && !no_ack_ && !last_.empty()) {
                dev_.write(last_);  // the last packet was garbled on its way
            }
            break;  // '+' and noise between packets
        case rx::data:
            if (c == '#') {
                rx_ = rx::check1;
                break;
            }
            sum_ += static_cast<unsigned char>(c);
            // Never buffered without bound: a longer packet is refused whole.
            if (packet_.size() < 2 * max_packet) packet_ += c;
            else overflow_ = true;
            break;
        case rx::check1:
            want_ = static_cast<unsigned>(hex_value(c)) << 4;
            rx_ = hex_value(c) < 0 ? (overflow_ = true, rx::check2) : rx::check2;
            break;
        case rx::check2: {
            rx_ = rx::idle;
            const int lo = hex_value(c);
            const bool good = lo >= 0 && !overflow_ && (want_ | static_cast<unsigned>(lo)) == (sum_ & 0xff);
            if (!no_ack_) dev_.write(good ? "+" : "-");
            if (good) handle(packet_);
            else logf(log_item::guest_errors, "gdbstub: packet dropped (%s)\n", overflow_ ? "too long" : "bad checksum");
            break;
        }
        }
    }
}

void gdb_server::resume() {
    waiting_ = true;
    try {
        if (!s_.state().is_running()) s_.vm_start();
    } catch (const illegal_transition&) {
        // A VM that cannot run (shut down): it stays where it is.
        waiting_ = false;
        reply(stop_reply(signal_for(s_.state().get()), last_cpu_));
    }
}

void gdb_server::handle(std::string_view p) {
    const debug_target* t = target();
    if (p.empty()) return reply("");
    const std::string_view args = p.substr(1);
    auto cpu_ok = [&](unsigned c) { return c < cpu_count(); };
    // Thread ids name CPUs from 1; 0 (any) and -1 (all) mean the first here.
    auto cpu_of = [](long tid) { return tid > 0 ? static_cast<unsigned>(tid - 1) : 0u; };
    switch (p[0]) {
    case '?': return reply(stop_reply(sig_trap, last_cpu_));  // QEMU's answer, whatever stopped it
    case 'g': {
        if (!t) return reply("E22");
        return reply(to_hex(t->read_registers(g_cpu_)));
    }
    case 'G': {
        const auto b = from_hex(args);
        if (!t || !b || !t->write_registers(g_cpu_, *b)) return reply("E22");
        return reply("OK");
    }
    case 'p': {
        const auto n = parse_u64(args);
        if (!t || !n || *n >= t->registers) return reply("E14");
        const auto v = t->read_register(g_cpu_, static_cast<unsigned>(*n));
        return reply(v.empty() ? "E14" : to_hex(v));
    }
    case 'P': {
        const auto eq = args.find('=');
        if (!t || eq == std::string_view::npos) return reply("E22");
        const auto n = parse_u64(args.substr(0, eq));
        const auto b = from_hex(args.substr(eq + 1));
        if (!n || !b || *n >= t->registers || !t->write_register(g_cpu_, static_cast<unsigned>(*n), *b))
            return reply("E14");
        return reply("OK");
    }
    case 'm': {
        std::uint64_t addr, len;
        if (!t || !parse_pair(args, addr, len) || len > max_packet / 2) return reply("E22");
        std::vector<std::uint8_t> buf(len);
        if (!t->read_memory(g_cpu_, addr, std::as_writable_bytes(std::span(buf)))) return reply("E14");
        return reply(to_hex(buf));
    }
    case 'M':
    case 'X': {
        const auto colon = args.find(':');
        std::uint64_t addr, len;
        if (!t || colon == std::string_view::npos || !parse_pair(args.substr(0, colon), addr, len))
            return reply("E22");
        const std::string_view data = args.substr(colon + 1);
        std::vector<std::uint8_t> buf;
        if (p[0] == 'M') {
            auto b = from_hex(data);
            if (!b) return reply("E22");
            buf = std::move(*b);
        } else {
            for (std::size_t i = 0; i < data.size(); ++i)
                buf.push_back(static_cast<std::uint8_t>(data[i] == '}' && i + 1 < data.size() ? data[++i] ^ 0x20 : data[i]));
        }
        if (buf.size() != len) return reply("E22");
        if (len && !t->write_memory(g_cpu_, addr, std::as_bytes(std::span(buf)))) return reply("E14");
        return reply("OK");
    }
    case 'Z':
    case 'z': {
        // Z<type>,<addr>,<kind>[;cond...]: conditions are not evaluated here.
        const std::string_view body = args.substr(0, args.find(';'));
        const auto c1 = body.find(',');
        std::uint64_t addr, len;
        if (!t || c1 == std::string_view::npos || !parse_pair(body.substr(c1 + 1), addr, len)) return reply("E22");
        const auto type = parse_u64(body.substr(0, c1));
        if (!type || *type > 4) return reply("");
        const int r = t->breakpoint(static_cast<int>(*type), addr, len, p[0] == 'Z');
        return reply(r > 0 ? "OK" : r == 0 ? "" : "E22");
    }
    case 'c':
    case 's':
    case 'C':
    case 'S': {
        if (!t) return reply("E22");
        // [sig;][addr]: a signal means nothing to a machine; an address
        // is where to resume.
        std::string_view a = args;
        if (p[0] == 'C' || p[0] == 'S') {
            const auto semi = a.find(';');
            a = semi == std::string_view::npos ? std::string_view{} : a.substr(semi + 1);
        }
        if (!a.empty()) {
            const auto addr = parse_u64(a);
            if (!addr || !t->set_pc(c_cpu_, *addr)) return reply("E22");
        }
        for (unsigned i = 0; i < cpu_count(); ++i) t->single_step(i, false);
        if (p[0] == 's' || p[0] == 'S') t->single_step(c_cpu_, true);
        return resume();
    }
    case 'v': {
        if (p == "vCont?") return reply("vCont;c;C;s;S");
        if (p.starts_with("vCont;")) {
            if (!t) return reply("E22");
            // Each action applies to its thread, or to every one not named
            // before; the first that names a CPU wins.
            std::vector<char> action(cpu_count(), 0);
            std::string_view rest = p.substr(6);
            while (!rest.empty()) {
                const auto semi = rest.find(';');
                std::string_view item = rest.substr(0, semi);
                rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
                const auto colon = item.find(':');
                const std::string_view act = item.substr(0, colon);
                if (act.empty()) return reply("E22");
                const char a = act[0] == 'C' ? 'c' : act[0] == 'S' ? 's' : act[0];
                if (a != 'c' && a != 's') return reply("");  // vCont;t and ranges are not offered
                if (colon == std::string_view::npos) {
                    for (char& x : action)
                        if (!x) x = a;
                } else {
                    const auto tid = parse_thread(item.substr(colon + 1));
                    if (!tid) return reply("E22");
                    if (*tid <= 0) {
                        for (char& x : action)
                            if (!x) x = a;
                    } else if (!action[cpu_of(*tid)]) {
                        action[cpu_of(*tid)] = a;
                    }
                }
            }
            for (unsigned i = 0; i < cpu_count(); ++i) {
                t->single_step(i, action[i] == 's');
                if (action[i] == 's') c_cpu_ = i;
            }
            return resume();
        }
        if (p.starts_with("vKill;")) {  // k, in multiprocess terms
            reply("OK");
            report_error("Terminated via GDBstub");
            return s_.request_exit(0);
        }
        return reply("");  // vMustReplyEmpty and the rest: not supported
    }
    case 'H': {
        if (args.empty()) return reply("E22");
        const auto tid = parse_thread(args.substr(1));
        if (!tid) return reply("E22");
        const unsigned cpu = cpu_of(*tid);
        if (args[0] == 'g') g_cpu_ = cpu;
        else if (args[0] == 'c') c_cpu_ = cpu;
        else return reply("E22");
        return reply("OK");
    }
    case 'T': {
        const auto tid = parse_thread(args);
        return reply(tid && *tid > 0 && cpu_ok(cpu_of(*tid)) ? "OK" : "E22");
    }
    case 'D':
        // Detach: the debugger's breakpoints go and the VM runs on.
        if (t) {
            t->remove_all_breakpoints();
            for (unsigned i = 0; i < cpu_count(); ++i) t->single_step(i, false);
        }
        reply("OK");
        if (!s_.state().is_running()) {
            try {
                s_.vm_start();
            } catch (const illegal_transition&) {
            }
        }
        return;
    case 'k':
        report_error("Terminated via GDBstub");
        return s_.request_exit(0);
    case 'q':
    case 'Q': break;
    default: return reply("");
    }
    // Queries.
    if (p.starts_with("qSupported")) {
        multiprocess_ = p.find("multiprocess+") != std::string_view::npos;
        return reply(std::string("PacketSize=1000;qXfer:features:read+;vContSupported+;QStartNoAckMode+") +
                     (multiprocess_ ? ";multiprocess+" : ""));
    }
    if (p == "QStartNoAckMode") {
        reply("OK");
        no_ack_ = true;
        return;
    }
    if (p == "qAttached") return reply("1");
    if (p == "qC") return reply("QC" + thread_id(g_cpu_));
    if (p == "qfThreadInfo") {
        std::string r = "m";
        for (unsigned i = 0; i < cpu_count(); ++i) r += (i ? "," : "") + thread_id(i);
        return reply(r);
    }
    if (p == "qsThreadInfo") return reply("l");
    if (p.starts_with("qThreadExtraInfo,")) {
        const auto tid = parse_thread(p.substr(17));
        if (!tid || *tid <= 0) return reply("E22");
        const unsigned cpu = cpu_of(*tid);
        const bool halted = t && t->halted && t->halted(cpu);
        const std::string info = "CPU#" + std::to_string(cpu) + (halted ? " [halted ]" : " [running]");
        return reply(to_hex(std::span(reinterpret_cast<const std::uint8_t*>(info.data()), info.size())));
    }
    if (p.starts_with("qXfer:features:read:")) {
        // qXfer:features:read:ANNEX:OFFSET,LENGTH
        std::string_view rest = p.substr(20);
        const auto colon = rest.find(':');
        std::uint64_t off, len;
        if (colon == std::string_view::npos || !parse_pair(rest.substr(colon + 1), off, len)) return reply("E22");
        if (!t || rest.substr(0, colon) != "target.xml") return reply("E00");
        const std::string& xml = t->target_xml;
        if (off > xml.size()) return reply("E00");
        const std::uint64_t n = std::min<std::uint64_t>({len, xml.size() - off, max_packet - 5});
        const std::string_view chunk = std::string_view(xml).substr(off, n);
        return reply((off + n < xml.size() ? "m" : "l") + escape_binary(chunk));
    }
    if (p.starts_with("qRcmd,")) {
        // monitor CMD: the human monitor's command, its output as O
        // packets, then OK.
        const auto cmd = from_hex(p.substr(6));
        if (!cmd) return reply("E22");
        const std::string line(cmd->begin(), cmd->end());
        // gdbserver would end this very stub while it answers.
        if (command_word(line) == "gdbserver") return reply("E22");
        const std::string out = crlf(hmp_execute(s_, line, g_cpu_));
        for (std::size_t at = 0; at < out.size(); at += max_packet / 2 - 1) {
            const std::string_view chunk = std::string_view(out).substr(at, max_packet / 2 - 1);
            reply("O" + to_hex(std::span(reinterpret_cast<const std::uint8_t*>(chunk.data()), chunk.size())));
        }
        return reply("OK");
    }
    return reply("");  // qSymbol, qTStatus, qOffsets and the rest: not supported
}

} // namespace qf
