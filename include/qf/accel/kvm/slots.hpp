#pragma once
// Guest memory as KVM slots: the address space's flat view, RAM and ROM
// only (MMIO and unassigned space exit to user space), one slot per flat
// segment, so that a higher-priority region (the -bios alias below 1 MiB)
// splits the RAM under it instead of overlapping it, which KVM forbids.
#include "qf/accel/kvm/vm.hpp"
#include "qf/memory/address_space.hpp"

#include <vector>

namespace qf::kvm {

// Throws qf::error when a segment does not start and end on a 4 KiB page,
// or its host memory is not page-aligned (KVM maps whole pages).
std::vector<slot> plan_slots(const address_space& as);

} // namespace qf::kvm
