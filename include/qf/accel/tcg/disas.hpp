#pragma once
// Disassembly for -d out_asm (host code) and -d in_asm (guest code), with
// Zydis. One instruction a line: "0x<address>:  <bytes>  <text>".
#include <cstddef>
#include <cstdint>
#include <string>

namespace qf::tcg {

enum class disas_mode { x86_16, x86_32, x86_64 };

// Stops at the first undecodable byte, which it prints as ".byte".
std::string disassemble(const void* code, std::size_t size, std::uint64_t address, disas_mode mode = disas_mode::x86_64);

} // namespace qf::tcg
