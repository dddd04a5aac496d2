; CR4 bit by bit, reserved ones too (cr4.inc).
%include "cr4.inc"
