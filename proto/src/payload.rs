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
    fn narrow_shares_and_clamps() {
        let b = SharedBytes::from(b"0123456789".to_vec());
        let n = b.slice(2..8).narrow(1..3);
        assert_eq!(n.as_ref(), b"34");
        assert_eq!(b.slice(8..100).as_ref(), b"89");
        assert!(b.slice(20..30).is_empty());
    }
}
