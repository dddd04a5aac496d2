// The gdbstub: GDB's remote protocol from a client, to a qf::gdb_server
// on a ringbuf chardev of a session whose machine is testrig with a real
// TCG CPU running a fuzz firmware image (firmware_image.hpp: the prologue
// puts the CPU in the mode the configuration names - real, protected,
// paging, long mode, ring 3 - then runs the payload), so that g/G/p/P read
// and write live registers, m/M/X memory through the page tables, Z/z
// place breakpoints and watchpoints that the CPU then hits, and s, c and
// vCont run it: after each item of the input that left the VM running, the
// CPU runs (up to 2,000 instructions, 60,000 an input; 50 ms without
// completing them ends it for the input) and stops where the debugger
// said. GDB's monitor command (qRcmd) runs human monitor commands in
// session_rig.hpp's sandbox; k and vKill end the input, as they end the
// process.
//
// An input: three configuration bytes (cpu_config: the mode, CPU flags,
// engine options; 0x10 in the third, the JIT rather than the interpreter),
// a byte n and 4n bytes of payload, then items, each a kind byte (modulo
// 8) and what it needs: 0-4, a packet the target frames with the right
// checksum (a length byte, or 0xff and two; then the payload, its '$' and
// '#' changed); 5, one with a wrong checksum; 6, up to 15 bytes between
// packets (noise, acks, Ctrl-C; a '$' becomes Ctrl-C); 7, Ctrl-C.
//
// What must hold: the stub writes only acks ('+' and '-', none once
// QStartNoAckMode is agreed) and packets "$PAYLOAD#CS" with the right
// checksum and no '$' inside; each packet sent gets exactly one ack and
// (but for c, s, vCont, k and qRcmd) exactly one reply; g's replies are
// all as long, m's hold the bytes asked for, errors are Enn; stop replies
// (T) come only to a debugger that resumed the target, and nothing of the
// debugger's stops the VM once it detached (with no packet since); no
// crash, no hang.
#include "byte_reader.hpp"
#include "entry.hpp"
#include "firmware_image.hpp"
#include "machines/testrig/testrig.hpp"
#include "qf/chardev/backends.hpp"
#include "qf/embed/harness.hpp"
#include "qf/monitor/gdbstub.hpp"
#include "session_rig.hpp"
#include "watchdog.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace qf;
using fuzz::byte_reader;
using rig = machines::testrig<accel::tcg<embed::insn_budget>>;

constexpr std::uint64_t slice_insns = 2000, input_insns = 60000, prologue_insns = 30000;
// How long a slice may run without completing its instructions (ten
// times as long under the sanitizers, which slow the CPU down as much).
#if defined(__SANITIZE_ADDRESS__)
constexpr auto stuck_after = std::chrono::milliseconds(500);
#else
constexpr auto stuck_after = std::chrono::milliseconds(50);
#endif
constexpr std::uint32_t output_ring = 1u << 22;

using fuzz::hex_digit;
using fuzz::hex_of;

bool all_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return hex_digit(c) >= 0; });
}

// GDB's monitor command, defused as the sandbox wants: the command line is
// hex in the packet; what does not decode as the stub decodes it (an even
// number of hex digits) is refused there anyway.
std::string defuse_packet(std::string p) {
    if (!p.starts_with("qRcmd,")) return p;
    const std::string_view h = std::string_view(p).substr(6);
    if (h.size() % 2 || !all_hex(h)) return p;
    std::string line;
    for (std::size_t i = 0; i < h.size(); i += 2) line += static_cast<char>(hex_digit(h[i]) << 4 | hex_digit(h[i + 1]));
    return "qRcmd," + hex_of(fuzz::defuse(line, false));
}

