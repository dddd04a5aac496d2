// CPU models: CPUID comes from the model, -cpu's feature syntax adjusts it,
// and instructions of features a model lacks raise #UD (or, where the SDM
// says so, run as the older instruction they extend).
#include "flat_rig.hpp"

#include "qf/core/error.hpp"

#include <catch2/catch.hpp>
#include <algorithm>
#include <vector>

using namespace qf::x86;

namespace {

struct outcome {
    vcpu::stop why;
    int vector;
    std::uint64_t regs[16];
    std::uint64_t rip;
};

// Runs `code` (then HLT) at 0x100000 under `model`, from the given registers.
outcome run(const cpu_model& model, std::vector<std::uint8_t> code, std::uint64_t rax = 0, std::uint64_t rcx = 0) {
    test::flat64 m(16 << 20, {}, model);
    code.push_back(0xf4);
    m.load(0x100000, code.data(), code.size());
    m.enter(0x100000);
    m.st().regs[R_EAX] = rax;
    m.st().regs[R_ECX] = rcx;
    m.st().tsc_aux = 0x1234'5678;
    const auto why = m.run();
    outcome o{why, m.cpu().last_exception(), {}, m.st().rip};
    std::copy(std::begin(m.st().regs), std::end(m.st().regs), o.regs);
    return o;
}

} // namespace

TEST_CASE("instructions of features the model lacks raise #UD") {
    const std::vector<std::uint8_t> popcnt = {0xf3, 0x48, 0x0f, 0xb8, 0xc1};  // popcnt rax, rcx
    const std::vector<std::uint8_t> rdtscp = {0x0f, 0x01, 0xf9};
    const std::vector<std::uint8_t> movbe = {0x0f, 0x38, 0xf0, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00};  // movbe eax, [0x200000]

    auto r = run(cpu::max::def, popcnt, 0, 0xf0f0);
    CHECK(r.why == vcpu::stop::halted);
    CHECK(r.regs[R_EAX] == 8);
    r = run(cpu::qemu64::def, popcnt, 0, 0xf0f0);
    CHECK(r.why == vcpu::stop::exception);
    CHECK(r.vector == 6);
    CHECK(r.rip == 0x100000);

    r = run(cpu::max::def, rdtscp);
    CHECK(r.why == vcpu::stop::halted);
    CHECK(r.regs[R_ECX] == 0x1234'5678);
    r = run(cpu::qemu64::def, rdtscp);
    CHECK(r.why == vcpu::stop::exception);
    CHECK(r.vector == 6);

    CHECK(run(cpu::max::def, movbe).why == vcpu::stop::halted);
    r = run(cpu::qemu64::def, movbe);
    CHECK(r.why == vcpu::stop::exception);
    CHECK(r.vector == 6);

    // -cpu max,-popcnt takes it away again.
    r = run(apply_features(cpu::max::def, {"-popcnt"}), popcnt);
    CHECK(r.why == vcpu::stop::exception);
    CHECK(r.vector == 6);
}

TEST_CASE("LZCNT runs as BSR without ABM and TZCNT as BSF without BMI1") {
    const std::vector<std::uint8_t> lzcnt = {0xf3, 0x48, 0x0f, 0xbd, 0xc1};  // lzcnt rax, rcx
    CHECK(run(cpu::max::def, lzcnt, 0, 0x100).regs[R_EAX] == 55);
    CHECK(run(cpu::qemu64::def, lzcnt, 0, 0x100).regs[R_EAX] == 8);  // the index of the top bit
    const std::vector<std::uint8_t> tzcnt = {0xf3, 0x48, 0x0f, 0xbc, 0xc1};  // tzcnt rax, rcx
    CHECK(run(cpu::max::def, tzcnt, 77, 0).regs[R_EAX] == 64);  // the width for 0
    CHECK(run(cpu::qemu64::def, tzcnt, 77, 0).regs[R_EAX] == 77);  // BSF leaves it
    // ANDN (VEX, BMI1) is #UD on qemu64.
    const std::vector<std::uint8_t> andn = {0xc4, 0xe2, 0xf0, 0xf2, 0xc2};  // andn rax, rcx, rdx
    const auto r = run(cpu::qemu64::def, andn);
    CHECK(r.why == vcpu::stop::exception);
    CHECK(r.vector == 6);
    CHECK(run(cpu::max::def, andn).why == vcpu::stop::halted);
}

TEST_CASE("CPUID answers from the model and its features") {
    const cpu_model q = cpu::qemu64::def;
    CHECK(cpuid(q, 0, 0).eax == 0xd);
    CHECK(cpuid(q, 1, 0).eax == 0x60fb1);  // family 15, model 107, stepping 1
    CHECK(cpuid(q, 1, 0).edx == 0x078b'fbfd);
    CHECK(cpuid(q, 0x8000'0001, 0).edx == 0x2193'fbfd);  // with AMD's copies of the leaf 1 bits
    const cpu_model no_nx = apply_features(q, {"-nx", "pse=off"});
    CHECK((cpuid(no_nx, 0x8000'0001, 0).edx & (1u << 20)) == 0);
    CHECK((cpuid(no_nx, 1, 0).edx & (1u << 3)) == 0);
    CHECK((cpuid(no_nx, 0x8000'0001, 0).edx & (1u << 3)) == 0);
    // Past the highest leaf, the highest basic leaf answers (as Intel's do).
    CHECK(cpuid(q, 0x4000, 0).eax == cpuid(q, 0xd, 0).eax);
    CHECK(cpuid(cpu::max::def, 1, 0).ecx & (1u << 23));  // POPCNT
}

TEST_CASE("the feature syntax of -cpu: unknown and unimplemented features are errors") {
    using Catch::Matchers::Contains;
    CHECK(apply_features(cpu::max::def, {"-rdtscp"}).features.has(feat::rdtscp) == false);
    CHECK(apply_features(cpu::qemu64::def, {"+rdtscp"}).features.has(feat::rdtscp));
    CHECK(apply_features(cpu::qemu64::def, {"popcnt=on"}).features.has(feat::popcnt));
    CHECK_THROWS_WITH(apply_features(cpu::qemu64::def, {"+nosuch"}), Contains("unknown CPU feature 'nosuch'"));
    CHECK_THROWS_WITH(apply_features(cpu::qemu64::def, {"+avx512f"}), Contains("not implemented yet"));
    CHECK_THROWS_WITH(apply_features(cpu::qemu64::def, {"avx2=on"}), Contains("'avx2' is not implemented yet"));
    CHECK(apply_features(cpu::qemu64::def, {"sse4_2=on"}).features.has(feat::sse4_2));  // QEMU's alias of sse4.2
    CHECK_THROWS_WITH(apply_features(cpu::qemu64::def, {"popcnt=maybe"}), Contains("expected on or off"));
    using models = cpu::models<cpu::qemu64, cpu::max>;
    CHECK(models::select("", {}).name == "qemu64");
    CHECK(models::select("max", {}).name == "max");
    CHECK_THROWS_WITH(models::select("pentium9", {}), Contains("unknown CPU model"));
    CHECK_THAT(models::help(), Contains("x86 max") && Contains("popcnt"));
}
