#include "qf/accel/tcg/disas.hpp"

#include <Zydis/Zydis.h>

#include <cinttypes>
#include <cstdio>

namespace qf::tcg {

std::string disassemble(const void* code, std::size_t size, std::uint64_t address, disas_mode mode) {
    const ZydisMachineMode zm = mode == disas_mode::x86_64   ? ZYDIS_MACHINE_MODE_LONG_64
                                : mode == disas_mode::x86_32 ? ZYDIS_MACHINE_MODE_LEGACY_32
                                                             : ZYDIS_MACHINE_MODE_REAL_16;
    const auto* p = static_cast<const std::uint8_t*>(code);
    std::string out;
    char line[256];
    std::size_t off = 0;
    while (off < size) {
        ZydisDisassembledInstruction insn;
        if (!ZYAN_SUCCESS(ZydisDisassembleIntel(zm, address + off, p + off, size - off, &insn))) {
            std::snprintf(line, sizeof line, "0x%016" PRIx64 ":  %02x  .byte 0x%02x\n", address + off, p[off], p[off]);
            out += line;
            break;
        }
        std::string bytes;
        for (unsigned i = 0; i < insn.info.length; ++i) {
            char b[4];
            std::snprintf(b, sizeof b, "%02x", p[off + i]);
            bytes += b;
        }
        std::snprintf(line, sizeof line, "0x%016" PRIx64 ":  %-24s %s\n", address + off, bytes.c_str(), insn.text);
        out += line;
        off += insn.info.length;
    }
    return out;
}

} // namespace qf::tcg