// stderr to /dev/null while it lives (unless QF_FUZZ_VERBOSE is set).
class quiet_stderr {
public:
    explicit quiet_stderr(bool on) {
        if (!on || std::getenv("QF_FUZZ_VERBOSE")) return;
        std::fflush(stderr);
        saved_ = dup(2);
        const int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        close(null);
    }
    ~quiet_stderr() {
        if (saved_ < 0) return;
        dup2(saved_, 2);
        close(saved_);
    }
    quiet_stderr(const quiet_stderr&) = delete;
    quiet_stderr& operator=(const quiet_stderr&) = delete;

private:
    int saved_ = -1;
};

// What the stub wrote in answer to one item.
struct answer {
    unsigned plus = 0, minus = 0;
    std::vector<std::string> packets;
};

class gdb_run {
public:
    gdb_run(const fuzz::cpu_config& cfg, bool jit, std::span<const std::uint8_t> payload) {
        const auto img = fuzz::build_firmware(cfg, payload);
        options o;
        o.ram_size = 2 << 20;
        o.cpu = "max";
        o.bios = "(fuzz)";
        o.bios_image.assign(reinterpret_cast<const std::byte*>(img.data()), reinterpret_cast<const std::byte*>(img.data()) + img.size());
        // The JIT (its breakpoints are checks it translates in) or the
        // interpreter, which starts faster.
        accel_choice a{"tcg", {}};
        if (!jit) a.props.emplace_back("interpreter", "on");
        if (cfg.one_insn_per_tb) a.props.emplace_back("one-insn-per-tb", "on");
        if (cfg.small_buffer) a.props.emplace_back("tb-size", "1");
        o.accels.push_back(a);
        o.no_reboot = cfg.watchpoints;  // a triple fault then ends the session, else it resets

        chardev_spec serial;
        serial.backend = "ringbuf";
        serial.id = "serial0";
        serial.size = 4096;
        o.serials.push_back(serial);
        chardev_spec gdb = serial;
        gdb.id = "gdb";
        gdb.size = output_ring;
        o.gdb = gdb;
        if (const char* l = std::getenv("QF_FUZZ_LOG")) o.log_mask = parse_log_items(l);
        s_ = fuzz::make_session(o);
        m_ = std::make_unique<rig>(s_->device_services());
        m_->init(o);
        m_->reset();
        s_->set_machine_control(fuzz::control_for(*m_, *s_, true));
        ring_ = s_->find_chardev("gdb")->as<chardevs::ringbuf>();
        // Through the prologue into the mode, then GDB arrives and finds
        // the VM stopped.
        s_->vm_start();
        run_cpu(prologue_insns);
        s_->vm_pause();
        (void)take();
    }
    ~gdb_run() {
        s_->set_machine_control({});
        m_.reset();
    }

    void run(byte_reader& in) {
        while (in.more() && !s_->exit_requested()) run_item(in);
        if (s_->exit_requested()) fuzz::count("the session ended (k, vKill, quit, shutdown)");
    }

private:
    // One item; its first byte says which kind.
    void run_item(byte_reader& in) {
        const std::uint8_t kind = in.u8();
        switch (kind % 8) {
        case 5: {  // a packet with a wrong checksum
            const std::string p = packet_text(in);
            send("$" + p + "#" + (checksum(p) == "00" ? "01" : "00"));
            expect_nack();
            break;
        }
        case 6: {  // bytes between packets: noise, acks, Ctrl-C; no '$'
            std::string b;
            for (auto c : in.bytes(in.u8() % 16)) b += c == '$' ? '\x03' : static_cast<char>(c);
            send(b);
            between_packets(check_stream(take()));
            break;
        }
        case 7: {  // Ctrl-C alone
            send("\x03");
            between_packets(check_stream(take()));
            break;
        }
        default: {
            const std::string p = defuse_packet(packet_text(in));
            {
                // k and vKill say "Terminated via GDBstub" on stderr, as
                // QEMU does: not for every input of a run.
                quiet_stderr q(p.starts_with('k') || p.starts_with("vKill;"));
                send("$" + p + "#" + checksum(p));
            }
            check_reply(p, check_stream(take()));
            if (p == "QStartNoAckMode") acks_ = false;
            // Detached, with no packet since: nothing of the debugger's may
            // stop the VM (its breakpoints, watchpoints and step are gone).
            detached_ = p.starts_with('D');
            break;
        }
        }
        if (detached_ && s_->state().get() == run_state::debug) fuzz::fail("the VM stopped for the debugger after it detached");
        if (s_->state().is_running() && used_ < input_insns && !stuck_) {
            const bool was_waiting = waiting_;
            run_cpu(std::min(slice_insns, input_insns - used_));
            if (verbose())
                std::fprintf(stderr, "   ran to %llu instructions, run state %s\n", static_cast<unsigned long long>(used_),
                             std::string(to_string(s_->state().get())).c_str());
            const answer a = check_stream(take());
            if (a.plus || a.minus) fuzz::fail("an ack while the CPU ran");
            for (const auto& r : a.packets) {
                if (r[0] != 'T' && r[0] != 'W') fuzz::fail("'" + r + "' while the CPU ran: only stop replies come then");
                if (!was_waiting) fuzz::fail("a stop reply '" + r + "' to a debugger that did not resume the target");
                fuzz::count("stop replies after running");
            }
            if (!a.packets.empty()) waiting_ = false;
            if (detached_ && s_->state().get() == run_state::debug) fuzz::fail("the VM stopped for the debugger after it detached");
        }
    }

