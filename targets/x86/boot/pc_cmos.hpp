#pragma once
// The CMOS bytes QEMU 7.2's pc board writes for the BIOS (hw/i386/pc.c:
// pc_cmos_init, set_boot_dev, pc_cmos_init_late, pc_cmos_init_floppy;
// hw/i386/x86.c: x86_rtc_set_cpus_count). SeaBIOS sizes RAM from 17-18,
// 34-35 and 5B-5D, counts on at least 5F+1 CPUs, and takes the floppy and
// disk types from here.
//
//   10     floppy drive types, drive 0 high nibble (0 none, 2 1.2M, 4 1.44M, 5 2.88M)
//   12     hard disk types, 0 high (F: see 19), 1 low (F: see 1A)
//   14     equipment: 02 FPU, 04 PS/2 mouse, 01 (41) one (two) floppy drives
//   15-16  base memory in KiB, at most 640
//   17-18  memory above 1 MiB in KiB, capped at FFFF (copied to 30-31)
//   19,1A  hard disk 0 and 1 type (47: user-defined, geometry at 1B and 24)
//   1B-23, 24-2C  their geometry: cylinders, heads, FFFF (precompensation),
//          control, landing zone, sectors
//   34-35  memory from 16 MiB to 4 GiB in 64 KiB units, capped at FFFF
//   38     third boot device (high nibble), bit 0 set: no floppy signature check
//   39     BIOS CHS translation of IDE 0-3, two bits each
//   3D     first (low nibble) and second boot device: 1 floppy, 2 disk, 3 CD, 4 network
//   5B-5D  memory above 4 GiB in 64 KiB units
//   5F     CPUs at start - 1 (0 when more than 255)
// The date (00-09, century at 32, read through 37 too) is the RTC's own.
#include "qf/devices/mc146818_rtc.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qf::x86 {

// What a drive reports (QEMU's FloppyDriveType). QEMU's default command
// line gives pc an empty drive 0 of type 2.88M (the floppy device's
// fallback), so CMOS 10 reads 50 and 14 has bit 0; -nodefaults leaves the
// controller without drives: 10 is 00.
enum class floppy_drive_type : std::uint8_t { none, f144, f288, f120 };

// The BIOS CHS translation as CMOS 39 stores it (QEMU's
// BIOS_ATA_TRANSLATION_* - 1).
enum class ata_translation : std::uint8_t { none = 0, lba = 1, large = 2, rechs = 3 };

// An IDE hard disk's physical geometry as ide_get_geometry gives it
// (1-16383 cylinders, 1-16 heads, 1-63 sectors). CD-ROMs have none.
struct ide_geometry {
    std::uint16_t cylinders;
    std::uint8_t heads, sectors;
    ata_translation translation = ata_translation::none;
};

struct pc_cmos_config {
    std::uint64_t below_4g_mem_size = 128ull << 20;
    std::uint64_t above_4g_mem_size = 0;
    unsigned boot_cpus = 1;
    std::string boot_order = "cad";  // -boot order=, QEMU's default
    bool fd_bootchk = true;          // false with -no-fd-bootchk
    std::array<floppy_drive_type, 2> floppy{};
    std::array<std::optional<ide_geometry>, 4> ide{};  // primary master, slave, secondary master, slave
};

// Everything QEMU's pc writes into the NVRAM, by the end of its first
// reset. Throws qf::error for a boot order QEMU's pc rejects.
void pc_cmos_init(dev::mc146818_rtc& rtc, const pc_cmos_config& c);

// The checks QEMU makes of -boot order= on pc, without writing anything:
// qf::error "Invalid boot device 'x'", "Boot device 'x' was given twice",
// "Too many boot devices for PC", "Invalid boot device for PC: 'x'".
void pc_check_boot_order(std::string_view order);

// 3D and 38 alone (QEMU's set_boot_dev, also its boot_set handler: -boot
// once= changes the order for one boot). Throws qf::error "Too many boot
// devices for PC" / "Invalid boot device for PC: 'x'".
void pc_cmos_set_boot_order(dev::mc146818_rtc& rtc, std::string_view order, bool fd_bootchk = true);

// 5F (x86_rtc_set_cpus_count), again after a CPU hotplug.
void pc_cmos_set_cpus_count(dev::mc146818_rtc& rtc, unsigned cpus);
// The memory sizes (15-18, 30-31, 34-35, 5B-5D): pc's, and all that QEMU's
// microvm writes (microvm_set_rtc).
void pc_cmos_set_memory(dev::mc146818_rtc& rtc, std::uint64_t below_4g, std::uint64_t above_4g);

} // namespace qf::x86
