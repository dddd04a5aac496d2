// QMP: bytes from a client, to a qf::qmp_monitor on a ringbuf chardev of a
// session with a pc machine behind it (RAM, its CPU, PCI with a
// pci-testdev, ringbufs for ringbuf-read and -write), so that commands act
// rather than stop at "not available": query-pci, inject-nmi, stop, cont,
// system_reset, human-monitor-command's info, x, xp, p, memsave... An
// input: a configuration byte (pretty output, how the bytes are split into
// writes, the run state, -name, -no-shutdown), then the client's bytes,
// run in the sandbox of session_rig.hpp (defuse()).
//
// What must hold: each line the monitor writes ("\r\n"-terminated) is a
// JSON object: the greeting first, then replies with exactly one of return
// and error (an error with a class of QEMU's and a desc), and an id only
// besides one of them; events (event, timestamp, data) only once
// capabilities are negotiated, and no "expecting negotiation" error after;
// no reply without input to answer (at most one a byte); no line cut off;
// at most 4 MiB of output at once; no exception, no crash.
#include "entry.hpp"
#include "machines/pc/pc.hpp"
#include "qf/chardev/backends.hpp"
#include "session_rig.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

namespace {

using namespace qf;
using json = nlohmann::json;
using pc_machine = machines::pc<accel::tcg<>>;

constexpr std::uint32_t output_ring = 1u << 22;
constexpr const char* monitor_id = "qmp\xff";

// The monitor's output, line by line.
class reply_checker {
public:
    explicit reply_checker(std::size_t input_size) : input_size_(input_size) {}

    void take(chardevs::ringbuf& r) {
        // The ring keeps the last 4 MiB: more since the last look is lost.
        if (r.total_written() - seen_ > output_ring) fuzz::fail("more than 4 MiB of output at once");
        seen_ = r.total_written();
        buf_ += r.take();
        for (std::size_t nl; (nl = buf_.find("\r\n")) != std::string::npos;) {
            line(std::string_view(buf_).substr(0, nl));
            buf_.erase(0, nl + 2);
        }
    }
    void finish() {
        if (!buf_.empty()) fuzz::fail("the output ends in the middle of a line: " + buf_.substr(0, 200));
        if (greeted_ == false) fuzz::fail("no greeting");
    }

private:
    [[noreturn]] void bad(const std::string& why, std::string_view l) {
        fuzz::fail(why + ":\n" + std::string(l.substr(0, 400)) + (l.size() > 400 ? "..." : ""));
    }
    static bool only(const json& v, std::initializer_list<const char*> keys) {
        for (auto it = v.begin(); it != v.end(); ++it)
            if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return it.key() == k; })) return false;
        return true;
    }

    void line(std::string_view l) {
        static const bool verbose = std::getenv("QF_FUZZ_VERBOSE") != nullptr;
        if (verbose) std::fprintf(stderr, "<- %.*s\n", static_cast<int>(std::min<std::size_t>(l.size(), 300)), l.data());
        const json v = json::parse(l.begin(), l.end(), nullptr, false);
        if (v.is_discarded()) bad("a line that is not JSON (or not UTF-8)", l);
        if (!v.is_object()) bad("a line that is not a JSON object", l);
        if (!greeted_) {
            greeted_ = true;
            if (v.size() != 1 || !v.contains("QMP") || !v["QMP"].contains("version") || !v["QMP"].contains("capabilities"))
                bad("the first line is not the greeting", l);
            return;
        }
        if (v.contains("event")) {
            if (!only(v, {"event", "timestamp", "data"}) || !v["event"].is_string() || !v.contains("timestamp") ||
                !v["timestamp"].is_object() || !v["timestamp"].contains("seconds") || !v["timestamp"].contains("microseconds"))
                bad("a malformed event", l);
            if (!negotiated_) bad("an event before capabilities were negotiated", l);
            fuzz::count("events");
            return;
        }
        if (v.contains("QMP")) bad("a second greeting", l);
        if (++replies_ > input_size_) bad("more replies than input bytes", l);
        const bool ret = v.contains("return"), err = v.contains("error");
        if (ret == err || !only(v, {"return", "error", "id"})) bad("a reply without exactly one of return and error", l);
        if (ret) {
            negotiated_ = true;
            fuzz::count("replies: return");
            return;
        }
        const json& e = v["error"];
        static const char* const classes[] = {"GenericError", "CommandNotFound", "DeviceNotActive", "DeviceNotFound",
                                              "KVMMissingCap"};
        if (!e.is_object() || e.size() != 2 || !e.contains("class") || !e.contains("desc") || !e["class"].is_string() ||
            !e["desc"].is_string() ||
            std::none_of(std::begin(classes), std::end(classes), [&](const char* c) { return e["class"] == c; }))
            bad("a malformed error", l);
        if (negotiated_ && e["desc"] == "Expecting capabilities negotiation with 'qmp_capabilities'")
            bad("negotiation asked for after it was done", l);
        fuzz::count(std::string("replies: ") + e["class"].get<std::string>());
    }

    std::size_t input_size_, replies_ = 0;
    std::uint64_t seen_ = 0;
    std::string buf_;
    bool greeted_ = false, negotiated_ = false;
};

