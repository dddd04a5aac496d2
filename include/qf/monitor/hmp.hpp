#pragma once
// The human monitor (QEMU's HMP): a line editor on a chardev (-monitor
// stdio, -monitor unix:..., -mon chardev=ID, and -nographic's stdio, where
// C-a c switches between the serial console and it), the "(qemu) " prompt,
// and QEMU's commands: info status|registers|cpus|mtree|chardev|jit, x and
// xp, p, stop, cont, system_reset, system_powerdown, quit, log, gdbserver,
// memsave, pmemsave, help. hmp_execute runs one command line for QMP's
// human-monitor-command and the gdbstub's qRcmd too. Runs on the main
// loop's thread.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace qf {

class chardev;
class session;

// One command line's output ('\n' line ends); cpu is the monitor's current
// CPU (the cpu command changes it).
std::string hmp_execute(session& s, std::string_view line, unsigned& cpu);
// '\n' as "\r\n": how QEMU's monitor output reaches every client (its
// chardev, QMP's human-monitor-command, gdb's monitor command).
std::string crlf(std::string_view text);

class hmp_monitor {
public:
    hmp_monitor(session& s, chardev& dev);
    ~hmp_monitor();
    hmp_monitor(const hmp_monitor&) = delete;
    hmp_monitor& operator=(const hmp_monitor&) = delete;

    std::size_t can_receive();
    void receive(std::span<const std::byte> data);
    void chardev_opened(bool open);
    void chardev_focus(bool in);

    // A line longer than this is cut there (QEMU's READLINE_CMD_BUF_SIZE).
    static constexpr std::size_t max_line = 4095;

private:
    void greet();
    void prompt();
    void out(std::string_view text);  // '\n' as "\r\n", as QEMU's monitor writes it
    void run_line();

    session& s_;
    chardev& dev_;
    std::string line_;
    unsigned cpu_ = 0;
    bool greeted_ = false;
    bool attaching_ = false;
    bool after_cr_ = false;  // a '\n' right after '\r' ends nothing more
    int esc_ = 0;            // inside an escape sequence (arrow keys): bytes seen
};

} // namespace qf
