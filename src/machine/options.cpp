#include "qf/machine/options.hpp"
#include "qf/machine/migration.hpp"
#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "qf/machine/size.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <string>

namespace qf {

std::optional<std::string> opt_list::get(std::string_view key) const {
    std::optional<std::string> v;
    for (auto& [k, val] : props)
        if (k == key) v = val;  // the last one wins, as QemuOpts
    return v;
}

opt_list parse_opt_list(std::string_view option, std::string_view arg, std::string_view implied_key) {
    opt_list out;
    bool first = true;
    while (true) {
        // ",," is an escaped comma inside a value.
        std::string item;
        std::size_t i = 0;
        for (; i < arg.size(); ++i) {
            if (arg[i] == ',') {
                if (i + 1 < arg.size() && arg[i + 1] == ',') {
                    item += ',';
                    ++i;
                    continue;
                }
                break;
            }
            item += arg[i];
        }
        arg = i < arg.size() ? arg.substr(i + 1) : std::string_view{};
        auto eq = item.find('=');
        if (first && eq == std::string::npos) {
            if (implied_key.empty()) out.head = item;
            else out.props.emplace_back(std::string(implied_key), item);
        } else if (eq == std::string::npos) {
            if (item.empty())
                throw error(std::string(option) + ": empty parameter in '" + std::string(arg) + "'");
            out.props.emplace_back(item, "on");  // QEMU's "flag" means flag=on
        } else {
            out.props.emplace_back(item.substr(0, eq), item.substr(eq + 1));
        }
        first = false;
        if (arg.empty()) break;
    }
    return out;
}

namespace {

unsigned parse_count(std::string_view option, std::string_view key, std::string_view v) {
    unsigned n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || p != v.data() + v.size())
        throw error(std::string(option) + ": " + std::string(key) + "=" + std::string(v) +
                    ": expected a number");
    return n;
}

// -boot [order=]DRIVES[,menu=on|off]: which drives the BIOS tries, in
// order (a floppy, c disk, d CD-ROM, n network). The letters are the
// board's to check, as QEMU's pc does when it fills the CMOS.
void parse_boot(options& o, std::string_view arg) {
    auto l = parse_opt_list("-boot", arg, "order");
    for (auto& [k, v] : l.props) {
        if (k == "order") o.boot_order = v;
        else if (k == "menu") {
            if (v != "on" && v != "off") throw error("Parameter 'boot.menu' expects 'on' or 'off'");
            o.boot_menu = v == "on";
        } else if (k == "splash-time" || k == "reboot-timeout") {
            std::int64_t n = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc{} || p != v.data() + v.size())
                throw error("Parameter 'boot." + k + "' expects a number");
            (k == "splash-time" ? o.boot_splash_time : o.boot_reboot_timeout) = n;
        } else if (k == "once" || k == "strict" || k == "splash") {
            throw error("-boot " + k + "=: not supported yet");
        } else throw error("Parameter 'boot." + k + "' is unexpected");
    }
}

smp_config parse_smp(std::string_view arg) {
    auto o = parse_opt_list("-smp", arg, "cpus");
    smp_config c;
    for (auto& [k, v] : o.props) {
        unsigned n = parse_count("-smp", k, v);
        if (k == "cpus") c.cpus = n;
        else if (k == "maxcpus") c.maxcpus = n;
        else if (k == "sockets") c.sockets = n;
        else if (k == "dies") c.dies = n;
        else if (k == "cores") c.cores = n;
        else if (k == "threads") c.threads = n;
        else throw error("-smp: invalid parameter '" + k + "'");
        if (n == 0) throw error("-smp: " + k + " must be greater than 0");
    }
    return c;
}

accel_choice parse_accel(std::string_view arg) {
    auto o = parse_opt_list("-accel", arg);
    if (o.head.empty()) throw error("-accel: missing accelerator name");
    accel_choice a{o.head, o.props};
    for (auto& [k, v] : a.props) {
        bool ok = false;
        if (a.name == "tcg")
            ok = k == "tb-size" || k == "thread" || k == "one-insn-per-tb" || k == "split-wx" || k == "interpreter";
        else if (a.name == "kvm")
            ok = k == "kernel-irqchip";
        if (!ok) throw error("-accel " + std::string(arg) + ": invalid parameter '" + k + "'");
    }
    return a;
}

std::vector<accel_choice> split_accels(std::string_view option, std::string_view list) {
    // -machine accel=kvm:tcg
    std::vector<accel_choice> out;
    while (!list.empty()) {
        auto c = list.find(':');
        auto name = list.substr(0, c);
        if (name.empty()) throw error(std::string(option) + ": empty accelerator name");
        out.push_back({std::string(name), {}});
        list = c == std::string_view::npos ? std::string_view{} : list.substr(c + 1);
    }
    return out;
}

