//! Counters and drop reasons.

use crate::wire::WireError;

/// Why an incoming packet (or its data) was dropped. `Copy` and cheap, counted per
/// lcore on the hot path so an operator can see what is arriving and why it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Shorter than its header says.
    Truncated,
    /// Not a stripecat packet (magic).
    BadMagic,
    /// Protocol version not spoken here.
    UnsupportedVersion,
    /// Packet type not known.
    UnknownType,
    /// CRC32C mismatch: corrupted on the way.
    BadChecksum,
    /// Body shape wrong for its type.
    Malformed,
    /// Marked as carrying no CRC32C on a link whose policy requires one.
    MissingChecksum,
    /// Session id is not the one being served (or none is).
    WrongSession,
    /// Path id beyond the configured paths, or not the path this lcore owns.
    UnknownPath,
    /// Data already delivered or already held.
    Duplicate,
    /// Data beyond the flow-control window (not acknowledged, so it is resent).
    OutOfWindow,
    /// Data not on a chunk boundary, empty, longer than a chunk, or past the stream end.
    BadChunk,
    /// The hand-off queue to the reassembler was full (not acknowledged).
    Backpressure,
    /// A valid packet this endpoint does not expect (e.g. DATA at a sender).
    Unexpected,
    /// A keyed session's packet whose tag did not verify, or that was not sealed where it
    /// must be; or a sealed packet at an endpoint without a key.
    Unauthenticated,
    /// A replayed sealed packet: its number was seen already, or is older than the window.
    Replayed,
    /// A HELLO beyond the handshake rate limit (each costs a Diffie-Hellman).
    RateLimited,
}

impl DropReason {
    /// Its name in reports: the variant in snake case (`bad_checksum`).
    pub fn name(self) -> String {
        let mut s = String::new();
        for (i, c) in format!("{self:?}").chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        }
        s
    }

    /// Number of reasons; sizes counter arrays.
    pub const COUNT: usize = 17;

    /// All reasons, in counter-array order.
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::Truncated,
        DropReason::BadMagic,
        DropReason::UnsupportedVersion,
        DropReason::UnknownType,
        DropReason::BadChecksum,
        DropReason::Malformed,
        DropReason::MissingChecksum,
        DropReason::WrongSession,
        DropReason::UnknownPath,
        DropReason::Duplicate,
        DropReason::OutOfWindow,
        DropReason::BadChunk,
        DropReason::Backpressure,
        DropReason::Unexpected,
        DropReason::Unauthenticated,
        DropReason::Replayed,
        DropReason::RateLimited,
    ];
}

impl From<WireError> for DropReason {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated { .. } => DropReason::Truncated,
            WireError::BadMagic(_) => DropReason::BadMagic,
            WireError::UnsupportedVersion(_) => DropReason::UnsupportedVersion,
            WireError::UnknownType(_) => DropReason::UnknownType,
            WireError::BadChecksum => DropReason::BadChecksum,
            WireError::Malformed { .. } => DropReason::Malformed,
            WireError::MissingChecksum => DropReason::MissingChecksum,
        }
    }
}

/// Drop counters indexed by [`DropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters([u64; DropReason::COUNT]);

impl DropCounters {
    /// Counts one drop.
    #[inline]
    pub fn count(&mut self, r: DropReason) {
        self.0[r as usize] += 1;
    }

    /// Drops counted for `r`.
    pub fn get(&self, r: DropReason) -> u64 {
        self.0[r as usize]
    }

    /// The reasons with drops, and how many each, in [`DropReason::ALL`] order.
    pub fn nonzero(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.into_iter().map(|r| (r, self.get(r))).filter(|&(_, n)| n > 0)
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds another set of counters (e.g. per-lcore sets into one report).
    pub fn merge(&mut self, other: &DropCounters) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += *b;
        }
    }
}

impl core::fmt::Display for DropCounters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        for (r, n) in self.nonzero() {
            if !first {
                write!(f, ", ")?;
            }
            write!(f, "{r:?}={n}")?;
            first = false;
        }
        if first {
            write!(f, "none")?;
        }
        Ok(())
    }
}
