#pragma once
// The command line, in QEMU's syntax, parsed into plain values. Parsing knows
// no machine type; what a given machine accepts (-smp bounds, -device names)
// is checked when that machine is built.
#include "qf/chardev/spec.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qf {

// "driver,key=value,flag" as QEMU's QemuOpts reads it.
struct opt_list {
    std::string head;  // the implied first value (driver, backend, size...)
    std::vector<std::pair<std::string, std::string>> props;
    std::optional<std::string> get(std::string_view key) const;
};
opt_list parse_opt_list(std::string_view option, std::string_view arg, std::string_view implied_key = {});

struct smp_config {
    unsigned cpus = 0, maxcpus = 0, sockets = 0, dies = 0, cores = 0, threads = 0;  // 0: unset
    // The CPUs started: cpus=, else sockets x cores x threads (each 1 when unset).
    unsigned cpu_count() const {
        return cpus ? cpus : (sockets ? sockets : 1) * (cores ? cores : 1) * (threads ? threads : 1);
    }
};

struct accel_choice {
    std::string name;  // tcg, kvm
    std::vector<std::pair<std::string, std::string>> props;
};

// -action panic=: what a guest panic does (QEMU's PanicAction). shutdown
// (the default) stops the VM as -no-shutdown says: a guest-caused
// shutdown, or under -no-shutdown a pause.
enum class panic_action : std::uint8_t { shutdown, pause, exit_failure, none };

struct options {
    // Requests that print something and exit 0.
    bool help = false, version = false, machine_help = false, cpu_help = false,
         device_help = false, log_help = false, chardev_help = false;

    std::string machine;  // empty: the default
    std::vector<std::pair<std::string, std::string>> machine_props;
    std::string cpu;
    std::vector<std::string> cpu_features;
    std::vector<accel_choice> accels;  // tried in order (-accel kvm -accel tcg)
    std::uint64_t ram_size = 128ull << 20;
    std::optional<smp_config> smp;
    unsigned cpu_count() const { return smp ? smp->cpu_count() : 1; }
    std::string bios, kernel, initrd, append;
    // Not from the command line: a -bios image already in memory (an
    // embedding harness's); when set, bios is only its name in messages.
    std::vector<std::byte> bios_image;
    std::vector<std::string> datadirs;  // -L
    std::vector<std::string> fw_cfg;    // -fw_cfg, as given (the board reads the files)
    std::vector<opt_list> option_roms;  // -option-rom [romfile=]FILE[,bootindex=N]
    std::string rtc;                    // -rtc, as given (the board's RTC parses it)
    std::string boot_order = "cad";     // -boot order= (QEMU's default for pc)
    bool boot_menu = false;             // -boot menu=on
    std::optional<std::int64_t> boot_splash_time, boot_reboot_timeout;  // -boot splash-time=, reboot-timeout= (ms)
    std::vector<chardev_spec> chardevs;
    std::vector<std::optional<chardev_spec>> serials;  // nullopt: -serial none
    std::vector<opt_list> devices;
    // -qmp/-qmp-pretty and -monitor (a chardev of their own,
    // "compat_monitorN") and -mon chardev=ID[,mode=control|readline]: QMP
    // and human monitors.
    struct monitor {
        std::optional<chardev_spec> dev;  // its own chardev; else chardev_id names one
        std::string chardev_id;
        bool pretty = false;
        bool human = false;  // mode=readline: the human monitor
    };
    std::vector<monitor> monitors;
    // No -monitor, -mon, -qmp or -nodefaults: under -nographic a human
    // monitor shares stdio with the serial port (C-a c), as QEMU's.
    bool default_monitor = true;
    // -gdb DEV (-s: tcp::1234): the gdbstub's chardev; none without.
    std::optional<chardev_spec> gdb;
    std::string name;  // -name: query-name's answer
    bool nographic = false, display_none = false, nodefaults = false;
    std::uint32_t log_mask = 0;
    std::string log_file;
    bool start_stopped = false, no_reboot = false, no_shutdown = false, daemonize = false;
    panic_action panic = panic_action::shutdown;  // -action panic=
    std::string pidfile;
    std::string incoming;  // -incoming URI: the state comes from a migration
    std::string vmstate_file;  // -vmstate-file: where savevm keeps snapshots
    std::string loadvm;        // -loadvm NAME: start from that snapshot
};

// Throws qf::error with a one-line message naming the option.
options parse_command_line(int argc, const char* const* argv);

std::string usage_text(std::string_view program);
std::string version_text(std::string_view program);

} // namespace qf
