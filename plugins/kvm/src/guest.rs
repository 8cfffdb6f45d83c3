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
    range_checksum(sector)
}

/// The content the test guest's `!fill` writes to `sector` for `seed`
/// (mirrors guest/src/pattern.rs): an xorshift64 stream started from a
/// splitmix64 of (seed, sector), so it depends only on the sector number.
pub fn pattern_sector(seed: u64, sector: u64) -> [u8; 512] {
    let mut z = seed ^ sector.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    let mut x = (z ^ (z >> 31)) | 1;
    let mut out = [0u8; 512];
    for w in out.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w.copy_from_slice(&x.to_le_bytes());
    }
    out
}

/// The hash the test guest's `!sum` prints for a run of sectors: the
/// sector checksum's fold carried on over all their words.
pub fn range_checksum(data: &[u8]) -> u64 {
    data.chunks_exact(8).fold(0u64, |h, w| {
        h.rotate_left(7)
            .wrapping_add(u64::from_le_bytes(w.try_into().expect("8-byte chunk")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_checksum_of_one_sector_is_the_sector_checksum() {
        let s = pattern_sector(7, 3);
        assert_eq!(range_checksum(&s), sector_checksum(&s));
        assert_ne!(pattern_sector(7, 3), pattern_sector(7, 4));
        assert_ne!(pattern_sector(7, 3), pattern_sector(8, 3));
    }
}