chardev_spec ringbuf(const char* id, std::uint32_t size) {
    chardev_spec s;
    s.backend = "ringbuf";
    s.id = id;
    s.size = size;
    return s;
}

void run(std::uint8_t config, const std::string& text) {
    options o;
    o.ram_size = 8 << 20;
    o.bios = "(fuzz)";
    o.bios_image.assign(64 << 10, std::byte{0xf4});
    o.chardevs.push_back(ringbuf("rb0", 4096));
    o.serials.push_back(ringbuf("serial0", 4096));
    options::monitor mon;
    // An id no JSON string spells (not UTF-8): ringbuf-read cannot take
    // the client's output from under it.
    mon.dev = ringbuf(monitor_id, output_ring);
    mon.pretty = config & 1;
    o.monitors.push_back(mon);
    if (config & 2) o.name = "fuzz";
    o.no_shutdown = config & 4;
    o.devices.push_back(parse_opt_list("-device", "pci-testdev"));
    if (const char* l = std::getenv("QF_FUZZ_LOG")) o.log_mask = parse_log_items(l);

    auto s = fuzz::make_session(o);
    {
        pc_machine m(s->device_services());
        m.init(o);
        m.reset();
        s->set_machine_control(fuzz::control_for(m, *s, false));
        if (!(config & 8)) s->vm_start();
        auto& ring = *s->find_chardev(monitor_id)->as<chardevs::ringbuf>();
        reply_checker check(text.size());
        check.take(ring);
        // How a client's writes split the stream.
        static constexpr std::size_t pieces[] = {4096, 1, 2, 3, 7, 16, 64, 512};
        const std::size_t piece = pieces[(config >> 4) & 7];
        for (std::size_t at = 0; at < text.size() && !s->exit_requested(); at += piece) {
            ring.send_to_guest(std::string_view(text).substr(at, piece));
            check.take(ring);
        }
        check.finish();
        if (s->exit_requested()) fuzz::count("quit");
        s->set_machine_control({});  // its functions reach into m, which goes first
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::quiet_log();
    if (size < 1) return 0;
    fuzz::enter_sandbox();
    const std::string text = fuzz::defuse(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), true);
    fuzz::run_checked("the monitor", [&] { run(data[0], text); });
    fuzz::clean_sandbox();
    return 0;
}

