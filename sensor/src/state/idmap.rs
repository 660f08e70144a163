//! Hash maps for the thread and fd tables, keyed by tids, pids and fd
//! numbers. Those keys come from the kernel, not from data an attacker
//! chooses freely, so SipHash's resistance to crafted collisions buys
//! nothing there, while it cost about 14% of the detection thread in the
//! open+close profile (docs/benchmarks.md). Tables keyed by strings or by
//! ids read from container files keep the standard hasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Multiplicative hasher for small integer keys (one multiply per word).
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

/// An odd constant with well-spread bits (the one FxHash uses).
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl IdHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_i64(&mut self, n: i64) {
        self.add(n as u64);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// A `HashMap` keyed by kernel-assigned integers.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn distinct_small_keys_hash_apart_and_maps_behave() {
        let b = BuildHasherDefault::<IdHasher>::default();
        let hashes: std::collections::HashSet<u64> =
            (0i64..10_000).map(|k| b.hash_one(k)).collect();
        assert_eq!(hashes.len(), 10_000);
        let mut m: IdMap<i64, i64> = IdMap::default();
        for k in 0..1000 {
            m.insert(k, k * 2);
        }
        assert_eq!(m.get(&500), Some(&1000));
        assert_eq!(m.remove(&999), Some(1998));
        assert_eq!(m.len(), 999);
    }
}
