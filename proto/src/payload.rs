//! Payload handles: the core never copies stream bytes, it moves handles.
//!
//! In the DPDK driver a handle is an mbuf (clone = refcount bump, narrow = adjust the
//! data offset); in the simulator it is [`SharedBytes`], an `Arc<[u8]>` slice.

use std::sync::Arc;

/// A cheap-to-clone handle on immutable bytes.
///
/// `Clone` must not copy the bytes: the sender keeps a clone of every unacknowledged
/// chunk and hands out another clone for each (re)transmission.
pub trait Payload: AsRef<[u8]> + Clone {
    /// Keeps only `range` of the current bytes, without copying. Consumes the handle
    /// because an mbuf narrows in place. `range` lies inside `0..self.as_ref().len()`
    /// (the core only passes ranges it validated); implementations may clamp.
    fn narrow(self, range: core::ops::Range<usize>) -> Self;

    /// The number of bytes, where the handle knows it without touching them (an mbuf
    /// handle keeps its range: the sender's loop then does not read the buffer, which
    /// the reader thread filled on another core, until it transmits it).
    fn byte_len(&self) -> usize {
        self.as_ref().len()
    }

    /// Whether the bytes are all zeros, when whoever made the handle checked already
    /// (the reader thread, while they were in its cache); `None`: not known.
    fn known_zero(&self) -> Option<bool> {
        None
    }

    /// Whether the bytes are all zeros: [`Payload::known_zero`] where the maker checked,
    /// else read with [`is_zero`].
    fn all_zero(&self) -> bool {
        self.known_zero().unwrap_or_else(|| is_zero(self.as_ref()))
    }
}

/// Zero bytes enough for the largest chunk (`chunk_size` is a `u16`).
static ZEROS: [u8; 1 << 16] = [0; 1 << 16];

/// Whether `b` is all zeros. Random data fails on its first bytes (the first 16 are
/// checked on their own before the rest), so the check costs about nothing on
/// ordinary data; a zero chunk is read once, 64 bytes per step (vectorised). Kept out
/// of line (a call per packet costs nothing next to it) so a profile shows its share.
#[inline(never)]
pub fn is_zero(b: &[u8]) -> bool {
    let (head, rest) = b.split_at(b.len().min(16));
    if head.iter().any(|&x| x != 0) {
        return false;
    }
    let mut blocks = rest.chunks_exact(64);
    for block in &mut blocks {
        if block.iter().fold(0u8, |a, &x| a | x) != 0 {
            return false;
        }
    }
    blocks.remainder().iter().all(|&x| x == 0)
}

/// One in-order piece of the stream as the receiver delivers it: bytes by handle, or
/// a run of zeros the sender carried as its length only (a ZEROS record).
///
/// Its bytes ([`AsRef`]) are the real stream bytes either way (a zero run reads as
/// zeros from a static buffer), so a driver that cannot make a hole simply writes them;
/// one writing a regular file can skip over [`Piece::Zeros`] instead.
#[derive(Debug, Clone)]
pub enum Piece<B> {
    /// Bytes by handle.
    Bytes(B),
    /// This many zero bytes (at most a chunk).
    Zeros(u16),
}

impl<B: AsRef<[u8]>> Piece<B> {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Piece::Bytes(b) => b.as_ref().len(),
            Piece::Zeros(n) => *n as usize,
        }
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The zero-run length, if it is one.
    pub fn zeros(&self) -> Option<usize> {
        match self {
            Piece::Zeros(n) => Some(*n as usize),
            Piece::Bytes(_) => None,
        }
    }
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Piece<B> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Piece::Bytes(b) => b.as_ref(),
            Piece::Zeros(n) => &ZEROS[..*n as usize],
        }
    }
}

impl<B: Payload> Payload for Piece<B> {
    fn narrow(self, range: core::ops::Range<usize>) -> Self {
        match self {
            Piece::Bytes(b) => Piece::Bytes(b.narrow(range)),
            Piece::Zeros(n) => {
                let s = range.start.min(n as usize);
                let e = range.end.clamp(s, n as usize);
                Piece::Zeros((e - s) as u16)
            }
        }
    }
}

/// An immutable, reference-counted byte slice: the simulator's payload handle.
#[derive(Clone)]
pub struct SharedBytes {
    buf: Arc<[u8]>,
    start: usize,
    end: usize,
}

impl SharedBytes {
    /// Wraps a whole buffer.
    pub fn new(buf: Arc<[u8]>) -> Self {
        let end = buf.len();
        SharedBytes { buf, start: 0, end }
    }

    /// A clone narrowed to `range` (clamped to the current bytes).
    pub fn slice(&self, range: core::ops::Range<usize>) -> Self {
        self.clone().narrow(range)
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl From<Vec<u8>> for SharedBytes {
    fn from(v: Vec<u8>) -> Self {
        SharedBytes::new(v.into())
    }
}

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

impl core::fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SharedBytes({} bytes)", self.len())
    }
}

impl Payload for SharedBytes {
    fn narrow(mut self, range: core::ops::Range<usize>) -> Self {
        let len = self.len();
        let s = range.start.min(len);
        let e = range.end.clamp(s, len);
        self.end = self.start + e;
        self.start += s;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_check() {
        assert!(is_zero(&[]));
        assert!(is_zero(&[0; 8192]));
        assert!(is_zero(&[0; 100]));
        for at in [0, 15, 16, 17, 79, 80, 8191] {
            let mut b = vec![0u8; 8192];
            b[at] = 1;
            assert!(!is_zero(&b), "a one at {at}");
        }
        let z: Piece<SharedBytes> = Piece::Zeros(10);
        assert_eq!(z.as_ref(), &[0; 10]);
        assert_eq!(z.narrow(2..5).len(), 3);
    }

    #[test]
    fn narrow_shares_and_clamps() {
        let b = SharedBytes::from(b"0123456789".to_vec());
        let n = b.slice(2..8).narrow(1..3);
        assert_eq!(n.as_ref(), b"34");
        assert_eq!(b.slice(8..100).as_ref(), b"89");
        assert!(b.slice(20..30).is_empty());
    }
}
