#include "qf/monitor/qmp.hpp"

#include "qf/chardev/backends.hpp"
#include "qf/chardev/chardev.hpp"
#include "qf/machine/session.hpp"
#include "qf/monitor/hmp.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

namespace qf {

namespace {

using json = nlohmann::ordered_json;

// QEMU's formatting: ", " and ": " between members, members in the order
// QEMU writes them (ordered_json keeps insertion order), 4-space indents
// when pretty. Clients parse it; people read it.
void write_json(std::string& out, const json& v, bool pretty, int indent) {
    auto newline = [&](int level) {
        if (!pretty) return;
        out += '\n';
        out.append(static_cast<std::size_t>(level) * 4, ' ');
    };
    if (v.is_object()) {
        if (v.empty()) {
            out += "{}";
            return;
        }
        out += '{';
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!first) out += pretty ? "," : ", ";
            first = false;
            newline(indent + 1);
            out += json(it.key()).dump();
            out += ": ";
            write_json(out, it.value(), pretty, indent + 1);
        }
        newline(indent);
        out += '}';
    } else if (v.is_array()) {
        if (v.empty()) {
            out += "[]";
            return;
        }
        out += '[';
        bool first = true;
        for (const auto& e : v) {
            if (!first) out += pretty ? "," : ", ";
            first = false;
            newline(indent + 1);
            write_json(out, e, pretty, indent + 1);
        }
        newline(indent);
        out += ']';
    } else {
        out += v.dump(-1, ' ', false, json::error_handler_t::replace);
    }
}

json error_of(std::string_view cls, std::string_view desc) {
    json e = json::object();
    e["class"] = cls;
    e["desc"] = desc;
    return e;
}

// The QEMU version we speak for: clients check the greeting's version
// before they use a command.
json version() {
    json q = json::object();
    q["micro"] = 0;
    q["minor"] = 2;
    q["major"] = 7;
    json v = json::object();
    v["qemu"] = q;
    v["package"] = std::string("qforge ") + QF_VERSION;
    return v;
}

struct failure {
    std::string cls, desc;
};

// QEMU 7.2's migration capabilities, in its order.
constexpr const char* migration_capabilities[] = {
    "xbzrle", "rdma-pin-all", "auto-converge", "zero-blocks", "compress", "events", "postcopy-ram", "x-colo",
    "release-ram", "block", "return-path", "pause-before-switchover", "multifd", "dirty-bitmaps",
    "postcopy-blocktime", "late-block-activate", "x-ignore-shared", "validate-uuid", "background-snapshot",
    "zero-copy-send", "postcopy-preempt"};

// An argument as the schema describes it: its type is a builtin (int,
// str, bool, any), an enum or array named in schema_types().
struct param {
    std::string_view name, type;
    bool optional = false;
};

struct command {
    std::string_view name;
    std::vector<param> args;  // every argument it takes
    std::function<json(session&, const json& args)> run;
};

const std::vector<command>& commands();

// Arguments, checked as QEMU's input visitor checks them.
const json& arg(const json& a, const char* name) {
    const auto it = a.find(name);
    if (it == a.end()) throw failure{"GenericError", std::string("Parameter '") + name + "' is missing"};
    return *it;
}
std::int64_t int_arg(const json& a, const char* name) {
    const json& v = arg(a, name);
    if (!v.is_number_integer())
        throw failure{"GenericError", std::string("Invalid parameter type for '") + name + "', expected: integer"};
    return v.is_number_unsigned() ? static_cast<std::int64_t>(v.get<std::uint64_t>()) : v.get<std::int64_t>();
}
std::string string_arg(const json& a, const char* name) {
    const json& v = arg(a, name);
    if (!v.is_string())
        throw failure{"GenericError", std::string("Invalid parameter type for '") + name + "', expected: string"};
    return v.get<std::string>();
}

