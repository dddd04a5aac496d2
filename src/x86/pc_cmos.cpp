#include "targets/x86/boot/pc_cmos.hpp"

#include "qf/core/error.hpp"

#include <algorithm>

namespace qf::x86 {

namespace {

constexpr std::uint64_t kib = 1024, mib = 1024 * kib;
constexpr std::uint8_t reg_equipment_byte = 0x14;

void put(dev::mc146818_rtc& rtc, unsigned index, std::uint64_t v) {
    rtc.set_cmos(index, static_cast<std::uint8_t>(v));
}

int boot_device_nibble(char c) {
    switch (c) {
    case 'a':
    case 'b': return 0x01;  // floppy
    case 'c': return 0x02;  // hard disk
    case 'd': return 0x03;  // CD-ROM
    case 'n': return 0x04;  // network
    default: return 0;
    }
}

int cmos_fd_drive_type(floppy_drive_type t) {
    switch (t) {
    case floppy_drive_type::f144: return 4;
    case floppy_drive_type::f288: return 5;
    case floppy_drive_type::f120: return 2;
    case floppy_drive_type::none: break;
    }
    return 0;
}

// Type 47, "user defined": the BIOS takes the geometry from the bytes
// that follow.
void cmos_init_hd(dev::mc146818_rtc& rtc, unsigned type_ofs, unsigned info_ofs, const ide_geometry& g) {
    put(rtc, type_ofs, 47);
    put(rtc, info_ofs, g.cylinders);
    put(rtc, info_ofs + 1, g.cylinders >> 8);
    put(rtc, info_ofs + 2, g.heads);
    put(rtc, info_ofs + 3, 0xff);
    put(rtc, info_ofs + 4, 0xff);
    put(rtc, info_ofs + 5, 0xc0 | ((g.heads > 8) << 3));
    put(rtc, info_ofs + 6, g.cylinders);
    put(rtc, info_ofs + 7, g.cylinders >> 8);
    put(rtc, info_ofs + 8, g.sectors);
}

} // namespace

void pc_check_boot_order(std::string_view order) {
    // QEMU's validate_bootdevices first (any machine), then pc's set_boot_dev.
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (order[i] < 'a' || order[i] > 'p') throw error(std::string("Invalid boot device '") + order[i] + "'");
        if (order.find(order[i], i + 1) != std::string_view::npos)
            throw error(std::string("Boot device '") + order[i] + "' was given twice");
    }
    if (order.size() > 3) throw error("Too many boot devices for PC");
    for (char d : order)
        if (boot_device_nibble(d) == 0) throw error(std::string("Invalid boot device for PC: '") + d + "'");
}

void pc_cmos_set_boot_order(dev::mc146818_rtc& rtc, std::string_view order, bool fd_bootchk) {
    constexpr std::size_t max_boot_devices = 3;
    pc_check_boot_order(order);
    std::array<int, max_boot_devices> bds{};
    for (std::size_t i = 0; i < order.size(); ++i) bds[i] = boot_device_nibble(order[i]);
    put(rtc, 0x3d, static_cast<unsigned>(bds[1] << 4 | bds[0]));
    put(rtc, 0x38, static_cast<unsigned>(bds[2] << 4 | (fd_bootchk ? 0x0 : 0x1)));
}

void pc_cmos_set_cpus_count(dev::mc146818_rtc& rtc, unsigned cpus) {
    // Past 255 the BIOS must use fw_cfg's count; 0 makes an old BIOS fail
    // predictably rather than wrap.
    put(rtc, 0x5f, cpus > 0xff ? 0 : cpus - 1);
}

void pc_cmos_set_memory(dev::mc146818_rtc& rtc, std::uint64_t below, std::uint64_t above) {
    std::uint64_t val = std::min<std::uint64_t>(below / kib, 640);
    put(rtc, 0x15, val);
    put(rtc, 0x16, val >> 8);
    val = below > 1 * mib ? (below - 1 * mib) / kib : 0;
    val = std::min<std::uint64_t>(val, 65535);
    put(rtc, 0x17, val);
    put(rtc, 0x18, val >> 8);
    put(rtc, 0x30, val);
    put(rtc, 0x31, val >> 8);
    val = below > 16 * mib ? (below - 16 * mib) / (64 * kib) : 0;
    val = std::min<std::uint64_t>(val, 65535);
    put(rtc, 0x34, val);
    put(rtc, 0x35, val >> 8);
    val = above / 65536;
    put(rtc, 0x5b, val);
    put(rtc, 0x5c, val >> 8);
    put(rtc, 0x5d, val >> 16);
}

void pc_cmos_init(dev::mc146818_rtc& rtc, const pc_cmos_config& c) {
    pc_cmos_set_memory(rtc, c.below_4g_mem_size, c.above_4g_mem_size);  // pc_cmos_init: memory sizes

    pc_cmos_set_boot_order(rtc, c.boot_order, c.fd_bootchk);

    std::uint8_t equipment = 0x02   // FPU
                           | 0x04;  // PS/2 mouse

    // pc_cmos_init_late (the first reset): IDE disks.
    std::uint8_t disks = 0;
    if (c.ide[0]) {
        cmos_init_hd(rtc, 0x19, 0x1b, *c.ide[0]);
        disks |= 0xf0;
    }
    if (c.ide[1]) {
        cmos_init_hd(rtc, 0x1a, 0x24, *c.ide[1]);
        disks |= 0x0f;
    }
    put(rtc, 0x12, disks);
    std::uint8_t trans = 0;
    for (unsigned i = 0; i < 4; ++i)
        if (c.ide[i]) trans |= static_cast<std::uint8_t>((static_cast<unsigned>(c.ide[i]->translation) & 3) << (i * 2));
    put(rtc, 0x39, trans);

    // pc_cmos_init_floppy.
    put(rtc, 0x10, static_cast<unsigned>(cmos_fd_drive_type(c.floppy[0]) << 4 | cmos_fd_drive_type(c.floppy[1])));
    const auto drives = std::count_if(c.floppy.begin(), c.floppy.end(),
                                      [](floppy_drive_type t) { return t != floppy_drive_type::none; });
    if (drives == 1) equipment |= 0x01;       // one drive, ready for boot
    else if (drives == 2) equipment |= 0x41;  // two drives
    put(rtc, reg_equipment_byte, equipment);

    // pc_machine_done.
    pc_cmos_set_cpus_count(rtc, c.boot_cpus);
}

} // namespace qf::x86
