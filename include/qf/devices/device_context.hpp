#pragma once
// What a device may ask of the machine when it is constructed: timers, its
// chardev, its IRQ line, the exit request. The machine fills one in; a test
// that drives a device directly fills one in too.
#include "qf/chardev/chardev.hpp"
#include "qf/core/fair_mutex.hpp"
#include "qf/core/runstate.hpp"
#include "qf/core/timer.hpp"
#include "qf/devices/irq.hpp"
#include "qf/machine/debug_target.hpp"
#include "qf/memory/address_space.hpp"
#include "qf/memory/io_map.hpp"

#include <cstdint>
#include <functional>

namespace qf {

// What a guest reports through pvpanic.
enum class guest_panic_event : std::uint8_t {
    panicked,      // QEMU's qemu_system_guest_panicked
    crash_loaded,  // qemu_system_guest_crashloaded: GUEST_CRASHLOADED, the guest runs on
};

struct device_context {
    timer_lists* timers = nullptr;
    // The chardev for the next serial port (in device order), nullptr for
    // "-serial none".
    std::function<chardev*()> next_serial;
    // A chardev by -chardev id; throws qf::error if there is none.
    std::function<chardev*(std::string_view id)> chardev_by_id;
    // The input of the machine's interrupt controller for a GSI.
    std::function<irq_line(unsigned gsi)> irq;
    // isa-debug-exit: end the process with this status once the CPU stops.
    std::function<void(int status)> request_exit;
    // The guest shut down (S5, or a reset under -no-reboot): ends the run
    // with status 0, or under -no-shutdown stops the VM and leaves the
    // process running (QEMU's qemu_system_shutdown_request). Unset: the
    // same as request_exit(0). The cause goes to QMP's SHUTDOWN event.
    std::function<void(shutdown_cause)> request_shutdown;
    // The machine reset itself (a guest's request, or QMP's system_reset):
    // QMP's RESET event. Optional.
    std::function<void(shutdown_cause)> reset_done;
    // The guest panicked (pvpanic): QMP's GUEST_PANICKED, then what
    // -action panic= says (stop, shut down, or nothing); or it loaded a
    // crash kernel: GUEST_CRASHLOADED only. Optional: unset, pvpanic takes
    // a panic for a guest-caused shutdown (request_shutdown).
    std::function<void(guest_panic_event)> guest_panic;
    // A CPU stopped for the debugger (session::debug_stop). Optional.
    std::function<void(unsigned cpu, debug_event why)> debug_stop;
    // The machine lock, for a vCPU that runs in a thread of its own (KVM):
    // held while devices are touched, let go while the guest runs. Null
    // where the CPU shares the main loop's thread.
    fair_mutex* big_lock = nullptr;
    // Guest memory as a bus master sees it (address_space::dma_read/
    // dma_write): fw_cfg's DMA, disk controllers, virtio rings.
    const address_space* memory = nullptr;
    // Where a device maps what the guest places (PCI BARs): the system
    // address space and the run-time port map.
    address_space* mmio = nullptr;
    io_map* ports = nullptr;
};

} // namespace qf
