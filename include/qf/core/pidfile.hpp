#pragma once
// -pidfile FILE: the file holds our pid and a lock for as long as we run, so
// a second instance given the same file refuses to start (QEMU's
// qemu_create_pidfile). The file is removed on orderly exit.
#include <string>

namespace qf {

class pidfile {
public:
    explicit pidfile(const std::string& path);  // throws qf::error
    ~pidfile();
    pidfile(const pidfile&) = delete;
    pidfile& operator=(const pidfile&) = delete;

    const std::string& path() const { return path_; }

private:
    std::string path_;  // absolute: -daemonize changes directory
    int fd_ = -1;
};

} // namespace qf
