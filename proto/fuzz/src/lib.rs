//! What the fuzz targets share: the record format of their inputs (make_seeds.py writes
//! seeds in it). An input is a run of records `[len u16][flags u8][len bytes]`; a record
//! whose length runs past the input's end is cut there, and a tail shorter than a record
//! header ends the run.

use stripecat_proto::wire::{field, fill_checksum, HEADER_LEN};

/// One record of a fuzz input.
pub struct Record<'a> {
    /// The record's flag byte; each target gives the bits its own meaning, except those
    /// [`Record::packet`] reads.
    pub flags: u8,
    /// The record's bytes.
    pub bytes: &'a [u8],
    /// What of the input follows the record.
    pub rest: &'a [u8],
}

impl Record<'_> {
    /// The record's bytes as a packet: flag bit 1 forces the session id to `session`, bit
    /// 0 fills in the CRC32C (over the payload length the header states), so the
    /// fuzzer's packets get past those checks to the state machines behind them.
    pub fn packet(&self, session: u64) -> Vec<u8> {
        let mut pkt = self.bytes.to_vec();
        if self.flags & 2 != 0 && pkt.len() >= HEADER_LEN {
            pkt[field::SESSION].copy_from_slice(&session.to_be_bytes());
        }
        if self.flags & 1 != 0 && pkt.len() >= HEADER_LEN {
            let (h, p) = pkt.split_at_mut(HEADER_LEN);
            let plen = u16::from_be_bytes([h[32], h[33]]) as usize;
            fill_checksum(h, &p[..plen.min(p.len())]);
        }
        pkt
    }
}

/// The records of `data`, in order.
pub fn records(data: &[u8]) -> impl Iterator<Item = Record<'_>> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.len() < 3 {
            return None;
        }
        let len = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 3);
        let (flags, bytes) = (rest[2], &rest[3..3 + len]);
        rest = &rest[3 + len..];
        Some(Record { flags, bytes, rest })
    })
}
