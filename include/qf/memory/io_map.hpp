#pragma once
// Port ranges whose base the guest decides at run time (PCI I/O BARs,
// PIIX4's power-management block). They answer before the machine's static
// devices, as QEMU maps BARs over ISA ports at a higher priority; a bitmap
// of the ports they cover keeps that one bit test for every other port.
// Entries are made once and mapped, moved or unmapped by the device that
// owns them.
#include "qf/memory/bus.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace qf {

struct io_ops {
    void (*read)(void* dev, std::uint16_t offset, std::span<std::byte> data) = nullptr;
    void (*write)(void* dev, std::uint16_t offset, std::span<const std::byte> data) = nullptr;
    void* dev = nullptr;
};

class io_map {
public:
    using id = std::size_t;
    id add(std::string name, std::uint16_t length, io_ops ops);
    // Maps entry i at base (nullopt: unmapped). A range that would wrap
    // past 0xffff is left unmapped.
    void map(id i, std::optional<std::uint16_t> base);
    std::optional<std::uint16_t> base_of(id i) const { return entries_.at(i).base; }

    // The whole access inside one mapped entry: true, handled.
    bool read(std::uint16_t port, std::span<std::byte> data) const;
    bool write(std::uint16_t port, std::span<const std::byte> data) const;
    bool empty() const { return mapped_ == 0; }
    // Whether a mapped entry starts at or covers port.
    bool covers(std::uint16_t port) const { return covered_[port >> 6] >> (port & 63) & 1; }

private:
    struct entry {
        std::string name;
        std::uint16_t length;
        io_ops ops;
        std::optional<std::uint16_t> base;
        std::uint64_t mapped_at = 0;  // when it was last mapped: the latest wins an overlap
    };
    const entry* find(std::uint16_t port, std::size_t size) const;
    std::vector<entry> entries_;
    std::size_t mapped_ = 0;
    std::uint64_t maps_ = 0;
    std::array<std::uint64_t, 1024> covered_{};
};

} // namespace qf
