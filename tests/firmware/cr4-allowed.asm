; CR4 bit by bit, only the bits CPUID allows: comparable with QEMU (cr4.inc).
%define CR4_ALLOWED_ONLY
%include "cr4.inc"