struct option_desc {
    std::string_view name;
    bool has_arg;
    std::function<void(options&, std::string_view)> apply;
};

// -qmp DEV, as -serial's DEV, on a chardev of its own (QEMU names them
// compat_monitorN).
void add_monitor(options& o, std::string_view a, bool pretty, bool human) {
    o.default_monitor = false;
    const auto n = std::count_if(o.monitors.begin(), o.monitors.end(), [](const options::monitor& m) { return m.dev.has_value(); });
    auto spec = parse_serial(a, "compat_monitor" + std::to_string(n));
    if (!spec) {
        if (human) return;  // -monitor none
        throw error("-qmp none: there is no monitor to make");
    }
    options::monitor m;
    if (spec->backend.empty()) m.chardev_id = spec->id;  // chardev:ID
    else m.dev = std::move(spec);
    m.pretty = pretty;
    m.human = human;
    o.monitors.push_back(std::move(m));
}

// -gdb DEV: QEMU's gdbserver_start makes a tcp: device a server that does
// not wait (the debugger attaches whenever it likes); the last -gdb wins.
void set_gdb(options& o, std::string_view a) {
    if (a == "none") {
        o.gdb.reset();
        return;
    }
    std::string dev(a);
    if (dev.starts_with("tcp:")) dev += ",wait=off,nodelay=on,server=on";
    auto spec = parse_serial(dev, "gdb");
    if (!spec || spec->backend.empty()) throw error("-gdb " + std::string(a) + ": a chardev of its own is needed (tcp:, unix:, stdio)");
    o.gdb = std::move(spec);
}

