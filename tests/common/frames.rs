//! Test frames: Ethernet with the IEEE local-experimental ethertype 0x88b5,
//! a sequence number and a pattern, so stray kernel traffic is easy to skip
//! and every byte can be checked.

use super::data::XorShift64;

pub const ETHERTYPE: u16 = 0x88b5;
pub const SRC: [u8; 6] = [0x02, 0x5c, 0, 0, 0, 0x01];
pub const DST: [u8; 6] = [0x02, 0x5c, 0, 0, 0, 0x02];

/// Frame `seq` of `len` bytes (at least 18).
pub fn frame(seq: u32, len: usize) -> Vec<u8> {
    assert!(len >= 18);
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&DST);
    f.extend_from_slice(&SRC);
    f.extend_from_slice(&ETHERTYPE.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    // A pattern of its own for every (seq, len).
    let header = f.len();
    f.resize(len, 0);
    XorShift64::new(((seq as u64) << 32) | len as u64).fill(&mut f[header..]);
    f
}

/// Whether a received frame is one of ours.
pub fn is_ours(f: &[u8]) -> bool {
    f.len() >= 18 && f[12..14] == ETHERTYPE.to_be_bytes()
}

/// The sequence number of one of our frames.
pub fn seq_of(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[14], f[15], f[16], f[17]])
}

/// Frame lengths that cover small, odd and full-size frames.
pub fn len_for(seq: u32) -> usize {
    [60, 61, 64, 128, 511, 1000, 1514][(seq % 7) as usize]
}

/// Reads a classic pcap file (as written by DPDK's pcap PMD) into frames.
pub fn read_pcap(bytes: &[u8]) -> Vec<Vec<u8>> {
    assert!(bytes.len() >= 24, "pcap too short");
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let (le, _nanos) = match magic {
        0xa1b2c3d4 => (true, false),
        0xa1b23c4d => (true, true),
        0xd4c3b2a1 => (false, false),
        0x4d3cb2a1 => (false, true),
        m => panic!("not a pcap file (magic {m:#x})"),
    };
    let rd = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let incl = rd(&bytes[off + 8..off + 12]) as usize;
        off += 16;
        assert!(off + incl <= bytes.len(), "truncated pcap record");
        out.push(bytes[off..off + incl].to_vec());
        off += incl;
    }
    out
}