json query_cpus_fast(session& s) {
    const auto& c = s.control();
    json list = json::array();
    for (unsigned i = 0; i < c.cpus; ++i) {
        json props = json::object();
        props["core-id"] = (i / c.threads) % c.cores;
        props["thread-id"] = i % c.threads;
        props["socket-id"] = i / (c.threads * c.cores);
        json e = json::object();
        e["thread-id"] = s.cpu_thread_id(i);
        e["props"] = props;
        // QEMU's QOM paths: the first CPU is the board's first device, the
        // others come after one more.
        e["qom-path"] = "/machine/unattached/device[" + std::to_string(i == 0 ? 0 : i + 1) + "]";
        e["cpu-index"] = i;
        e["target"] = "x86_64";
        list.push_back(e);
    }
    return list;
}

// Guest memory to a file, 64 KiB at a time: pmemsave's physical memory as
// the CPUs see it (an MMIO region is read through its device, as in QEMU),
// or memsave's virtual memory through a CPU's page tables.
json save_memory(session& s, const json& a, bool physical) {
    const auto addr = static_cast<std::uint64_t>(int_arg(a, "val"));
    const auto size = static_cast<std::uint64_t>(int_arg(a, "size"));
    const std::string file = string_arg(a, "filename");
    unsigned cpu = 0;
    if (!physical && a.contains("cpu-index")) {
        const std::int64_t i = int_arg(a, "cpu-index");
        if (i < 0 || static_cast<std::uint64_t>(i) >= s.control().cpus)
            throw failure{"GenericError", "Invalid parameter 'cpu-index'"};
        cpu = static_cast<unsigned>(i);
    }
    if (!physical && !s.control().debug.read_memory)
        throw failure{"GenericError", "memsave: virtual memory is not readable under this accelerator"};
    std::FILE* f = std::fopen(file.c_str(), "wb");
    if (!f) throw failure{"GenericError", "Could not open '" + file + "': " + std::strerror(errno)};
    std::vector<std::byte> buf(64 << 10);
    bool ok = true;
    for (std::uint64_t done = 0; done < size && ok;) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size - done));
        const std::span<std::byte> chunk(buf.data(), n);
        if (physical) {
            if (s.control().read_phys) s.control().read_phys(addr + done, chunk);
        } else if (!s.control().debug.read_memory(cpu, addr + done, chunk)) {
            std::fclose(f);
            char b[96];
            std::snprintf(b, sizeof b, "Invalid addr 0x%016llx/size %llu specified", static_cast<unsigned long long>(addr),
                          static_cast<unsigned long long>(size));
            throw failure{"GenericError", b};
        }
        ok = std::fwrite(buf.data(), 1, n, f) == n;
        done += n;
    }
    ok = std::fclose(f) == 0 && ok;
    if (!ok) throw failure{"GenericError", "writing memory to '" + file + "' failed"};
    return json::object();
}