const std::vector<option_desc>& option_table() {
    static const std::vector<option_desc> table = {
        {"h", false, [](options& o, auto) { o.help = true; }},
        {"help", false, [](options& o, auto) { o.help = true; }},
        {"version", false, [](options& o, auto) { o.version = true; }},
        {"M", true, nullptr},
        {"machine", true,
         [](options& o, std::string_view a) {
             auto l = parse_opt_list("-machine", a, "type");
             for (auto& [k, v] : l.props) {
                 if (k == "type") o.machine = v;
                 else if (k == "accel") {
                     auto more = split_accels("-machine accel", v);
                     o.accels.insert(o.accels.end(), more.begin(), more.end());
                 } else
                     o.machine_props.emplace_back(k, v);
             }
             if (o.machine == "help" || o.machine == "?") o.machine_help = true;
         }},
        {"cpu", true,
         [](options& o, std::string_view a) {
             if (a.empty()) throw error("-cpu option cannot be empty");
             auto l = parse_opt_list("-cpu", a);
             o.cpu = l.head;
             if (o.cpu == "help" || o.cpu == "?") o.cpu_help = true;
             for (auto& [k, v] : l.props) o.cpu_features.push_back(v == "on" ? k : k + "=" + v);
         }},
        {"accel", true,
         [](options& o, std::string_view a) {
             if (a == "help" || a == "?") {
                 o.accels.push_back({"help", {}});
                 return;
             }
             o.accels.push_back(parse_accel(a));
         }},
        {"m", true, [](options& o, std::string_view a) { o.ram_size = parse_ram_size(a); }},
        {"smp", true, [](options& o, std::string_view a) { o.smp = parse_smp(a); }},
        {"bios", true,
         [](options& o, std::string_view a) {
             if (a.empty()) throw error("could not load PC BIOS ''");  // QEMU's words
             o.bios = a;
         }},
        {"kernel", true, [](options& o, std::string_view a) { o.kernel = a; }},
        {"initrd", true, [](options& o, std::string_view a) { o.initrd = a; }},
        {"append", true, [](options& o, std::string_view a) { o.append = a; }},
        {"L", true, [](options& o, std::string_view a) { o.datadirs.emplace_back(a); }},
        {"fw_cfg", true, [](options& o, std::string_view a) { o.fw_cfg.emplace_back(a); }},
        {"option-rom", true,
         [](options& o, std::string_view a) {
             auto l = parse_opt_list("-option-rom", a, "romfile");
             for (auto& [k, v] : l.props) {
                 if (k == "bootindex") {
                     int n = 0;
                     auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
                     if (ec != std::errc{} || p != v.data() + v.size())
                         throw error("-option-rom " + std::string(a) + ": Parameter 'bootindex' expects a number");
                 } else if (k != "romfile") {
                     throw error("-option-rom " + std::string(a) + ": Invalid parameter '" + k + "'");
                 }
             }
             o.option_roms.push_back(std::move(l));
         }},
        {"rtc", true, [](options& o, std::string_view a) { o.rtc = a; }},
        {"boot", true, [](options& o, std::string_view a) { parse_boot(o, a); }},
        {"serial", true,
         [](options& o, std::string_view a) {
             if (o.serials.size() >= 4) throw error("-serial: too many serial ports (at most 4)");
             o.serials.push_back(parse_serial(a, "serial" + std::to_string(o.serials.size())));
         }},
        {"chardev", true,
         [](options& o, std::string_view a) {
             if (a == "help") {
                 o.chardev_help = true;
                 return;
             }
             auto s = parse_chardev(a);
             for (auto& c : o.chardevs)
                 if (c.id == s.id) throw error("-chardev: duplicate chardev id '" + s.id + "'");
             o.chardevs.push_back(std::move(s));
         }},
        {"gdb", true, [](options& o, std::string_view a) { set_gdb(o, a); }},
        {"s", false, [](options& o, auto) { set_gdb(o, "tcp::1234"); }},
        {"qmp", true, [](options& o, std::string_view a) { add_monitor(o, a, false, false); }},
        {"qmp-pretty", true, [](options& o, std::string_view a) { add_monitor(o, a, true, false); }},
        {"mon", true,
         [](options& o, std::string_view a) {
             auto l = parse_opt_list("-mon", a, "chardev");
             options::monitor m;
             m.human = true;  // QEMU's default mode
             for (auto& [k, v] : l.props) {
                 if (k == "chardev") m.chardev_id = v;
                 else if (k == "mode") {
                     if (v != "control" && v != "readline")
                         throw error("-mon: parameter 'mode' does not accept value '" + v + "'");
                     m.human = v == "readline";
                 } else if (k == "pretty") m.pretty = parse_on_off("-mon", k, v);
                 else throw error("-mon: invalid parameter '" + k + "'");
             }
             if (!l.head.empty() && m.chardev_id.empty()) m.chardev_id = l.head;
             if (m.chardev_id.empty()) throw error("-mon: parameter 'chardev' is missing");
             o.default_monitor = false;
             o.monitors.push_back(std::move(m));
         }},
        {"monitor", true, [](options& o, std::string_view a) { add_monitor(o, a, false, true); }},
        {"name", true,
         [](options& o, std::string_view a) {
             auto l = parse_opt_list("-name", a, "guest");
             for (auto& [k, v] : l.props)
                 if (k == "guest") o.name = v;
                 else if (k != "process" && k != "debug-threads") throw error("-name: invalid parameter '" + k + "'");
             if (!l.head.empty()) o.name = l.head;
         }},
        {"device", true,
         [](options& o, std::string_view a) {
             auto l = parse_opt_list("-device", a);
             if (l.head == "help" || l.head == "?") o.device_help = true;
             else o.devices.push_back(std::move(l));
         }},
        {"nographic", false, [](options& o, auto) { o.nographic = true; }},
        {"display", true,
         [](options& o, std::string_view a) {
             auto l = parse_opt_list("-display", a);
             if (l.head != "none")
                 throw error("-display " + std::string(a) +
                             ": not supported: qforge has no graphical display (use -display none "
                             "or -nographic)");
             o.display_none = true;
         }},
        // The machines here have no display adapter and no network card yet:
        // asking for none is what they already do.
        {"vga", true,
         [](options&, std::string_view a) {
             if (a != "none") throw error("-vga " + std::string(a) + ": not implemented yet (only -vga none)");
         }},
        {"nic", true,
         [](options&, std::string_view a) {
             if (a != "none") throw error("-nic " + std::string(a) + ": networking is not implemented yet (only -nic none)");
         }},
        {"net", true,
         [](options&, std::string_view a) {
             if (a != "none") throw error("-net " + std::string(a) + ": networking is not implemented yet (only -net none)");
         }},
        {"d", true,
         [](options& o, std::string_view a) {
             if (a == "help" || a == "?") o.log_help = true;
             else o.log_mask |= parse_log_items(a);
         }},
        {"D", true,
         [](options& o, std::string_view a) {
             if (a.empty()) throw error("Error opening logfile : No such file or directory");  // QEMU's words
             o.log_file = a;
         }},
        {"S", false, [](options& o, auto) { o.start_stopped = true; }},
        // -action KEY=VALUE,...: QEMU's runstate actions, in command-line
        // order with -no-reboot (reboot=shutdown) and -no-shutdown
        // (shutdown=pause). There is no watchdog device: its action is
        // checked and has nothing to act on.
        {"action", true,
         [](options& o, std::string_view a) {
             auto l = parse_opt_list("-action", a);
             if (!l.head.empty()) l.props.insert(l.props.begin(), {l.head, "on"});  // QEMU's short-form boolean
             for (auto& kv : l.props) {
                 // Named, not structured bindings: clang 14 (AFL++'s and
                 // libFuzzer's compiler) cannot capture those in a lambda.
                 const std::string& k = kv.first;
                 const std::string& v = kv.second;
                 auto refuse = [&] {
                     throw error("-action " + std::string(a) + ": Parameter '" + k + "' does not accept value '" + v +
                                 "'");
                 };
                 if (k == "panic") {
                     if (v == "pause") o.panic = panic_action::pause;
                     else if (v == "shutdown") o.panic = panic_action::shutdown;
                     else if (v == "exit-failure") o.panic = panic_action::exit_failure;
                     else if (v == "none") o.panic = panic_action::none;
                     else refuse();
                 } else if (k == "shutdown") {
                     if (v != "poweroff" && v != "pause") refuse();
                     o.no_shutdown = v == "pause";
                 } else if (k == "reboot") {
                     if (v != "reset" && v != "shutdown") refuse();
                     o.no_reboot = v == "shutdown";
                 } else if (k == "watchdog") {
                     static constexpr std::string_view actions[] = {"reset", "shutdown", "poweroff", "inject-nmi",
                                                                    "pause", "debug", "none"};
                     if (std::find(std::begin(actions), std::end(actions), v) == std::end(actions)) refuse();
                 } else {
                     throw error("-action " + std::string(a) + ": Invalid parameter '" + k + "'");
                 }
             }
         }},
        {"no-reboot", false, [](options& o, auto) { o.no_reboot = true; }},
        {"no-hpet", false, [](options& o, auto) { o.machine_props.emplace_back("hpet", "off"); }},
        {"no-shutdown", false, [](options& o, auto) { o.no_shutdown = true; }},
        {"nodefaults", false, [](options& o, auto) { o.nodefaults = true; }},
        {"pidfile", true,
         [](options& o, std::string_view a) {
             if (a.empty()) throw error("cannot create PID file: Could not create '': No such file or directory");
             o.pidfile = a;
         }},
        {"daemonize", false, [](options& o, auto) { o.daemonize = true; }},
        {"vmstate-file", true,
         [](options& o, std::string_view a) {
             if (a.empty()) throw error("-vmstate-file: a file name is needed");
             o.vmstate_file = a;
         }},
        {"loadvm", true,
         [](options& o, std::string_view a) {
             if (a.empty()) throw error("-loadvm: a snapshot name is needed");
             o.loadvm = a;
         }},
        {"incoming", true,
         [](options& o, std::string_view a) {
             if (a != "defer") migration::check_uri(a);
             o.incoming = a;
         }},
    };
    return table;
}

} // namespace

