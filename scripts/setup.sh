#!/usr/bin/env bash
# Installs what wirt's build and tests need on a fresh Debian machine:
# the wasm32-wasip2 and x86_64-unknown-none Rust targets (rustup does not
# fetch them by itself when RUSTUP_AUTO_INSTALL=0; the second builds the KVM
# driver's test guest), Debian's libvirt client tools, which the tests use as
# the reference (virsh, virt-xml-validate, python3-libvirt), and qemu-utils
# (qemu-img, qemu-io). scripts/test.sh runs the tests with WIRT_TEST_STRICT=1
# after this: a test missing one of these fails.
# Safe to run again: it only installs what is missing.
set -euo pipefail

for target in wasm32-wasip2 x86_64-unknown-none; do
  if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    rustup target add "$target"
  fi
done

need=()
command -v virt-xml-validate >/dev/null 2>&1 || need+=(libvirt-clients)
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
# The KVM driver's network tests make namespaces and taps with iproute2; the
# guest end-to-end network test serves DHCP from dnsmasq in a namespace.
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v dnsmasq >/dev/null 2>&1 || need+=(dnsmasq-base)
# kvm: networks: the bridge network driver writes its firewall with nft.
command -v nft >/dev/null 2>&1 || need+=(nftables)
# benches/compare-qemu-net.py pings the guests from the host's side.
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
# <interface type='user'> on kvm: runs on passt.
command -v passt >/dev/null 2>&1 || need+=(passt)
# The wirtd tests drive the daemon with python-libvirt as well as virsh.
/usr/bin/python3 -c 'import libvirt' >/dev/null 2>&1 || need+=(python3-libvirt)
# qemu-img and qemu-io check the qcow2 images the storage drivers write.
command -v qemu-img >/dev/null 2>&1 && command -v qemu-io >/dev/null 2>&1 || need+=(qemu-utils)
# The C example plugin (plugins/examples/c-storage): clang for wasm32, a WASI
# libc and wasm32 compiler-rt (about 10 MB; its test skips without them).
command -v clang-14 >/dev/null 2>&1 || need+=(clang-14)
command -v wasm-ld-14 >/dev/null 2>&1 || need+=(lld-14)
[ -f /usr/lib/wasm32-wasi/libc.a ] || need+=(wasi-libc)
compgen -G '/usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a' >/dev/null \
  || need+=(libclang-rt-14-dev-wasm32)
# `setup.sh --benches`: also what the comparison scripts in benches/ run
# against (libvirtd for compare-libvirtd.py, QEMU for compare-qemu-boot.sh).
# Not needed by the tests, so not installed by default.
if [ "${1:-}" = "--benches" ]; then
  [ -x /usr/sbin/libvirtd ] || need+=(libvirt-daemon)
  command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
fi
if ((${#need[@]})); then
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo -n); fi
  if "${SUDO[@]}" true 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
      || { "${SUDO[@]}" apt-get update -q >/dev/null && "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
  else
    echo "setup: cannot install ${need[*]} (not root, no sudo); the tests that need them will skip (or fail under WIRT_TEST_STRICT=1)" >&2
  fi
fi
