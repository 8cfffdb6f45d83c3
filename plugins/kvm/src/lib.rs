//! wirt KVM driver: the per-domain `wirt-vmm` process (work in progress).