options parse_command_line(int argc, const char* const* argv) {
    options o;
    const auto& table = option_table();
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg.size() < 2 || arg[0] != '-')
            throw error(std::string(arg) + ": invalid option (a disk image argument is not supported)");
        std::string_view name = arg.substr(arg[1] == '-' ? 2 : 1);  // --opt is -opt, as QEMU
        const option_desc* d = nullptr;
        for (auto& e : table)
            if (e.name == name) d = &e;
        if (!d) throw error("-" + std::string(name) + ": invalid option");
        std::string_view value;
        if (d->has_arg) {
            if (i + 1 >= argc) throw error("-" + std::string(name) + ": requires an argument");
            value = argv[++i];
        }
        if (name == "M") name = "machine";
        for (auto& e : table)
            if (e.name == name) d = &e;
        d->apply(o, value);
    }
    if (o.daemonize && o.nographic) throw error("-nographic cannot be used with -daemonize");
    // A daemon has no terminal: stdio anywhere is refused (QEMU's words),
    // which also keeps the user's terminal out of raw mode.
    if (o.daemonize) {
        for (auto& c : o.chardevs)
            if (c.backend == "stdio") throw error("-chardev stdio,id=" + c.id + ": cannot use stdio with -daemonize");
        for (auto& s : o.serials)
            if (s && s->backend == "stdio")
                throw error(std::string("-serial ") + (s->mux ? "mon:stdio" : "stdio") + ": cannot use stdio with -daemonize");
        for (auto& m : o.monitors)
            if (m.dev && m.dev->backend == "stdio")
                throw error(std::string(m.human ? "-monitor" : "-qmp") + " stdio: cannot use stdio with -daemonize");
        if (o.gdb && o.gdb->backend == "stdio") throw error("-gdb stdio: cannot use stdio with -daemonize");
    }
    return o;
}