    // Ctrl-C stops a target the debugger waits for (a stop reply); '-'
    // repeats the last packet.
    void between_packets(const answer& a) {
        for (const auto& r : a.packets)
            if (r[0] == 'T') waiting_ = false;
    }

    // A packet's payload from the input: a length byte and that many bytes,
    // without '$' and '#' (the framing's).
    static std::string packet_text(byte_reader& in) {
        std::string p;
        const unsigned n = in.u8();
        for (auto c : in.bytes(n == 0xff ? in.u16() % 4096 : n)) p += c == '$' ? '%' : c == '#' ? '&' : static_cast<char>(c);
        return p;
    }
    static std::string checksum(std::string_view p) {
        unsigned sum = 0;
        for (unsigned char c : p) sum += c;
        char b[3];
        std::snprintf(b, sizeof b, "%02x", sum & 0xff);
        return b;
    }

    static bool verbose() {
        static const bool v = std::getenv("QF_FUZZ_VERBOSE") != nullptr;
        return v;
    }
    static std::string printable(std::string_view s) {
        std::string o;
        for (unsigned char c : s.substr(0, 200)) o += c >= 32 && c < 127 ? std::string(1, static_cast<char>(c)) : "\\x" + hex_of(std::string(1, static_cast<char>(c)));
        return o;
    }
    void send(std::string_view bytes) {
        if (verbose()) std::fprintf(stderr, "-> %s\n", printable(bytes).c_str());
        ring_->send_to_guest(bytes);
    }
    std::string take() {
        if (ring_->total_written() - seen_ > output_ring) fuzz::fail("more than 4 MiB of output at once");
        seen_ = ring_->total_written();
        std::string out = ring_->take();
        if (verbose() && !out.empty()) std::fprintf(stderr, "<- %s\n", printable(out).c_str());
        return out;
    }

    // The stream: acks and packets with their checksums, nothing else.
    answer check_stream(const std::string& out) {
        answer a;
        for (std::size_t i = 0; i < out.size();) {
            const char c = out[i];
            if (c == '+' || c == '-') {
                if (!acks_) fuzz::fail("an ack after QStartNoAckMode");
                ++(c == '+' ? a.plus : a.minus);
                ++i;
                continue;
            }
            if (c != '$') fuzz::fail("a byte outside a packet: " + hex_of(out.substr(i, 16)));
            const auto end = out.find('#', i);
            if (end == std::string::npos || end + 3 > out.size()) fuzz::fail("a packet cut off: " + out.substr(i, 80));
            const std::string p = out.substr(i + 1, end - i - 1);
            if (p.find('$') != std::string::npos) fuzz::fail("a '$' inside a packet: " + p.substr(0, 80));
            if (out.substr(end + 1, 2) != checksum(p))
                fuzz::fail("packet '" + p.substr(0, 80) + "' has checksum " + out.substr(end + 1, 2) + ", not " + checksum(p));
            if (p.size() > 2 * gdb_server::max_packet) fuzz::fail("a packet of " + std::to_string(p.size()) + " bytes");
            a.packets.push_back(p);
            i = end + 3;
        }
        return a;
    }

