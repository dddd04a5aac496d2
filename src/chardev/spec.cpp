#include "qf/chardev/spec.hpp"
#include "qf/core/error.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

namespace qf {
namespace {

// Splits at each comma; ",," is QEMU's escaped comma inside a value (a
// socket path, a file name).
std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out(1);
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != sep) {
            out.back() += s[i];
        } else if (i + 1 < s.size() && s[i + 1] == sep) {
            out.back() += sep;
            ++i;
        } else {
            out.emplace_back();
        }
    }
    return out;
}

template <class T>
T parse_number(std::string_view option, std::string_view key, std::string_view v) {
    T n{};
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || ptr != v.data() + v.size())
        throw error(std::string(option) + ": " + std::string(key) + "=" + std::string(v) +
                    ": not a valid number");
    return n;
}

// Applies key=value options after the backend (or tcp:/unix: address).
void apply_options(std::string_view option, chardev_spec& s,
                   const std::vector<std::string>& opts, std::size_t from) {
    for (std::size_t i = from; i < opts.size(); ++i) {
        std::string_view kv = opts[i];
        auto eq = kv.find('=');
        auto key = kv.substr(0, eq);
        std::string_view val = eq == std::string_view::npos ? std::string_view{} : kv.substr(eq + 1);
        bool has_val = eq != std::string_view::npos;
        // QEMU's legacy flag spellings: "server", "nowait".
        if (!has_val && key == "server") { s.server = true; continue; }
        if (!has_val && key == "nowait") { s.wait = false; continue; }
        // Sockets here always set TCP_NODELAY: the flag changes nothing.
        if (!has_val && key == "nodelay") continue;
        if (!has_val)
            throw error(std::string(option) + ": '" + std::string(kv) + "': expected key=value");
        if (key == "id") s.id = val;
        else if (key == "path") s.path = val;
        else if (key == "host") s.host = val;
        else if (key == "port") s.port = parse_number<std::uint16_t>(option, key, val);
        else if (key == "server") s.server = parse_on_off(option, key, val);
        else if (key == "wait") s.wait = parse_on_off(option, key, val);
        else if (key == "mux") s.mux = parse_on_off(option, key, val);
        else if (key == "signal") s.signal = parse_on_off(option, key, val);
        else if (key == "append") s.append = parse_on_off(option, key, val);
        else if (key == "nodelay") parse_on_off(option, key, val);
        else if (key == "size") s.size = parse_number<std::uint32_t>(option, key, val);
        else
            throw error(std::string(option) + ": invalid parameter '" + std::string(key) + "'");
    }
}

void validate(std::string_view option, chardev_spec& s) {
    if (s.backend == "file" && s.path.empty())
        throw error(std::string(option) + ": chardev file requires path=FILE");
    if (s.backend == "socket") {
        if (s.path.empty() && s.host.empty() && s.port == 0)
            throw error(std::string(option) + ": chardev socket requires path= or host=,port=");
        if (!s.server)
            throw error(std::string(option) +
                        ": client sockets (server=off) are not implemented yet; use server=on");
        if (s.path.empty() && s.host.empty()) s.host = "0.0.0.0";
    }
    if (s.backend == "ringbuf" && (s.size == 0 || (s.size & (s.size - 1))))
        throw error(std::string(option) + ": ringbuf size must be a power of two");
}

} // namespace

bool parse_on_off(std::string_view option, std::string_view key, std::string_view v) {
    if (v == "on" || v == "yes" || v == "true") return true;
    if (v == "off" || v == "no" || v == "false") return false;
    throw error(std::string(option) + ": parameter '" + std::string(key) +
                "' expects 'on' or 'off', not '" + std::string(v) + "'");
}

chardev_spec parse_chardev(std::string_view arg) {
    auto opts = split(arg, ',');
    chardev_spec s;
    s.backend = opts[0];
    if (s.backend.empty()) throw error("-chardev: missing backend (stdio, file, null, socket, pty, ringbuf)");
    static constexpr std::string_view known[] = {"stdio", "file", "null", "socket", "pty", "ringbuf"};
    bool ok = false;
    for (auto k : known) ok |= k == s.backend;
    if (!ok) throw error("-chardev " + s.backend + ": unknown chardev backend");
    if (s.backend == "socket") s.wait = true;
    bool has_id = false;
    for (std::size_t i = 1; i < opts.size(); ++i) has_id |= opts[i].starts_with("id=");
    apply_options("-chardev", s, opts, 1);
    // QEMU's words: an id is an identifier (qemu_opts_create's id_wellformed).
    const std::string where = "-chardev " + std::string(arg);
    if (!has_id) throw error(where + ": chardev: no id specified");
    const bool wellformed = !s.id.empty() && std::isalpha(static_cast<unsigned char>(s.id[0])) &&
                            std::all_of(s.id.begin(), s.id.end(), [](char c) {
                                return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
                            });
    if (!wellformed)
        throw error(where + ": Parameter 'id' expects an identifier (letters, digits, '-', '.', '_', starting with a letter)");
    validate("-chardev", s);
    return s;
}

std::optional<chardev_spec> parse_serial(std::string_view arg, std::string id) {
    std::string opt = "-serial " + std::string(arg);
    if (arg.empty()) throw error("-serial: missing argument");
    if (arg == "none") return std::nullopt;
    chardev_spec s;
    s.id = std::move(id);
    auto opts = split(arg, ',');
    std::string_view head = opts[0];
    if (head.starts_with("chardev:")) {
        s.backend.clear();
        s.id = head.substr(8);
        if (s.id.empty()) throw error(opt + ": missing chardev id");
        return s;
    }
    // QEMU's legacy syntax (qemu_chr_parse_compat): a backend named alone
    // takes no options, and after file: the rest is the path as written.
    const bool bare = head == "stdio" || head == "null" || head == "pty" || head == "ringbuf" || head == "mon:stdio";
    if (bare && opts.size() > 1) throw error(opt + ": '" + std::string(arg) + "' is not a valid char driver");
    if (bare && head != "mon:stdio") {
        s.backend = head;
    } else if (head == "mon:stdio") {
        s.backend = "stdio";
        s.mux = true;
    } else if (arg.starts_with("file:")) {
        s.backend = "file";
        s.path = arg.substr(5);
        validate(opt, s);
        return s;
    } else if (head.starts_with("unix:")) {
        s.backend = "socket";
        s.path = head.substr(5);
    } else if (head.starts_with("tcp:")) {
        s.backend = "socket";
        auto hp = head.substr(4);
        auto colon = hp.rfind(':');
        if (colon == std::string_view::npos) throw error(opt + ": expected tcp:HOST:PORT");
        s.host = hp.substr(0, colon);
        s.port = parse_number<std::uint16_t>(opt, "port", hp.substr(colon + 1));
    } else {
        throw error(opt + ": unknown serial backend");
    }
    apply_options(opt, s, opts, 1);
    validate(opt, s);
    return s;
}

} // namespace qf
