#pragma once
// A gdbstub: GDB's remote serial protocol on a chardev (-gdb tcp::1234,
// -s), as qemu-system-x86_64's, so `target remote :1234` works the same:
// packets with checksums and acks (or QStartNoAckMode), the target
// description, registers, memory at virtual addresses, breakpoints and
// watchpoints (Z0-Z4), continue and single-step (c, s, vCont), CPUs as
// threads, Ctrl-C, detach and kill. The machine side is a debug_target;
// everything runs on the main loop's thread.
#include "qf/core/runstate.hpp"
#include "qf/machine/debug_target.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace qf {

class chardev;
class session;

class gdb_server {
public:
    gdb_server(session& s, chardev& dev);
    ~gdb_server();
    gdb_server(const gdb_server&) = delete;
    gdb_server& operator=(const gdb_server&) = delete;

    // The chardev frontend.
    std::size_t can_receive();
    void receive(std::span<const std::byte> data);
    void chardev_opened(bool open);

    // The VM stopped; event says why when a CPU stopped for the debugger.
    // GDB, if it waits for the target, hears of it.
    void vm_stopped(run_state why, unsigned cpu, const std::optional<debug_event>& event);
    // The process ends with this status: a waiting GDB is told (W).
    void exiting(int status);

    // QEMU's MAX_PACKET_LENGTH: what qSupported offers as PacketSize.
    static constexpr std::size_t max_packet = 4096;

private:
    void handle(std::string_view p);
    void reply(std::string_view payload);
    void resume();
    const debug_target* target() const;
    std::string stop_reply(int signal, unsigned cpu) const;
    std::string thread_id(unsigned cpu) const;
    // A thread id: -1 all, 0 any, else CPU index + 1; nullopt if bad.
    std::optional<long> parse_thread(std::string_view s) const;
    unsigned cpu_count() const;

    session& s_;
    chardev& dev_;
    enum class rx { idle, data, check1, check2 } rx_ = rx::idle;
    std::string packet_;
    unsigned sum_ = 0, want_ = 0;
    bool escaped_ = false, overflow_ = false;
    bool connected_ = false;
    bool no_ack_ = false;
    bool waiting_ = false;  // GDB resumed the target and waits for a stop reply
    std::string last_;      // the last packet sent, for a '-' to repeat
    unsigned g_cpu_ = 0, c_cpu_ = 0;  // Hg's and Hc's CPUs
    unsigned last_cpu_ = 0;
    bool multiprocess_ = false;  // GDB asked for pPID.TID thread ids
};

} // namespace qf
