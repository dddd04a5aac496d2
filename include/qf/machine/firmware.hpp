#pragma once
// Firmware lookup (QEMU's os_find_datadir + qemu_find_file) and -bios checks.
#include <cstddef>
#include <string>
#include <vector>

namespace qf {

// The name as given if readable, else the first DIR/name in: the -L dirs,
// the build tree's firmware folder, /usr/share/seabios, /usr/share/qemu.
// Throws qf::error naming the option if none is found.
std::string find_firmware(const std::string& option, const std::string& name,
                          const std::vector<std::string>& datadirs);

// Reads a -bios image: refused if empty, not a multiple of 64 KiB or larger
// than 16 MiB (what fits below 4 GiB on the PC's flash window).
std::vector<std::byte> load_bios_image(const std::string& path);
// The same checks on an image already in memory (name: for messages).
std::vector<std::byte> check_bios_image(const std::string& name, std::vector<std::byte> image);

std::vector<std::byte> read_file(const std::string& option, const std::string& path);

} // namespace qf
