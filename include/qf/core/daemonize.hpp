#pragma once
// -daemonize (QEMU's os_daemonize/os_setup_post): the parent waits until the
// daemon has finished starting and exits 0, or 1 if start-up failed, so the
// caller's exit status tells whether the VM is up.
namespace qf {

class daemonizer {
public:
    // Forks; returns in the daemon only. The original process waits for
    // ready() (exit 0) or for the daemon to die first (exit 1).
    void detach();
    // Start-up done: leave the terminal, release the waiting parent.
    void ready();

private:
    int pipe_fd_ = -1;
};

} // namespace qf