// RFC 4648 base64, for ringbuf-read and ringbuf-write's format "base64".
const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = unsigned(std::uint8_t(in[i])) << 16 | unsigned(std::uint8_t(in[i + 1])) << 8 | std::uint8_t(in[i + 2]);
        for (int sh = 18; sh >= 0; sh -= 6) out += b64_alphabet[(v >> sh) & 63];
    }
    if (i < in.size()) {
        unsigned v = unsigned(std::uint8_t(in[i])) << 16;
        if (i + 1 < in.size()) v |= unsigned(std::uint8_t(in[i + 1])) << 8;
        out += b64_alphabet[(v >> 18) & 63];
        out += b64_alphabet[(v >> 12) & 63];
        out += i + 1 < in.size() ? b64_alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

// As QEMU's qbase64_decode: only the alphabet, '=' and newlines are taken;
// then decoded as glib's g_base64_decode does, quads at a time, padding
// shortening the last.
std::string base64_decode(std::string_view in) {
    if (in.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n") != in.npos)
        throw failure{"GenericError", "Base64 data contains invalid characters"};
    std::string out;
    unsigned v = 0, n = 0, pad = 0;
    for (char c : in) {
        if (c == '\n') continue;
        unsigned d = 0;
        if (c == '=') ++pad;
        else d = static_cast<unsigned>(std::strchr(b64_alphabet, c) - b64_alphabet);
        v = v << 6 | d;
        if (++n == 4) {
            const unsigned keep = 3 - std::min(pad, 2u);
            for (unsigned k = 0; k < keep; ++k) out += char((v >> (16 - 8 * k)) & 0xff);
            v = n = pad = 0;
        }
    }
    return out;
}

chardevs::ringbuf& ringbuf_arg(session& s, const json& a) {
    const std::string name = string_arg(a, "device");
    const auto it = s.chardevs().find(name);
    if (it == s.chardevs().end()) throw failure{"GenericError", "Device '" + name + "' not found"};
    auto* r = it->second->as<chardevs::ringbuf>();
    if (!r) throw failure{"GenericError", name + " is not a ringbuf device"};
    return *r;
}

bool base64_format(const json& a) {
    if (!a.contains("format")) return false;
    const std::string f = string_arg(a, "format");
    if (f != "utf8" && f != "base64") throw failure{"GenericError", "Parameter 'format' does not accept value '" + f + "'"};
    return f == "base64";
}

json ringbuf_read(session& s, const json& a) {
    auto& r = ringbuf_arg(s, a);
    const std::int64_t size = int_arg(a, "size");
    const bool b64 = base64_format(a);
    if (size <= 0) throw failure{"GenericError", "size must be greater than zero"};
    const std::string data = r.read(static_cast<std::size_t>(size));
    // utf8: the bytes as they are (QEMU's FIXME: no check for whole
    // characters); what is not UTF-8 becomes U+FFFD as it is written.
    return b64 ? base64_encode(data) : data.substr(0, data.find('\0'));
}

json ringbuf_write(session& s, const json& a) {
    auto& r = ringbuf_arg(s, a);
    std::string data = string_arg(a, "data");
    if (base64_format(a)) data = base64_decode(data);
    else data = data.substr(0, data.find('\0'));  // QEMU takes strlen()
    // Into the ring, as if the guest had written it (QEMU's
    // ringbuf_chr_write): a test feeds ringbuf-read this way.
    r.write(std::as_bytes(std::span(data.data(), data.size())));
    return json::object();
}

json query_chardev(session& s) {
    json list = json::array();
    for (const auto& [id, c] : s.chardevs()) {
        json e = json::object();
        e["frontend-open"] = c->attached();
        e["filename"] = c->filename();
        e["label"] = id;
        list.push_back(e);
    }
    return list;
}

json query_machines(session& s) {
    json list = json::array();
    for (const auto& t : s.control().machine_types) {
        json e = json::object();
        e["hotpluggable-cpus"] = false;  // no CPU hot-plug here
        e["name"] = t.name;
        e["numa-mem-supported"] = false;
        e["default-cpu-type"] = "qemu64-x86_64-cpu";
        if (t.is_default) e["is-default"] = true;
        e["cpu-max"] = t.cpu_max;
        e["deprecated"] = false;
        e["default-ram-id"] = t.default_ram_id;
        if (!t.alias.empty()) e["alias"] = t.alias;
        list.push_back(e);
    }
    return list;
}

json query_cpu_definitions(session& s) {
    json list = json::array();
    for (const auto& name : s.control().cpu_models) {
        json e = json::object();
        e["name"] = name;
        e["typename"] = name + "-x86_64-cpu";
        // Every feature a model lists is emulated (-cpu refuses the rest).
        e["unavailable-features"] = json::array();
        e["static"] = false;
        e["migration-safe"] = name != "max" && name != "host";
        e["deprecated"] = false;
        list.push_back(e);
    }
    return list;
}

json query_pci(session& s) {
    json devices = json::array();
    if (!s.control().pci_devices) throw failure{"GenericError", "PCI is not available on machine " + s.control().machine};
    for (const auto& d : s.control().pci_devices()) {
        json e = json::object();
        e["irq_pin"] = d.irq_pin;
        e["bus"] = d.bus;
        e["qdev_id"] = "";
        if (d.irq_pin) e["irq"] = d.irq_line;
        e["slot"] = d.slot;
        json cls = json::object();
        cls["class"] = d.class_code;
        if (const std::string n = pci_class_name(d.class_code); !n.empty()) cls["desc"] = n;
        e["class_info"] = cls;
        json id = json::object();
        id["device"] = d.device;
        id["subsystem-vendor"] = d.subsystem_vendor;
        id["vendor"] = d.vendor;
        id["subsystem"] = d.subsystem;
        e["id"] = id;
        e["function"] = d.function;
        json regions = json::array();
        for (const auto& r : d.regions) {
            json g = json::object();
            if (!r.io) {
                g["prefetch"] = r.prefetch;
                g["mem_type_64"] = r.mem64;
            }
            g["bar"] = r.bar;
            g["size"] = r.size;
            if (r.address) g["address"] = *r.address;
            else g["address"] = -1;
            g["type"] = r.io ? "io" : "memory";
            regions.push_back(g);
        }
        e["regions"] = regions;
        devices.push_back(e);
    }
    json bus = json::object();
    bus["bus"] = 0;
    bus["devices"] = devices;
    return json::array({bus});
}

// The events this emulator sends, with their data members.
struct event_info {
    std::string_view name;
    std::vector<param> data;
};
const std::vector<event_info>& events() {
    static const std::vector<event_info> list = {
        {"SHUTDOWN", {{"guest", "bool"}, {"reason", "str"}}},
        {"RESET", {{"guest", "bool"}, {"reason", "str"}}},
        {"STOP", {}},
        {"RESUME", {}},
        {"POWERDOWN", {}},
        {"GUEST_PANICKED", {{"action", "str"}, {"info", "any", true}}},
        {"GUEST_CRASHLOADED", {{"action", "str"}, {"info", "any", true}}},
        {"MIGRATION", {{"status", "str"}}},
        {"MIGRATION_PASS", {{"pass", "int"}}},
    };
    return list;
}

// query-qmp-schema: QEMU's SchemaInfo list (docs/devel/qapi-code-gen.rst,
// "Client JSON Protocol introspection") for what is here: every command
// with its arguments' names, types and optionality, every event, and the
// types they name. Object types are named after what they belong to, as
// QEMU names them when it does not mask names; return values are "any".
json qmp_schema() {
    json list = json::array();
    auto object = [&](std::string name, const std::vector<param>& members) {
        json m = json::array();
        for (const auto& p : members) {
            json e = json::object();
            e["name"] = p.name;
            if (p.optional) e["default"] = nullptr;
            e["type"] = p.type;
            m.push_back(e);
        }
        json o = json::object();
        o["name"] = name;
        o["members"] = m;
        o["meta-type"] = "object";
        list.push_back(o);
        return name;
    };
    for (const auto& c : commands()) {
        json e = json::object();
        e["name"] = c.name;
        e["ret-type"] = "any";
        e["meta-type"] = "command";
        e["arg-type"] = object("q_obj_" + std::string(c.name) + "-arg", c.args);
        if (c.name == "qmp_capabilities") e["allow-oob"] = true;
        list.push_back(e);
    }
    for (const auto& ev : events()) {
        json e = json::object();
        e["name"] = ev.name;
        e["meta-type"] = "event";
        e["arg-type"] = object("q_obj_" + std::string(ev.name) + "-arg", ev.data);
        list.push_back(e);
    }
    auto enumeration = [&](std::string_view name, std::vector<std::string_view> values) {
        json e = json::object();
        json m = json::array();
        for (auto v : values) m.push_back(json::object({{"name", v}}));
        e["name"] = name;
        e["members"] = m;
        e["meta-type"] = "enum";
        e["values"] = values;
        list.push_back(e);
    };
    enumeration("QMPCapability", {"oob"});
    enumeration("MigrationCapability", {std::begin(migration_capabilities), std::end(migration_capabilities)});
    object("MigrationCapabilityStatus", {{"capability", "MigrationCapability"}, {"state", "bool"}});
    json caps = json::object();
    caps["name"] = "[MigrationCapabilityStatus]";
    caps["element-type"] = "MigrationCapabilityStatus";
    caps["meta-type"] = "array";
    list.push_back(caps);
    enumeration("DataFormat", {"utf8", "base64"});
    json arr = json::object();
    arr["name"] = "[QMPCapability]";
    arr["element-type"] = "QMPCapability";
    arr["meta-type"] = "array";
    list.push_back(arr);
    for (auto [name, type] : {std::pair{"int", "int"}, {"str", "string"}, {"bool", "boolean"}, {"any", "value"}}) {
        json b = json::object();
        b["name"] = name;
        b["json-type"] = type;
        b["meta-type"] = "builtin";
        list.push_back(b);
    }
    return list;
}

json query_commands() {
    json list = json::array();
    for (const auto& c : commands()) {
        json e = json::object();
        e["name"] = c.name;
        list.push_back(e);
    }
    return list;
}

const std::vector<command>& commands() {
    static const std::vector<command> table = {
        {"qmp_capabilities", {{"enable", "[QMPCapability]", true}}, nullptr},  // the monitor's own
        {"query-version", {}, [](session&, const json&) { return version(); }},
        {"query-commands", {}, [](session&, const json&) { return query_commands(); }},
        {"query-status", {},
         [](session& s, const json&) {
             json r = json::object();
             r["status"] = to_string(s.state().get());
             r["singlestep"] = false;
             r["running"] = s.state().is_running();
             return r;
         }},
        {"query-name", {},
         [](session& s, const json&) {
             json r = json::object();
             if (!s.guest_name().empty()) r["name"] = s.guest_name();
             return r;
         }},
        {"query-kvm", {},
         [](session& s, const json&) {
             json r = json::object();
             const bool on = s.control().accel == "kvm";
             r["enabled"] = on;
             r["present"] = s.control().kvm_built;  // as QEMU: compiled in
             return r;
         }},
        {"query-cpus-fast", {}, [](session& s, const json&) { return query_cpus_fast(s); }},
        {"pmemsave", {{"val", "int"}, {"size", "int"}, {"filename", "str"}}, [](session& s, const json& a) { return save_memory(s, a, true); }},
        {"memsave", {{"val", "int"}, {"size", "int"}, {"filename", "str"}, {"cpu-index", "int", true}},
         [](session& s, const json& a) { return save_memory(s, a, false); }},
        {"human-monitor-command", {{"command-line", "str"}, {"cpu-index", "int", true}},
         [](session& s, const json& a) -> json {
             unsigned cpu = 0;
             if (a.contains("cpu-index")) {
                 const std::int64_t i = int_arg(a, "cpu-index");
                 if (i < 0 || static_cast<std::uint64_t>(i) >= s.control().cpus)
                     throw failure{"GenericError", "Invalid CPU index"};
                 cpu = static_cast<unsigned>(i);
             }
             return crlf(hmp_execute(s, string_arg(a, "command-line"), cpu));
         }},
        {"migrate", {{"uri", "str"}, {"blk", "bool", true}, {"inc", "bool", true}, {"detach", "bool", true}, {"resume", "bool", true}},
         [](session& s, const json& a) -> json {
             if ((a.contains("blk") && a["blk"].get<bool>()) || (a.contains("inc") && a["inc"].get<bool>()))
                 throw failure{"GenericError", "migrate: no block migration here (no disks yet)"};
             if (a.contains("resume") && a["resume"].get<bool>())
                 throw failure{"GenericError", "migrate: resume is for postcopy, which is not supported"};
             try {
                 s.migrate(string_arg(a, "uri"));
             } catch (const std::exception& e) {
                 throw failure{"GenericError", e.what()};
             }
             return json::object();
         }},
        {"migrate-incoming", {{"uri", "str"}},
         [](session& s, const json& a) -> json {
             try {
                 s.migrate_incoming(string_arg(a, "uri"));
             } catch (const std::exception& e) {
                 throw failure{"GenericError", e.what()};
             }
             return json::object();
         }},
        {"query-migrate", {},
         [](session& s, const json&) -> json {
             // QEMU's MigrationInfo, the members that apply: {} before any.
             const auto& m = s.migration();
             json r = json::object();
             if (m.status.empty()) return r;
             r["status"] = m.status;
             if (m.status == "failed") r["error-desc"] = m.error;
             if (m.status == "failed" || m.status == "cancelled") return r;
             r["total-time"] = m.total_ms;
             if (m.status == "completed") r["downtime"] = m.downtime_ms;
             r["setup-time"] = 0;
             r["ram"] = {{"transferred", m.bytes}, {"remaining", m.ram_remaining}, {"total", m.ram_total},
                         {"duplicate", 0}, {"normal", 0}, {"normal-bytes", 0}, {"dirty-sync-count", m.dirty_syncs},
                         {"postcopy-requests", 0}, {"multifd-bytes", 0}, {"pages-per-second", 0},
                         {"precopy-bytes", m.bytes}, {"downtime-bytes", 0}, {"postcopy-bytes", 0},
                         {"dirty-pages-rate", m.dirty_pages_rate}, {"mbps", 0}, {"page-size", 4096}, {"skipped", 0}};
             return r;
         }},
        {"migrate_cancel", {},
         [](session& s, const json&) -> json {
             s.migrate_cancel();
             return json::object();
         }},
        {"migrate-set-capabilities", {{"capabilities", "[MigrationCapabilityStatus]"}},
         [](session& s, const json& a) -> json {
             // QEMU 7.2's capabilities: "events" is ours; the others may be
             // turned off (they are), not on.
             bool events = s.migration_events();
             for (const auto& c : a["capabilities"]) {
                 if (!c.is_object() || !c.contains("capability") || !c["capability"].is_string() || !c.contains("state") ||
                     !c["state"].is_boolean())
                     throw failure{"GenericError", "Invalid parameter type for 'capabilities', expected: MigrationCapabilityStatus"};
                 const std::string name = c["capability"];
                 const bool on = c["state"];
                 if (std::find(std::begin(migration_capabilities), std::end(migration_capabilities), name) ==
                     std::end(migration_capabilities))
                     throw failure{"GenericError", "Parameter 'capability' does not accept value '" + name + "'"};
                 if (name == "events") events = on;
                 else if (on) throw failure{"GenericError", "Migration capability '" + name + "' is not supported here"};
             }
             s.set_migration_events(events);
             return json::object();
         }},
        {"query-migrate-capabilities", {},
         [](session& s, const json&) -> json {
             json r = json::array();
             for (const char* c : migration_capabilities)
                 r.push_back({{"capability", c}, {"state", std::string_view(c) == "events" && s.migration_events()}});
             return r;
         }},
        {"query-chardev", {}, [](session& s, const json&) { return query_chardev(s); }},
        {"query-machines", {}, [](session& s, const json&) { return query_machines(s); }},
        {"query-cpu-definitions", {}, [](session& s, const json&) { return query_cpu_definitions(s); }},
        {"query-pci", {}, [](session& s, const json&) { return query_pci(s); }},
        // No machine here has a drive yet (the IDE controller enumerates
        // without disks): the list is QEMU's under -nodefaults, empty.
        {"query-block", {}, [](session&, const json&) { return json::array(); }},
        {"query-qmp-schema", {}, [](session&, const json&) { return qmp_schema(); }},
        {"ringbuf-read", {{"device", "str"}, {"size", "int"}, {"format", "DataFormat", true}}, [](session& s, const json& a) { return ringbuf_read(s, a); }},
        {"ringbuf-write", {{"device", "str"}, {"data", "str"}, {"format", "DataFormat", true}}, [](session& s, const json& a) { return ringbuf_write(s, a); }},
        {"inject-nmi", {},
         [](session& s, const json&) -> json {
             if (!s.control().inject_nmi) throw failure{"GenericError", "This machine cannot take an NMI"};
             s.control().inject_nmi();
             return json::object();
         }},
        {"stop", {},
         [](session& s, const json&) {
             s.vm_pause();
             return json::object();
         }},
        {"cont", {},
         [](session& s, const json&) -> json {
             try {
                 s.cont();
             } catch (const std::exception& e) {
                 throw failure{"GenericError", e.what()};
             }
             return json::object();
         }},
        {"system_reset", {},
         [](session& s, const json&) {
             if (s.control().system_reset) s.control().system_reset();
             return json::object();
         }},
        {"system_powerdown", {},
         [](session& s, const json&) {
             s.emit_event("POWERDOWN");
             if (s.control().system_powerdown) s.control().system_powerdown();
             return json::object();
         }},
        {"quit", {},
         [](session& s, const json&) {
             s.request_quit();
             return json::object();
         }},
    };
    return table;
}

bool is_keyword(std::string_view t) {
    if (t == "true" || t == "false" || t == "null") return true;
    if (t.empty()) return false;
    std::size_t i = t[0] == '-' ? 1 : 0;
    return i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])) &&
           std::all_of(t.begin() + static_cast<std::ptrdiff_t>(i), t.end(), [](char c) {
               return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' || c == '+' ||
                      c == '-';
           });
}

} // namespace