    void expect_nack() {
        const answer a = check_stream(take());
        if (acks_ && (a.minus != 1 || a.plus != 0 || !a.packets.empty()))
            fuzz::fail("a packet with a wrong checksum was not answered with one '-' alone");
        fuzz::count("packets with a wrong checksum");
    }

    void check_reply(const std::string& p, answer a) {
        // A command that stops the VM (the monitor's stop) tells a waiting
        // debugger first ('?' is answered with a T packet of its own).
        if (waiting_ && !p.starts_with('?'))
            for (auto it = a.packets.begin(); it != a.packets.end(); ++it)
                if ((*it)[0] == 'T') {
                    a.packets.erase(it);
                    waiting_ = false;
                    break;
                }
        auto fail = [&](const std::string& why) {
            std::string got;
            for (const auto& r : a.packets) got += "\n  $" + r.substr(0, 100);
            fuzz::fail("to '" + p.substr(0, 100) + "': " + why + "; the replies:" + got);
        };
        if (acks_ && (a.plus != 1 || a.minus != 0)) fail(std::to_string(a.plus) + " '+' and " + std::to_string(a.minus) + " '-'");
        auto is_error = [](const std::string& r) { return r.size() == 3 && r[0] == 'E' && all_hex(r.substr(1)); };
        const char k = p.empty() ? 0 : p[0];
        const bool resumes = k == 'c' || k == 's' || k == 'C' || k == 'S' || p.starts_with("vCont;");
        if (resumes) {
            if (a.packets.size() > 1) fail("more than one reply");
            // Resumed (no reply yet), refused (an error: as it was), or
            // cannot run (a stop reply at once).
            if (a.packets.empty()) waiting_ = true;
            else if (a.packets[0][0] == 'T') waiting_ = false;
            fuzz::count("resumed");
            return;
        }
        if (k == 'k') {
            if (!a.packets.empty()) fail("a reply to k");
            return;
        }
        if (p.starts_with("qRcmd,")) {
            if (a.packets.empty()) fail("no reply");
            for (std::size_t i = 0; i + 1 < a.packets.size(); ++i)
                if (a.packets[i][0] != 'O' || !all_hex(a.packets[i].substr(1)) || a.packets[i].size() % 2 == 0)
                    fail("console output that is not O and hex");
            if (a.packets.back() != "OK" && !is_error(a.packets.back())) fail("the last reply is not OK or an error");
            fuzz::count("monitor commands");
            return;
        }
        if (a.packets.size() != 1) fail(std::to_string(a.packets.size()) + " replies");
        const std::string& r = a.packets[0];
        if (k == 'g' && !is_error(r)) {
            if (r.size() % 2 || !all_hex(r)) fail("registers that are not hex");
            if (g_size_ && r.size() != g_size_) fail("registers of another length than before");
            g_size_ = r.size();
            fuzz::count("g: registers");
        }
        if (k == 'm' && !is_error(r)) {
            const auto comma = p.find(',');
            const std::string len = comma == std::string::npos ? "" : p.substr(comma + 1);
            if (!all_hex(r) || r.size() != 2 * std::strtoull(len.c_str(), nullptr, 16))
                fail("memory that is not the length asked for");
            fuzz::count("m: memory read");
        }
        if (k == 'p' && !is_error(r) && (r.size() % 2 || !all_hex(r))) fail("a register that is not hex");
        if (k == '?' && !r.starts_with("T05thread:")) fail("a stop reason that is not T05");
        if ((k == 'M' || k == 'X' || k == 'G' || k == 'P' || k == 'H' || k == 'T' || k == 'D' || p == "QStartNoAckMode") &&
            r != "OK" && !is_error(r) && !r.empty())
            fail("neither OK nor an error");
        if (k == 'Z' && r == "OK") fuzz::count("Z: breakpoint or watchpoint placed");
    }

