//! A fast lookup from field name to what the boundary says about it.
//!
//! Field names are short and chosen by the boundary's author, not by an
//! attacker, so the index hashes them with the FxHash function (as rustc does)
//! rather than the DoS-resistant default, which costs more than the rest of a
//! `detect_conflict` call.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// What a boundary says about one field name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldEntry {
    /// Synced; the position in the boundary's declaration order.
    Synced(usize),
    /// Never synced.
    Excluded,
}

/// Field name → entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct FieldIndex {
    entries: HashMap<Arc<str>, FieldEntry, BuildHasherDefault<FxHasher>>,
}

impl FieldIndex {
    /// Adds `name`; returns the entry it already had, if any.
    pub(crate) fn insert(&mut self, name: Arc<str>, entry: FieldEntry) -> Option<FieldEntry> {
        self.entries.insert(name, entry)
    }

    pub(crate) fn get(&self, name: &str) -> Option<FieldEntry> {
        self.entries.get(name).copied()
    }
}

/// The FxHash function: one multiply and rotate per word.
#[derive(Clone, Copy, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}
