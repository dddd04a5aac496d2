#pragma once
// savevm's store: named snapshots of the machine's state stream in one file
// (-vmstate-file), where QEMU keeps them in a qcow2 disk's internal
// snapshots (no machine here has a qcow2 disk yet). The file is rewritten
// whole, through a temporary and a rename, so a crash leaves the old one.
//
//   "QFSNAPS1", then per snapshot: u16 name length, name, u64 date (s since
//   the epoch), u64 guest time (ns), u64 stream length, the stream
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace qf {

struct vm_snapshot {
    std::string name;
    std::uint64_t date_s = 0, vm_clock_ns = 0;
    std::vector<std::byte> stream;
};

// The snapshots in path; none when it does not exist yet. Throws qf::error
// for a file that is not one.
std::vector<vm_snapshot> read_snapshot_file(const std::string& path);
void write_snapshot_file(const std::string& path, const std::vector<vm_snapshot>& snaps);
// QEMU's `info snapshots` table.
std::string format_snapshots(const std::vector<vm_snapshot>& snaps);

} // namespace qf
