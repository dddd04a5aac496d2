#!/bin/sh
# run-qemu.sh [EXTRA ARGS...]: assemble mbtest.bin, run it the way the
# expected outputs were made, print the kernel's report (from its first line
# on; the firmware's console output before it is cut) and exit with the
# emulator's status (33 when every check passed).
#
#   tests/multiboot/run-qemu.sh                    # compare with mbtest-smp1.expected
#   tests/multiboot/run-qemu.sh -smp 4             # compare with mbtest-smp4.expected
#   tests/multiboot/run-qemu.sh -smp 4 -accel tcg,thread=single
#
# -vga none -nic none: the PCI list holds only what qforge's pc has too.
# QEMU=path runs another emulator with the same command line (qforge);
# FULL=1 prints the whole of stdout instead. The emulator runs in a
# scratch directory holding mbtest.bin, mod1.txt and mod2.txt, so that the
# file names it passes in the multiboot command lines are the bare ones.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
nasm -f bin -w+all -w+error -I "$here/" -o "$work/mbtest.bin" "$here/mbtest.asm"
cp "$here/mod1.txt" "$here/mod2.txt" "$work/"
cd "$work"
set +e
"${QEMU:-qemu-system-x86_64}" -M pc -vga none -nic none -nographic -kernel mbtest.bin \
    -append "a=1 b=two" -initrd "mod1.txt arg1,mod2.txt" \
    -fw_cfg name=opt/qf/test,string=hello \
    -device isa-debug-exit,iobase=0xf4,iosize=4 "$@" </dev/null >stdout
rc=$?
if [ "${FULL:-0}" = 1 ]; then
    cat stdout
else
    sed -n '/^mbtest: multiboot device report$/,$p' stdout
fi
exit $rc
