#pragma once
// QEMU's firmware configuration device, x86 I/O-port flavour ("fw_cfg_io",
// hw/nvram/fw_cfg.c; the guest's view is QEMU's docs/specs/fw_cfg.rst):
// a selector, a byte-wide data port and the DMA interface, over a table of
// numbered entries and named files that the machine fills before the guest
// runs. SeaBIOS reads the RAM size, the CPU count, the e820 map and its
// option ROMs from here.
//
// The guest-visible state (selector, offset, DMA address) is in
// state_type; the entries are configuration, set again by the machine when
// it is built, as QEMU rebuilds them on the destination of a migration.
#include "qf/devices/device_context.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qf::dev {

// The selector values every architecture shares (QEMU's
// include/standard-headers/linux/qemu_fw_cfg.h).
namespace fw_cfg_key {
inline constexpr std::uint16_t signature = 0x00, id = 0x01, uuid = 0x02, ram_size = 0x03, nographic = 0x04,
                               nb_cpus = 0x05, machine_id = 0x06, kernel_addr = 0x07, kernel_size = 0x08,
                               kernel_cmdline = 0x09, initrd_addr = 0x0a, initrd_size = 0x0b, boot_device = 0x0c,
                               numa = 0x0d, boot_menu = 0x0e, max_cpus = 0x0f, kernel_entry = 0x10,
                               kernel_data = 0x11, initrd_data = 0x12, cmdline_addr = 0x13, cmdline_size = 0x14,
                               cmdline_data = 0x15, setup_addr = 0x16, setup_size = 0x17, setup_data = 0x18,
                               file_dir = 0x19, file_first = 0x20;
inline constexpr std::uint16_t write_channel = 0x4000, arch_local = 0x8000,
                               entry_mask = static_cast<std::uint16_t>(~(write_channel | arch_local)),
                               invalid = 0xffff;
} // namespace fw_cfg_key

// Bits of the DMA control word (big-endian in guest memory).
namespace fw_cfg_dma {
inline constexpr std::uint32_t error = 0x01, read = 0x02, skip = 0x04, select = 0x08, write = 0x10;
} // namespace fw_cfg_dma

// A directory entry's name field: 56 bytes, NUL-terminated.
inline constexpr std::size_t fw_cfg_max_file_path = 56;

struct fw_cfg_state {
    BOOST_HANA_DEFINE_STRUCT(fw_cfg_state,
        (std::uint16_t, cur_entry),   // the selector as written; fw_cfg_key::invalid when out of range
        (std::uint32_t, cur_offset),  // the next byte the data port or a DMA read returns
        (std::uint64_t, dma_addr));   // the descriptor address being written, high half first
    bool operator==(const fw_cfg_state&) const = default;
};

class fw_cfg_io {
public:
    static constexpr std::string_view name = "fw_cfg_io";
    // One range for what QEMU maps as three: the selector/data pair at
    // 510-511, nothing at 512-513, the DMA address at 514-51b. The bus
    // splits an access that leaves a device's range into bytes, which
    // would turn QEMU's rejected "in ax, 0x511" into a data read; with one
    // range the device sees each access whole and applies QEMU's checks.
    static constexpr std::array ports{port_range{0x510, 12}};
    // QEMU's default x-file-slots since 2.9: at most 32 files.
    static constexpr std::uint16_t file_slots = 0x20;
    static constexpr std::uint32_t max_entry = fw_cfg_key::file_first + file_slots;
    using state_type = fw_cfg_state;

    using select_callback = std::function<void()>;
    // A DMA write stored [offset, offset + len) of the entry.
    using write_callback = std::function<void(std::uint32_t offset, std::uint32_t len)>;

    // DMA is offered (and FW_CFG_ID says so) when ctx.memory is set. The
    // signature and the ID are added here, as fw_cfg_common_realize does;
    // the rest comes from the machine (add_common_entries, add_pc_entries).
    explicit fw_cfg_io(device_context& ctx);

    // Selects the signature, as QEMU's device reset. Once the directory
    // exists, also rewrites "bootorder" and "bios-geometry" from the
    // providers below, as QEMU's fw_cfg_machine_reset does at every
    // system reset (adding them, empty, at the first).
    // A loaded state's registers: null if they could be this device's, else why not.
    const char* check_loaded_state() const {
        if (s_.cur_entry == fw_cfg_key::invalid) return nullptr;
        const auto& table = entries_[(s_.cur_entry & fw_cfg_key::arch_local) ? 1 : 0];
        return (s_.cur_entry & fw_cfg_key::entry_mask) < table.size() ? nullptr : "the selected item is not one there is";
    }
    void reset();
    void pio_read(std::uint16_t offset, std::span<std::byte> data);
    void pio_write(std::uint16_t offset, std::span<const std::byte> data);
    state_type& state() { return s_; }
    bool dma_enabled() const { return memory_ != nullptr; }

