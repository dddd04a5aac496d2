#pragma once
// A bare 64-bit flat machine for front-end tests: RAM at 0, a vCPU put
// straight into 64-bit mode (paging off, as the tests set it up), no
// devices but the ports a test gives it. run() goes until HLT or an
// exception.
#include "targets/x86/vcpu.hpp"

#include "qf/memory/ram.hpp"

#include <cstring>
#include <memory>

namespace qf::x86::test {

// The engine options the tests run both backends with.
inline tcg::engine_options options_for(tcg::backend be) {
    tcg::engine_options o;
    o.be = be;
    o.tb_size_mib = 16;
    return o;
}

class flat64 {
public:
    explicit flat64(std::uint64_t ram_size = 64 << 20, tcg::engine_options opt = {}, const cpu_model& model = cpu::max::def,
                    io_bus io = {})
        : ram_(ram_size, "test ram") {
        as_.add({"ram", {0}, ram_.size(), region_kind::ram, ram_.data()});
        cpu_ = std::make_unique<vcpu>(as_, io, model, translate_config{}, opt);
        cpu_->stop_on_exceptions(true);
    }

    std::byte* ram() { return ram_.data(); }
    std::uint64_t ram_size() const { return ram_.size(); }
    vcpu& cpu() { return *cpu_; }
    state& st() { return cpu_->st(); }

    void load(std::uint64_t at, const void* bytes, std::size_t n) { std::memcpy(ram_.data() + at, bytes, n); }

    // Reset, then 64-bit mode at rip with the given flags; flat data segments.
    void enter(std::uint64_t rip, std::uint64_t flags = 2) {
        cpu_->reset();
        state& s = cpu_->st();
        s.rip = rip;
        s.cr[0] = 0x6000'0011;            // PE
        s.cr[4] = (1u << 9) | (1u << 10);  // OSFXSR, OSXMMEXCPT: SSE on, with #XM
        s.efer = (1u << 8) | (1u << 10);  // LME, LMA
        for (unsigned r : {R_DS, R_ES, R_SS, R_FS, R_GS})
            s.segs[r] = {0, 0xffff'ffff, 0x10,
                         static_cast<std::uint16_t>(seg_attr::present | seg_attr::s | seg_attr::writable |
                                                    seg_attr::accessed | seg_attr::db | seg_attr::g)};
        s.segs[R_CS] = {0, 0xffff'ffff, 8,
                        static_cast<std::uint16_t>(seg_attr::present | seg_attr::s | seg_attr::code | seg_attr::accessed |
                                                   seg_attr::g | seg_attr::l)};
        load_eflags(s, flags, ~(eflags_bit::vm | eflags_bit::rf));
        compute_hflags(s);
    }

    vcpu::stop run() { return cpu_->run(); }

private:
    host_memory ram_;
    address_space as_;
    std::unique_ptr<vcpu> cpu_;
};

} // namespace qf::x86::test
