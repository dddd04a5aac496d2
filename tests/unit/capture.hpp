#pragma once
// Test captures of what goes out while a test runs.
//
// log_capture: what the log writes for one item (guest_errors, ...) in a file
// of this process's own, for a test to read back; the mask and the log
// file are put back when it goes.
#include "qf/core/log.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace qft {

struct log_capture {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("qf_unit_log_" + std::to_string(getpid()) + ".log");
    std::uint32_t old_mask = qf::log_mask();
    explicit log_capture(qf::log_item item = qf::log_item::guest_errors) {
        qf::set_log_file(path.string());
        qf::set_log_mask(static_cast<std::uint32_t>(item));
    }
    ~log_capture() {
        qf::set_log_mask(old_mask);
        qf::set_log_file("");
        std::filesystem::remove(path);
    }
    log_capture(const log_capture&) = delete;
    log_capture& operator=(const log_capture&) = delete;
    std::string text() {
        qf::flush_log();
        std::ifstream f(path);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }
};

// What is written to file descriptor 2 meanwhile (warnings a device or a
// loader prints on stderr).
struct stderr_capture {
    char path[32] = "/tmp/qf-stderr.XXXXXX";
    int saved, fd;
    stderr_capture() : saved(::dup(2)), fd(::mkstemp(path)) { ::dup2(fd, 2); }
    stderr_capture(const stderr_capture&) = delete;
    stderr_capture& operator=(const stderr_capture&) = delete;
    std::string text() {
        std::string s(4096, '\0');
        const auto n = ::pread(fd, s.data(), s.size(), 0);
        s.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
        return s;
    }
    ~stderr_capture() {
        ::dup2(saved, 2);
        ::close(saved);
        ::close(fd);
        ::unlink(path);
    }
};

} // namespace qft
