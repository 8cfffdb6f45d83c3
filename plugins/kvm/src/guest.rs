//! The purpose-built test guest, built by build.rs from `guest/` (a no_std
//! Rust kernel) and embedded in every wirt-vmm. See GUEST.md.

/// The test guest as an ELF image, loadable like a vmlinux.
pub static TEST_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/test-guest.elf"));

/// The banner the test guest prints first on COM1.
pub const BANNER: &str = "wirt test guest 1 booting";

/// The line it prints once its self-test is done and it waits for commands.
pub const READY: &str = "guest: ready";

/// The checksum the test guest prints for a 512-byte sector:
/// `h = rotl(h, 7) + word` (wrapping) over its little-endian 64-bit words.
pub fn sector_checksum(sector: &[u8]) -> u64 {
    sector.chunks_exact(8).fold(0u64, |h, w| {
        h.rotate_left(7)
            .wrapping_add(u64::from_le_bytes(w.try_into().expect("8-byte chunk")))
    })
}
