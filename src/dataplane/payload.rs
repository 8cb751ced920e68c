//! The protocol's payload handle over DPDK buffers.
//!
//! The protocol core keeps unacknowledged data (sender) and out-of-order
//! data (receiver) as handles and never copies bytes. Here a handle is a
//! reference to an mbuf plus a byte range: `Clone` bumps the mbuf refcount,
//! `narrow` only moves the range (never the mbuf's own data offset, which
//! other references share).

use stripecat_proto::Payload;

use crate::dpdk::SharedMbuf;

/// A range of bytes in a shared mbuf.
#[derive(Clone)]
pub struct MbufPayload {
    mbuf: SharedMbuf,
    start: u32,
    end: u32,
    /// All zeros, as the reader found them (`None`: not checked, or narrowed since).
    zero: Option<bool>,
}

impl MbufPayload {
    /// The whole data area of `mbuf`.
    pub fn new(mbuf: SharedMbuf) -> MbufPayload {
        let end = mbuf.data().len() as u32;
        MbufPayload { mbuf, start: 0, end, zero: None }
    }

    /// The same, with whether its bytes are all zeros (checked by the maker while they
    /// were in its cache: [`Payload::known_zero`]).
    pub fn with_zero(self, zero: bool) -> MbufPayload {
        MbufPayload { zero: Some(zero), ..self }
    }

    /// Whether the range covers the mbuf's whole data (so the mbuf itself
    /// can be chained into a frame as the payload segment).
    pub fn is_whole(&self) -> bool {
        self.start == 0 && self.end as usize == self.mbuf.data().len()
    }

    /// The underlying buffer (one more reference).
    pub fn mbuf(&self) -> SharedMbuf {
        self.mbuf.clone()
    }

    /// The underlying buffer, giving up this handle's reference to it.
    pub fn into_mbuf(self) -> SharedMbuf {
        self.mbuf
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl AsRef<[u8]> for MbufPayload {
    fn as_ref(&self) -> &[u8] {
        &self.mbuf.data()[self.start as usize..self.end as usize]
    }
}

impl Payload for MbufPayload {
    fn narrow(self, range: core::ops::Range<usize>) -> Self {
        let len = self.len();
        let s = range.start.min(len) as u32;
        let e = range.end.clamp(range.start.min(len), len) as u32;
        MbufPayload { start: self.start + s, end: self.start + e, mbuf: self.mbuf, zero: None }
    }

    fn byte_len(&self) -> usize {
        self.len()
    }

    fn known_zero(&self) -> Option<bool> {
        self.zero
    }
}

impl std::fmt::Debug for MbufPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MbufPayload({}..{} of {:?})", self.start, self.end, self.mbuf)
    }
}