    // The boot device list (QEMU's get_boot_devices_list: paths separated
    // by '\n', NUL-terminated; empty when no device has a bootindex) and
    // the LCHS geometry list. Unset: empty.
    std::function<std::vector<std::byte>()> boot_order_list, bios_geometry_list;

    // --- Building the table (machine init). Keys out of range or added
    // twice are programming errors (std::logic_error), as QEMU asserts.
    void add_bytes(std::uint16_t key, std::vector<std::byte> data);
    // Little-endian, as QEMU's fw_cfg_add_i16/i32/i64.
    void add_i16(std::uint16_t key, std::uint16_t v);
    void add_i32(std::uint16_t key, std::uint32_t v);
    void add_i64(std::uint16_t key, std::uint64_t v);
    // With its terminating NUL, as fw_cfg_add_string.
    void add_string(std::uint16_t key, std::string_view s);
    // Replace (or set) a numbered entry; it becomes read-only, without
    // callbacks (fw_cfg_modify_bytes_read).
    void modify_bytes(std::uint16_t key, std::vector<std::byte> data);
    void modify_i16(std::uint16_t key, std::uint16_t v);
    void modify_i32(std::uint16_t key, std::uint32_t v);
    void modify_i64(std::uint16_t key, std::uint64_t v);

    struct file_options {
        bool read_only = true;  // false: a DMA write may store into it
        select_callback on_select;
        write_callback on_write;
    };
    // Inserted in name order (strcmp, as QEMU for every non-legacy machine
    // type), so the keys of the files after it move up by one. Throws
    // qf::error "duplicate fw_cfg file name: NAME", or when the 32 slots
    // are taken; a name of 56 bytes or more is a std::logic_error.
    void add_file(std::string filename, std::vector<std::byte> data) {
        add_file(std::move(filename), std::move(data), {});
    }
    void add_file(std::string filename, std::vector<std::byte> data, file_options opts);
    // Replaces a file's contents and size (read-only, callbacks dropped), or
    // adds it read-only if there is none, as fw_cfg_modify_file.
    void modify_file(std::string_view filename, std::vector<std::byte> data);

    // --- Read-back (tests, and code that builds on earlier entries).
    // The entry's bytes; empty for an absent one.
    std::span<const std::byte> entry(std::uint16_t key) const;
    bool has_entry(std::uint16_t key) const;
    std::optional<std::uint16_t> file_key(std::string_view filename) const;
    std::optional<std::span<const std::byte>> file(std::string_view filename) const;
    // In directory order.
    const std::vector<std::string>& file_names() const { return files_; }

private:
    struct entry_slot {
        std::vector<std::byte> data;
        bool present = false;
        bool allow_write = false;
        select_callback on_select;
        write_callback on_write;
    };
    entry_slot& slot(std::uint16_t key);
    const entry_slot* current() const;
    entry_slot* current();
    void select(std::uint16_t key);
    std::uint8_t data_read();
    void dma_transfer();
    void rebuild_directory();

    fw_cfg_state s_{};
    const address_space* memory_;
    std::array<std::vector<entry_slot>, 2> entries_;  // [0] generic, [1] arch-local
    std::vector<std::string> files_;                  // directory order: files_[i] is key 0x20 + i
};

// What fw_cfg_common_realize adds from the machine's options.
struct fw_cfg_common_config {
    std::array<std::uint8_t, 16> uuid{};  // -uuid, in the order it is written
    bool nographic = false;               // -nographic / graphics=off
    bool boot_menu = false;               // -boot menu=on
    std::optional<std::int64_t> splash_time;     // -boot splash-time=: "etc/boot-menu-wait"
    std::optional<std::int64_t> reboot_timeout;  // -boot reboot-timeout=, unset: -1
};
// FW_CFG_UUID, FW_CFG_NOGRAPHIC, FW_CFG_BOOT_MENU, "etc/boot-menu-wait"
// (with a splash time) and "etc/boot-fail-wait". Out-of-range times are a
// qf::error worded as QEMU's. (-boot splash=FILE is not supported.)
void add_common_entries(fw_cfg_io& fw, const fw_cfg_common_config& c);

// -fw_cfg [name=]NAME,file=PATH or -fw_cfg [name=]NAME,string=STR.
struct fw_cfg_user_entry {
    std::string option;  // the argument as given, for messages
    std::string name;
    std::vector<std::byte> data;
};
// Reads the file now. Errors are qf::error with QEMU's wording, prefixed
// with "-fw_cfg ARG: "; a name outside "opt/" gets QEMU's warning on
// stderr. A string is stored without its NUL, as QEMU does.
fw_cfg_user_entry parse_fw_cfg_option(std::string_view arg);
// add_file, with a duplicate name reported against the option.
void add_user_entry(fw_cfg_io& fw, const fw_cfg_user_entry& e);

} // namespace qf::dev
