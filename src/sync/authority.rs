//! Who owns a field, and the two sides of a sync.

use serde::{Deserialize, Serialize};

/// One of the two systems a [`SyncBoundary`](super::SyncBoundary) connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Side {
    /// System A.
    A,
    /// System B.
    B,
}

impl Side {
    /// The other side.
    pub const fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::A => "A",
            Side::B => "B",
        })
    }
}

/// Which system decides a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecordAuthority {
    /// System A owns the field: its changes propagate to B, B's are reverted
    /// (or reviewed, if the boundary asks for it).
    SystemA,
    /// System B owns the field, the mirror of `SystemA`.
    SystemB,
    /// Either side may change the field; a conflict goes to the last writer.
    Shared,
    /// Every change needs a person's review before it is synced.
    Manual,
}

impl RecordAuthority {
    /// The side that owns the field, for `SystemA` and `SystemB`.
    pub const fn owner(self) -> Option<Side> {
        match self {
            RecordAuthority::SystemA => Some(Side::A),
            RecordAuthority::SystemB => Some(Side::B),
            RecordAuthority::Shared | RecordAuthority::Manual => None,
        }
    }

    /// The authority of the same field seen from the other side: `SystemA`
    /// and `SystemB` swap, `Shared` and `Manual` stay.
    pub const fn mirrored(self) -> RecordAuthority {
        match self {
            RecordAuthority::SystemA => RecordAuthority::SystemB,
            RecordAuthority::SystemB => RecordAuthority::SystemA,
            other => other,
        }
    }
}
