//! A small non-cryptographic hasher for the UI's per-frame maps (grouping,
//! rule statistics). Keys there come from alerts, but the maps live for one
//! rebuild only, so flooding one bucket costs at most one slow frame; SipHash's
//! DoS protection is not worth its cost on 100,000 keys per keystroke.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-rotate hashing in the style of the Firefox/rustc "Fx" hasher.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keys_stay_distinct() {
        let mut m: FastMap<(&str, &str), u32> = FastMap::default();
        *m.entry(("ab", "c")).or_default() += 1;
        *m.entry(("a", "bc")).or_default() += 1;
        *m.entry(("ab", "c")).or_default() += 1;
        assert_eq!(m[&("ab", "c")], 2);
        assert_eq!(m[&("a", "bc")], 1);
    }
}