// Sessions a client might hold: negotiation (mostly), then commands of the
// table with right, wrong and missing arguments, ids of every JSON type,
// human monitor command lines; now and then junk, single quotes, escapes,
// nesting, QEMU's 0xff resynchronisation.
extern "C" std::size_t qf_fuzz_generate(std::uint8_t* out, std::size_t max, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto pick = [&](const auto& list) { return std::string(list[rng() % std::size(list)]); };
    static const char* const commands[] = {
        "qmp_capabilities", "query-version", "query-commands", "query-status", "query-name", "query-kvm",
        "query-cpus-fast", "pmemsave", "memsave", "human-monitor-command", "query-chardev", "query-machines",
        "query-cpu-definitions", "query-pci", "query-block", "query-qmp-schema", "ringbuf-read", "ringbuf-write",
        "inject-nmi", "stop", "cont", "system_reset", "system_powerdown", "quit", "no-such-command", ""};
    static const char* const args[] = {
        R"("val": 0, "size": 4096, "filename": "dump")", R"("val": 1048576, "size": 100, "filename": "m", "cpu-index": 0)",
        R"("val": -1, "size": -1, "filename": "")", R"("val": 4294967296, "size": 18446744073709551615, "filename": "x")",
        R"("device": "rb0", "size": 100)", R"("device": "rb0", "size": 8, "format": "base64")",
        R"("device": "rb0", "data": "aGVsbG8=", "format": "base64")", R"("device": "rb0", "data": "hello")",
        R"("device": "serial0", "size": 0)", R"("device": "nope", "data": "x", "format": "utf16")",
        R"("enable": ["oob"])", R"("enable": "oob")", R"("enable": [1])", R"("cpu-index": 5)", R"("bogus": null)",
        R"("size": 1.5)", R"("device": "qmp", "size": 1)"};
    static const char* const lines[] = {
        "info registers", "info registers -a", "info mtree", "info qtree", "info pci", "info pic", "info irq",
        "info lapic", "info lapic 1", "info ioapic", "info status", "info cpus", "info chardev", "info jit", "info",
        "info tlb", "x /16xb 0", "x /4i $pc", "xp /8xg 0xfffffff0", "xp /3c 0xf0000", "x /2uh $rsp", "xp /10dw 0xfee00000",
        "p $rax + 2 * (3 - ~1) / 0", "p /x $eflags", "p (1+2", "p $nope", "print 0x10 % 3", "cpu 0", "cpu 7",
        "memsave 0 4096 vdump", "pmemsave 0xfee00000 64 apic", "pmemsave 0 99999999 big", "log int,guest_errors",
        "log none", "log bogus", "gdbserver none", "gdbserver", "nmi", "stop", "cont", "c", "system_reset",
        "system_powerdown", "help", "?", "q", "", "   ", "x", "xp /", "x /5z 0"};
    static const char* const ids[] = {"1", "\"a\"", "null", "[1, {\"x\": 2}]", "{}", "-7", "1e400", "\"\\u00e9\""};
    std::string s(1, static_cast<char>(rng()));
    if (rng() % 8) s += R"({"execute": "qmp_capabilities"})";
    const unsigned n = 1 + static_cast<unsigned>(rng() % 10);
    for (unsigned i = 0; i < n; ++i) {
        const unsigned kind = static_cast<unsigned>(rng() % 16);
        std::string cmd;
        if (kind < 6) {
            cmd = R"({"execute": "human-monitor-command", "arguments": {"command-line": ")" + pick(lines) + "\"}";
        } else if (kind < 13) {
            cmd = "{\"execute\": \"" + pick(commands) + "\"";
            if (rng() % 2) cmd += ", \"arguments\": {" + pick(args) + "}";
        } else if (kind == 13) {
            cmd = pick(std::array{"[1, 2]", "\"str\"", "42", "true", "nul", "}", ",", "{\"execute\": 1", "{\"id\": 1}",
                                  "{'execute': 'query-status'}", "{\"exec-oob\": \"query-name\"}", "\xff", "[[[[[[[[",
                                  "{\"execute\": \"qu\\u0065ry-kvm\"}", "\"\\ud800\"", "{\"a\":\"\xc3\x28\"}"});
            s += cmd;
            continue;
        } else {
            cmd = "{\"execute\": \"" + pick(commands) + "\", \"arguments\": " + pick(std::array{"[]", "1", "null", "{}"});
        }
        if (rng() % 3 == 0) cmd += ", \"id\": " + pick(ids);
        if (rng() % 4 == 0) cmd += ", \"extra\": 1";
        cmd += "}";
        s += cmd + (rng() % 2 ? "\n" : "");
    }
    const std::size_t len = std::min(s.size(), max);
    std::memcpy(out, s.data(), len);
    return len;
}
