#pragma once
// A QMP client for the command-line tests: one JSON message a line on a
// unix socket, read with timeouts so that a silent emulator fails a test
// instead of hanging it.
#include "process.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <poll.h>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace qft {

class qmp_client {
public:
    using json = nlohmann::json;

    // Connects, retrying while the emulator starts.
    explicit qmp_client(const std::string& path) {
        REQUIRE(wait_for([&] { return (fd_ = connect_unix(path)) >= 0; }));
    }
    ~qmp_client() { close(); }
    qmp_client(const qmp_client&) = delete;
    qmp_client& operator=(const qmp_client&) = delete;
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    void send(std::string_view s) {
        while (!s.empty()) {
            const ssize_t n = ::write(fd_, s.data(), s.size());
            REQUIRE(n > 0);
            s.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    // The next line without its CR LF, or nullopt at EOF or after
    // timeout_ms with none.
    std::optional<std::string> line(int timeout_ms = 10000) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (true) {
            if (auto nl = buf_.find('\n'); nl != std::string::npos) {
                std::string l = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                if (!l.empty() && l.back() == '\r') l.pop_back();
                return l;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
            char b[65536];
            const ssize_t n = ::read(fd_, b, sizeof b);
            if (n <= 0) return std::nullopt;
            buf_.append(b, static_cast<std::size_t>(n));
        }
    }
    // The next message, or nullopt at EOF or after timeout_ms with none.
    std::optional<json> next(int timeout_ms = 10000) {
        auto l = line(timeout_ms);
        if (!l) return std::nullopt;
        return json::parse(*l);
    }
    // The next message, which must come.
    json message(int timeout_ms = 10000) {
        auto m = next(timeout_ms);
        REQUIRE(m);
        return *m;
    }
    // A command's events and its reply (the last), in the order they came.
    std::vector<json> command(std::string_view text) {
        send(std::string(text) + "\n");
        std::vector<json> got;
        do got.push_back(message());
        while (!got.back().contains("return") && !got.back().contains("error"));
        return got;
    }

private:
    int fd_ = -1;
    std::string buf_;
};

} // namespace qft