    void run_cpu(std::uint64_t budget) {
        auto& wd = fuzz::watchdog::instance();
        wd.arm([this] { m_->kick_cpu(); }, stuck_after);
        embed::insn_budget::left = budget;
        embed::insn_budget::armed = true;
        embed::insn_budget::spent = false;
        // Until the budget is spent, the debugger stops it, it halts or the
        // session ends; no timers (the clock is the host's).
        for (unsigned n = 0; n < 64 && s_->state().is_running() && !s_->exit_requested() && !wd.fired(); ++n) {
            if (!m_->cpu_runnable()) break;
            m_->cpu().st().base.hook_stop = 0;
            m_->run_cpu();
            if (embed::insn_budget::spent) break;
        }
        used_ += budget - embed::insn_budget::left;
        embed::insn_budget::armed = false;
        // Exceptions that keep it busy without an instruction completing:
        // the rest of the input runs without it.
        if (wd.disarm()) {
            stuck_ = true;
            fuzz::count("CPU runs the wall clock ended");
        }
    }

    std::unique_ptr<session> s_;
    std::unique_ptr<rig> m_;
    chardevs::ringbuf* ring_ = nullptr;
    std::uint64_t seen_ = 0, used_ = 0;
    std::size_t g_size_ = 0;
    bool acks_ = true, waiting_ = false, detached_ = false, stuck_ = false;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::quiet_log();
    if (size < 4) return 0;
    fuzz::enter_sandbox();
    byte_reader in(std::span(data, size));
    const std::uint8_t mode = in.u8(), flags = in.u8(), engine = in.u8();
    const fuzz::cpu_config cfg = fuzz::cpu_config::from(mode, flags, engine);
    const auto payload = in.bytes(4u * in.u8());
    fuzz::run_checked("the gdbstub", [&] {
        gdb_run r(cfg, engine & 0x10, payload);
        r.run(in);
    });
    fuzz::clean_sandbox();
    return 0;
}

