//! The disk pattern and checksum, mirrored on the host by
//! `wirt_kvm::guest::{pattern_sector, range_checksum}`: keep them equal.

/// Fills a 512-byte sector with the content of `sector` for `seed`: an
/// xorshift64 stream started from a splitmix64 of (seed, sector), so each
/// sector's content depends only on its number, not on how a fill was cut.
pub fn sector(seed: u64, sector: u64, out: &mut [u8]) {
    let mut z = seed ^ sector.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    let mut x = (z ^ (z >> 31)) | 1;
    for w in out.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w.copy_from_slice(&x.to_le_bytes());
    }
}

/// Continues checksum `h` over `data`: `h = rotl(h, 7) + word` (wrapping)
/// over its little-endian u64 words; from 0 over one sector it is the asm
/// guest's sector checksum.
pub fn checksum(mut h: u64, data: &[u8]) -> u64 {
    for w in data.chunks_exact(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = h.rotate_left(7).wrapping_add(u64::from_le_bytes(b));
    }
    h
}