qmp_monitor::qmp_monitor(session& s, chardev& dev, bool pretty) : s_(s), dev_(dev), pretty_(pretty) {
    dev_.attach(frontend_of(*this));
}

qmp_monitor::~qmp_monitor() { dev_.detach(this); }

std::size_t qmp_monitor::can_receive() { return dev_.pending_output() ? 0 : 4096; }

void qmp_monitor::send(const std::string& json_text) { dev_.write(json_text + "\r\n"); }

void qmp_monitor::chardev_opened(bool open) {
    // Each client starts a session of its own: greeted, not negotiated.
    negotiated_ = false;
    value_.clear();
    depth_ = 0;
    in_string_ = escaped_ = bare_ = dropping_ = single_ = false;
    if (!open) return;
    json g = json::object();
    json q = json::object();
    q["version"] = version();
    q["capabilities"] = json::array({"oob"});
    g["QMP"] = q;
    std::string out;
    write_json(out, g, pretty_, 0);
    send(out);
}

void qmp_monitor::send_event(const std::string& line) {
    if (!negotiated_) return;
    if (!pretty_) return send(line);
    std::string out;
    write_json(out, json::parse(line), true, 0);
    send(out);
}

void qmp_monitor::receive(std::span<const std::byte> data) {
    auto error_reply = [&](std::string_view desc) {
        json r = json::object();
        r["error"] = error_of("GenericError", desc);
        std::string out;
        write_json(out, r, pretty_, 0);
        send(out);
    };
    for (std::byte b : data) {
        const char c = static_cast<char>(b);
        if (b == std::byte{0xff}) {  // QEMU's resynchronisation: the parser starts afresh
            value_.clear();
            depth_ = 0;
            in_string_ = escaped_ = bare_ = single_ = false;
            continue;
        }
        if (bare_) {  // a token outside any object: a scalar or junk
            const bool quoted = value_.front() == '"';
            bool ends = false;
            if (quoted) {
                value_ += c;
                if (escaped_) escaped_ = false;
                else if (c == '\\') escaped_ = true;
                else if (c == '"' && value_.size() > 1) ends = true;
                if (!ends && value_.size() <= max_value) continue;
            } else if (!(std::isspace(static_cast<unsigned char>(c)) || c == '{' || c == '[' || c == '}' ||
                         c == ']' || c == ',' || c == ':' || c == '"')) {
                value_ += c;
                if (value_.size() <= max_value) continue;
            }
            bare_ = false;
            escaped_ = false;
            if (value_.size() > max_value) error_reply("JSON token size limit exceeded");
            else if (quoted ? ends : is_keyword(value_)) error_reply("QMP input must be a JSON object");
            else error_reply("JSON parse error, invalid keyword '" + value_ + "'");
            value_.clear();
            if (quoted || !(c == '{' || c == '[' || c == '}' || c == ']' || c == '"')) continue;
            // The character that ended the token starts the next value.
        }
        if (depth_ == 0) {
            if (std::isspace(static_cast<unsigned char>(c))) continue;
            if (c == '{' || c == '[') {
                value_.assign(1, c);
                depth_ = 1;
                in_string_ = escaped_ = single_ = false;
            } else if (c == '}' || c == ']') {
                error_reply("JSON parse error, expecting value");
            } else if (c == ',' || c == ':') {
                error_reply(std::string("JSON parse error, stray '") + c + "'");
            } else {
                value_.assign(1, c);
                bare_ = true;
                escaped_ = false;
            }
            continue;
        }
        if (in_string_ && single_) {
            // A 'single-quoted' string becomes a JSON one as it is stored.
            if (escaped_) {
                escaped_ = false;
                if (c == '\'') value_.back() = '\'';  // \' is a quote
                else value_ += c;
            } else if (c == '\\') {
                escaped_ = true;
                value_ += c;
            } else if (c == '\'') {
                in_string_ = single_ = false;
                value_ += '"';
            } else if (c == '"') {
                value_ += "\\\"";
            } else {
                value_ += c;
            }
        } else if (in_string_) {
            value_ += c;
            if (escaped_) escaped_ = false;
            else if (c == '\\') escaped_ = true;
            else if (c == '"') in_string_ = false;
        } else if (c == '"' || c == '\'') {
            value_ += '"';
            in_string_ = true;
            single_ = c == '\'';
        } else {
            value_ += c;
            if (c == '{' || c == '[') {
                ++depth_;
            } else if (c == '}' || c == ']') {
                if (--depth_ == 0) {
                    value_complete();
                    continue;
                }
            }
        }
        if (value_.size() > max_value || depth_ > max_depth) {
            // Never buffered without bound, never nested past what a parser
            // can recurse through: the value is dropped, and what follows
            // is parsed afresh.
            const bool deep = depth_ > max_depth;
            value_.clear();
            depth_ = 0;
            in_string_ = escaped_ = single_ = false;
            error_reply(deep ? "JSON nesting depth limit exceeded" : "JSON token size limit exceeded");
        }
    }
}