// A debugging session: the questions GDB asks when it connects, then
// registers, memory about the code and the tables, breakpoints and
// watchpoints there, steps and continues, thread selection, monitor
// commands, the odd malformed packet, acks and Ctrl-C.
extern "C" std::size_t qf_fuzz_generate(std::uint8_t* out, std::size_t max, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    fuzz::byte_writer w(out, max);
    w.u8(rng());
    w.u8(rng() % 4 == 0 ? rng() : rng() % 2);
    w.u8(rng() & 0x9f);
    const unsigned words = static_cast<unsigned>(rng() % 64);
    w.u8(words);
    const auto code = fuzz::random_payload(rng(), 4 * words, true);
    w.bytes(code);
    for (std::size_t i = code.size(); i < 4 * words; ++i) w.u8(0x90);
    auto addr = [&]() -> std::uint64_t {
        static constexpr std::uint64_t bases[] = {0x10000, 0x10000, 0x800, 0x1000, 0x5000, 0xc000, 0xf000, 0xb8000,
                                                  0xfffffff0, 0xffff800000000000, 0};
        return bases[rng() % std::size(bases)] + rng() % 64;
    };
    auto hexs = [&](unsigned bytes) {
        std::string s;
        for (unsigned i = 0; i < bytes; ++i) s += hex_of(std::string(1, static_cast<char>(rng())));
        return s;
    };
    static const char* const lines[] = {"info registers", "info mtree", "x /8i $pc", "xp /4xg 0x10000", "p $rip",
                                        "info status", "info jit", "system_reset", "stop", "cont", "info pic",
                                        "pmemsave 0 64 f", "log int", "log none", "gdbserver tcp::1", "help",
                                        "cpu 0", "info cpus", "nmi", "quit"};
    char b[160];
    const unsigned n = 1 + static_cast<unsigned>(rng() % 24);
    for (unsigned i = 0; i < n && !w.full(); ++i) {
        std::string p;
        const unsigned k = static_cast<unsigned>(rng() % 40);
        switch (k) {
        case 0: p = rng() % 2 ? "qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386" : "qSupported"; break;
        case 1: p = "qXfer:features:read:target.xml:" + std::to_string(rng() % 2 ? 0 : rng() % 3000) + ",ffb"; break;
        case 2: p = "?"; break;
        case 3: case 4: p = "g"; break;
        case 5: p = "G" + hexs(static_cast<unsigned>(rng() % 4 ? 560 : rng() % 600)); break;
        case 6: std::snprintf(b, sizeof b, "p%x", static_cast<unsigned>(rng() % 90)); p = b; break;
        case 7: std::snprintf(b, sizeof b, "P%x=", static_cast<unsigned>(rng() % 90)); p = b + hexs(rng() % 2 ? 8 : 4); break;
        case 8: case 9: case 10:
            std::snprintf(b, sizeof b, "m%llx,%x", static_cast<unsigned long long>(addr()), static_cast<unsigned>(rng() % 64));
            p = b;
            break;
        case 11: {
            const unsigned len = static_cast<unsigned>(rng() % 16);
            std::snprintf(b, sizeof b, "M%llx,%x:", static_cast<unsigned long long>(addr()), len);
            p = b + hexs(len);
            break;
        }
        case 12: {
            const unsigned len = static_cast<unsigned>(rng() % 8);
            std::snprintf(b, sizeof b, "X%llx,%x:", static_cast<unsigned long long>(addr()), len);
            p = b;
            for (unsigned j = 0; j < len; ++j) p += static_cast<char>(rng() % 4 ? 0x41 + rng() % 26 : 0x7d);
            break;
        }
        case 13: case 14: case 15:
            std::snprintf(b, sizeof b, "%c%u,%llx,%x", rng() % 3 ? 'Z' : 'z', static_cast<unsigned>(rng() % 5),
                          static_cast<unsigned long long>(addr()), static_cast<unsigned>(1u << (rng() % 4)));
            p = b;
            break;
        case 16: case 17: case 18: p = "s"; break;
        case 19: case 20: p = "c"; break;
        case 21: p = rng() % 2 ? "vCont;s:1" : "vCont;c"; break;
        case 22: p = "vCont?"; break;
        case 23: p = rng() % 2 ? "Hg1" : "Hc-1"; break;
        case 24: p = "qfThreadInfo"; break;
        case 25: p = "qThreadExtraInfo,1"; break;
        case 26: p = "qRcmd," + hex_of(lines[rng() % std::size(lines)]); break;
        case 27: p = "QStartNoAckMode"; break;
        case 28: p = rng() % 4 ? "qAttached" : "qC"; break;
        case 29: p = "T1"; break;
        case 30: p = rng() % 2 ? "D" : "k"; break;
        case 31: p = "vKill;1"; break;
        case 32: std::snprintf(b, sizeof b, "S05;%llx", static_cast<unsigned long long>(addr())); p = b; break;
        case 33: p = "vMustReplyEmpty"; break;
        default: break;
        }
        if (k == 34) {
            w.u8(7);  // Ctrl-C
        } else if (k == 35) {
            w.u8(6);
            w.u8(3);
            w.u8("+-\x03"[rng() % 3]);
            w.u8(rng());
            w.u8(rng());
        } else if (k >= 36) {  // junk, or a wrong checksum
            w.u8(k == 36 ? 5 : 0);
            w.u8(8);
            for (int j = 0; j < 8; ++j) w.u8(rng());
        } else {
            w.u8(0);
            if (p.size() < 0xff) {
                w.u8(p.size());
            } else {
                w.u8(0xff);
                w.u16(p.size());
            }
            w.bytes(std::span(reinterpret_cast<const std::uint8_t*>(p.data()), p.size()));
        }
    }
    return w.size();
}