std::string version_text(std::string_view program) {
    return std::string(program) + " (qforge) version " QF_VERSION
                                  "\nA statically wired x86 PC emulator with QEMU's command line.\n";
}

std::string usage_text(std::string_view program) {
    return "usage: " + std::string(program) + R"( [options]

Standard options:
-h, -help                display this help and exit
-version                 display version information and exit
-machine, -M TYPE[,accel=A[:A...]][,hpet=on|off]  select the machine (-M help lists them); hpet: machine pc
-cpu MODEL               select the CPU model (-cpu help lists them)
-accel NAME[,prop=value] select an accelerator: tcg or kvm (give -accel more than once to fall back)
-m [size=]SIZE           guest RAM, default 128 MiB; suffixes K, M, G, T (plain number: MiB)
-smp [cpus=]N[,maxcpus=M][,sockets=S][,cores=C][,threads=T]  number of vCPUs
-L DIR                   search DIR for firmware first
-bios FILE               firmware image, mapped at the top of 4 GiB
-fw_cfg [name=]NAME,file=PATH|string=STR  add a file for the firmware to read (machine pc)
-option-rom FILE[,bootindex=N]  an option ROM for the BIOS to run (machine pc: fw_cfg genroms/)
-rtc [base=utc|localtime|DATE][,clock=host|rt|vm][,driftfix=none|slew]  the RTC's date and clock (machine pc)
-boot [order=]DRIVES[,menu=on|off][,splash-time=MS][,reboot-timeout=MS]  boot order for the BIOS: a floppy, c disk, d CD-ROM, n network (machine pc)
-kernel FILE             Linux kernel image
-initrd FILE             initial ram disk
-append CMDLINE          kernel command line
-serial DEV              connect the next serial port to DEV: stdio, null, none, pty, file:PATH,
                         tcp:HOST:PORT[,server=on][,wait=off], unix:PATH[,server=on][,wait=off],
                         mon:stdio, chardev:ID
-chardev BACKEND,id=ID[,...]  create a character device: stdio, file (path=), null,
                         socket (host=,port= or path=; server=on[,wait=off]), pty, ringbuf (size=)
-device DRIVER[,prop=value]   add a device (-device help lists them)
-qmp DEV                 a QMP monitor on DEV (as -serial's: unix:PATH,server=on,wait=off,
                         tcp:HOST:PORT,server=on,wait=off, stdio, chardev:ID)
-qmp-pretty DEV          the same, its JSON indented
-mon chardev=ID[,mode=readline|control][,pretty=on]  a human (readline) or QMP (control) monitor on a -chardev
-monitor DEV             the human monitor on DEV (as -serial's); under -nographic it shares stdio (C-a c)
-gdb DEV                 a gdbstub on DEV (tcp::PORT, unix:PATH,server=on,wait=off, stdio)
-s                       the same as -gdb tcp::1234
-name NAME               the guest's name (QMP's query-name)
-nographic               no display; serial port 0 on stdio (C-a h for help, C-a x to quit)
-display none            no display
-vga none, -nic none, -net none  accepted: no display adapter or network card here yet
-nodefaults              no default devices (no serial port unless -serial names one)
-d ITEM[,...]            enable logging of the given items (-d help lists them)
-D FILE                  write the log to FILE instead of stderr
-S                       do not start the CPUs at start-up
-no-reboot               exit instead of rebooting
-no-hpet                 no HPET (machine pc; the same as -machine hpet=off)
-no-shutdown             stop, rather than exit, when the guest shuts down
-action panic=pause|shutdown|exit-failure|none  what a guest panic (pvpanic) does [default=shutdown];
                         also reboot=reset|shutdown, shutdown=poweroff|pause, watchdog=... (no watchdog device)
-pidfile FILE            write the process id to FILE and hold a lock on it
-daemonize               detach from the terminal once started
-incoming URI|defer      take the machine's state from a migration (exec:CMD, unix:PATH,
                         tcp:[HOST]:PORT) before starting it (TCG); defer: from the URI
                         of QMP's migrate-incoming
-vmstate-file FILE       where savevm, loadvm, delvm and info snapshots keep snapshots (TCG)
-loadvm NAME             start from snapshot NAME of -vmstate-file
)";
}

} // namespace qf