void qmp_monitor::value_complete() {
    std::string text;
    text.swap(value_);
    depth_ = 0;
    in_string_ = escaped_ = false;
    handle(text);
}

void qmp_monitor::handle(std::string_view text) {
    json reply = json::object();
    json id;
    bool has_id = false;
    auto finish = [&] {
        if (has_id) reply["id"] = id;
        std::string out;
        write_json(out, reply, pretty_, 0);
        send(out);
    };
    auto fail = [&](std::string_view cls, std::string_view desc) {
        reply["error"] = error_of(cls, desc);
        finish();
    };
    const json in = json::parse(text.begin(), text.end(), nullptr, false);
    if (in.is_discarded()) return fail("GenericError", "JSON parse error, expecting value");
    if (!in.is_object()) return fail("GenericError", "QMP input must be a JSON object");
    if (auto it = in.find("id"); it != in.end()) {
        id = *it;
        has_id = true;
    }
    const json* exec = nullptr;
    const json* args = nullptr;
    for (auto it = in.begin(); it != in.end(); ++it) {
        if (it.key() == "execute" || it.key() == "exec-oob") exec = &it.value();
        else if (it.key() == "arguments") args = &it.value();
        else if (it.key() != "id") return fail("GenericError", "QMP input member '" + it.key() + "' is unexpected");
    }
    if (!exec) return fail("GenericError", "QMP input lacks member 'execute'");
    if (!exec->is_string()) return fail("GenericError", "QMP input member 'execute' must be a string");
    if (args && !args->is_object()) return fail("GenericError", "QMP input member 'arguments' must be an object");
    const std::string name = exec->get<std::string>();
    if (!negotiated_ && name != "qmp_capabilities")
        return fail("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
    const auto& table = commands();
    const auto cmd = std::find_if(table.begin(), table.end(), [&](const command& c) { return c.name == name; });
    if (cmd == table.end()) return fail("CommandNotFound", "The command " + name + " has not been found");
    if (name == "qmp_capabilities" && negotiated_)
        return fail("CommandNotFound", "Capabilities negotiation is already complete, command ignored");
    const json no_args = json::object();
    const json& a = args ? *args : no_args;
    for (auto it = a.begin(); it != a.end(); ++it)
        if (std::none_of(cmd->args.begin(), cmd->args.end(), [&](const param& p) { return p.name == it.key(); }))
            return fail("GenericError", "Parameter '" + it.key() + "' is unexpected");
    if (name == "qmp_capabilities") {
        if (auto en = a.find("enable"); en != a.end()) {
            if (!en->is_array()) return fail("GenericError", "Parameter 'enable' expects array");
            for (const auto& cap : *en)
                if (!cap.is_string() || cap != "oob")
                    return fail("GenericError", "Parameter 'enable' does not accept value '" +
                                                    (cap.is_string() ? cap.get<std::string>() : cap.dump()) + "'");
            // Out-of-band execution is offered and accepted: every command
            // here completes at once, in order, so there is nothing to
            // overtake.
        }
        negotiated_ = true;
        reply["return"] = json::object();
        return finish();
    }
    try {
        reply["return"] = cmd->run(s_, a);
    } catch (const failure& f) {
        return fail(f.cls, f.desc);
    }
    finish();
}

} // namespace qf
