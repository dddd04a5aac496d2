#pragma once
// A character device: a byte stream between a guest-side frontend (a UART,
// debugcon) and a host-side backend. The backends form a closed type list;
// -chardev picks one by name at run time and the chardev holds it in a
// std::variant, so dispatch is a switch, never a virtual call.
#include "qf/chardev/spec.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace qf {

class main_loop;
class chardev;

// The guest side, type-erased by frontend_of<Device>() (no virtual calls):
// can_receive says how many bytes the device can take now (flow control),
// receive hands them over.
// opened says a peer arrived (a socket's client; at attach, a backend that
// is always open) or left: QEMU's CHR_EVENT_OPENED and CHR_EVENT_CLOSED,
// which a monitor greets or forgets its session on. Optional.
struct chardev_frontend {
    std::size_t (*can_receive)(void* dev) = nullptr;
    void (*receive)(void* dev, std::span<const std::byte> data) = nullptr;
    void* dev = nullptr;
    void (*opened)(void* dev, bool open) = nullptr;
    // A mux chardev (mon:stdio, -nographic's stdio) gave this frontend the
    // input (C-a c), or took it away: QEMU's CHR_EVENT_MUX_IN/OUT. Optional.
    void (*focus)(void* dev, bool in) = nullptr;
};

template <class Device>
chardev_frontend frontend_of(Device& d) {
    chardev_frontend fe{[](void* p) { return static_cast<Device*>(p)->can_receive(); },
                        [](void* p, std::span<const std::byte> b) { static_cast<Device*>(p)->receive(b); }, &d};
    if constexpr (requires { d.chardev_opened(true); })
        fe.opened = [](void* p, bool open) { static_cast<Device*>(p)->chardev_opened(open); };
    if constexpr (requires { d.chardev_focus(true); })
        fe.focus = [](void* p, bool in) { static_cast<Device*>(p)->chardev_focus(in); };
    return fe;
}

// Things outside the chardev that a backend may need to reach.
struct chardev_env {
    main_loop* loop = nullptr;
    std::function<void()> request_quit;  // stdio mux: Ctrl-A x
};

namespace chardevs {
class stdio;
class file;
class null;
class socket;
class pty;
class ringbuf;
} // namespace chardevs

class chardev {
public:
    chardev(const chardev_spec& spec, chardev_env env);  // throws qf::error
    ~chardev();
    chardev(const chardev&) = delete;
    chardev& operator=(const chardev&) = delete;

    const std::string& id() const { return id_; }
    const std::string& backend_name() const { return backend_name_; }
    // What it is connected to, as QEMU's info chardev says it
    // ("stdio", "unix:PATH,server=on", "tcp:HOST:PORT,server=on", ...).
    const std::string& filename() const { return filename_; }

    // Guest output. Never blocks indefinitely: a backend with no peer (a
    // socket without a client) drops the bytes, as QEMU does.
    void write(std::span<const std::byte> data);
    void write(std::string_view s) { write(std::as_bytes(std::span(s.data(), s.size()))); }

    // Connect the guest side; input flows once attached. A mux chardev
    // takes up to max_mux frontends, the last attached with the input
    // (as QEMU's, where the serial port attaches after the monitor);
    // C-a c passes it on. Others have one.
    void attach(chardev_frontend fe);
    // dev: the frontend to go (any other stays on a mux); nullptr: all.
    void detach(const void* dev = nullptr);
    bool attached() const { return fe_.dev != nullptr; }
    bool mux() const { return mux_; }
    // Whether another frontend may attach (a mux with room).
    bool shareable() const { return mux_ && fes_.size() < max_mux; }
    // C-a c: the next frontend gets the input.
    void mux_next();
    static constexpr std::size_t max_mux = 4;
    // The frontend has room again (qemu_chr_fe_accept_input).
    void accept_input();

    // For backends: how much the frontend takes now, and delivery.
    std::size_t can_receive() const { return fe_.dev ? fe_.can_receive(fe_.dev) : 0; }
    void deliver(std::span<const std::byte> data) {
        if (fe_.dev) fe_.receive(fe_.dev, data);
    }
    void peer_event(bool open) {
        if (fe_.dev && fe_.opened) fe_.opened(fe_.dev, open);
    }
    // Whether a peer is there now (a socket's client; always for the rest).
    bool connected();
    // Bytes written that the peer has not taken yet (a socket's).
    std::size_t pending_output();

    // Typed access for tests and embedders: nullptr if another backend.
    template <class Backend>
    Backend* as();

    struct impl;

private:
    std::string id_;
    std::string backend_name_;
    std::string filename_;
    chardev_frontend fe_;  // the one with the input
    bool mux_ = false;
    std::vector<chardev_frontend> fes_;  // a mux's, in attach order
    std::size_t focus_ = 0;
    std::unique_ptr<impl> impl_;
};

// Names of the compiled-in backends, for -chardev help.
std::string chardev_backends_help();

} // namespace qf
