#include "qf/machine/snapshot_file.hpp"

#include "qf/core/error.hpp"
#include "qf/core/strprintf.hpp"
#include "qf/machine/vmstate.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>

namespace qf {

namespace {
constexpr char magic[8] = {'Q', 'F', 'S', 'N', 'A', 'P', 'S', '1'};
}

std::vector<vm_snapshot> read_snapshot_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        // Only a file that is not there yet holds no snapshots: one that
        // cannot be read must not be replaced by savevm's new one alone.
        if (errno == ENOENT) return {};
        throw error(errno_message("snapshots: reading " + path));
    }
    const std::vector<char> raw{std::istreambuf_iterator<char>(f), {}};
    const auto bytes = std::as_bytes(std::span(raw));
    vmstate::bytes_in in("", bytes);
    if (bytes.size() < sizeof magic || std::memcmp(bytes.data(), magic, sizeof magic) != 0)
        throw error("snapshots: " + path + " is not a qforge snapshot file");
    in.take(sizeof magic);
    std::vector<vm_snapshot> out;
    try {
        while (!in.empty()) {
            vm_snapshot s;
            s.name = in.get_string();
            s.date_s = in.get<std::uint64_t>();
            s.vm_clock_ns = in.get<std::uint64_t>();
            const auto n = in.get<std::uint64_t>();
            if (n > bytes.size()) in.fail("cut short");
            const auto st = in.take(static_cast<std::size_t>(n));
            s.stream.assign(st.begin(), st.end());
            out.push_back(std::move(s));
        }
    } catch (const error& e) {
        throw error("snapshots: " + path + ": " + e.what());
    }
    return out;
}

void write_snapshot_file(const std::string& path, const std::vector<vm_snapshot>& snaps) {
    vmstate::bytes_out o;
    o.put_bytes(std::as_bytes(std::span(magic)));
    for (const auto& s : snaps) {
        o.put_string(s.name);
        o.put(s.date_s);
        o.put(s.vm_clock_ns);
        o.put(static_cast<std::uint64_t>(s.stream.size()));
        o.put_bytes(s.stream);
    }
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(o.buf.data()), static_cast<std::streamsize>(o.buf.size()));
        f.flush();
        if (!f) throw error(errno_message("snapshots: writing " + tmp));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw error(errno_message("snapshots: renaming " + tmp));
}

std::string format_snapshots(const std::vector<vm_snapshot>& snaps) {
    if (snaps.empty()) return "There is no snapshot available.\n";
    std::string out = "List of snapshots present on all disks:\n";
    out += strprintf("%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
    unsigned id = 1;
    for (const auto& s : snaps) {
        char date[32];
        const std::time_t t = static_cast<std::time_t>(s.date_s);
        std::tm tm{};
        localtime_r(&t, &tm);
        std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
        const std::uint64_t ms = s.vm_clock_ns / 1'000'000;
        const std::string size = s.stream.size() >= (1u << 20)
                                     ? strprintf("%.1f MiB", static_cast<double>(s.stream.size()) / (1 << 20))
                                     : strprintf("%.1f KiB", static_cast<double>(s.stream.size()) / 1024);
        out += strprintf("%-10u%-17s%8s%20s%4llu:%02llu:%02llu.%03llu%11s\n", id++, s.name.c_str(), size.c_str(), date,
                         static_cast<unsigned long long>(ms / 3'600'000), static_cast<unsigned long long>(ms / 60'000 % 60),
                         static_cast<unsigned long long>(ms / 1000 % 60), static_cast<unsigned long long>(ms % 1000), "");
    }
    return out;
}

} // namespace qf
