//! The frames `bench` sends: Ethernet/IPv4/UDP in 198.18.0.0/15 with valid
//! IPv4 and UDP checksums, and a small payload header (flow, sequence
//! number, TSC timestamp) followed by zeros.
//!
//! Per packet only the 60 bytes that differ are written: the L2-L4 header is
//! copied from a per-(flow, size) template whose checksum sum is
//! precomputed, the sequence number and timestamp go in, and the UDP
//! checksum is finished from the template's partial sum (RFC 1071 sums are
//! order-free). The rest of the frame is zeros that the transmit pool's
//! buffers were filled with once at start (see `prefill`).

use std::net::Ipv4Addr;

use crate::dpdk::{Mbuf, Mempool};
use crate::wire::{checksum, ethernet, ipv4, udp, Field, Mac};

/// UDP port bench frames are sent to (the `rx` and `reflect` side).
pub const BENCH_PORT: u16 = 47_400;
/// Source port of flow 0; flow `f` uses `BENCH_SRC_BASE + f`.
pub const BENCH_SRC_BASE: u16 = 47_401;
/// Flows (lanes) a run may have; flow ids above are foreign.
pub const MAX_FLOWS: usize = 1024;
/// Sender and receiver addresses (RFC 2544's benchmark range).
pub const TX_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const RX_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Destination MAC of generated frames: locally administered unicast (the
/// ports run promiscuous; `reflect` swaps the addresses back).
pub const PEER_MAC: Mac = Mac([0x02, 0x5c, 0xbe, 0x0c, 0x00, 0x02]);

/// Smallest and largest frame (FCS included, as RFC 2544 counts them).
pub const MIN_FRAME: u16 = 64;
pub const MAX_FRAME: u16 = 9018;
/// The Ethernet FCS: counted in frame sizes, added by the NIC, not in mbufs.
pub const FCS: u16 = 4;

/// Where the bench payload header sits in a frame.
pub const L4_PAYLOAD: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN;
const UDP_CSUM: Field = (L4_PAYLOAD - 2)..L4_PAYLOAD;

/// The bench payload header (18 bytes: a 64-byte frame holds exactly it).
mod field {
    stripecat_proto::layout! { FLOW: 2, SEQ: 8, TSC: 8 }
}
pub const PAYLOAD_HEADER_LEN: usize = field::END;

/// A view over a bench payload (the UDP payload of a bench frame).
#[derive(Debug)]
pub struct Payload<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Payload<T> {
    pub fn new_checked(buf: T) -> Option<Self> {
        (buf.as_ref().len() >= PAYLOAD_HEADER_LEN).then_some(Payload { buf })
    }

    pub fn flow(&self) -> u16 {
        u16::from_be_bytes(self.buf.as_ref()[field::FLOW].try_into().expect("checked length"))
    }

    pub fn seq(&self) -> u64 {
        u64::from_be_bytes(self.buf.as_ref()[field::SEQ].try_into().expect("checked length"))
    }

    /// The sender's TSC when the frame was built; 0 without `--latency`.
    pub fn tsc(&self) -> u64 {
        u64::from_be_bytes(self.buf.as_ref()[field::TSC].try_into().expect("checked length"))
    }
}

/// The frame sizes of a run, cycled in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeMix {
    pub sizes: Vec<u16>,
}

impl SizeMix {
    pub fn fixed(size: u16) -> SizeMix {
        SizeMix { sizes: vec![size] }
    }

    /// Simple IMIX: 64, 594 and 1518-byte frames in the ratio 7:4:1,
    /// interleaved so any 12 consecutive frames have the mix.
    pub fn imix() -> SizeMix {
        let (a, b, c) = (64, 594, 1518);
        SizeMix { sizes: vec![a, b, a, a, b, a, c, a, b, a, a, b] }
    }

    pub fn max(&self) -> u16 {
        self.sizes.iter().copied().max().unwrap_or(MIN_FRAME)
    }

    /// Mean frame size (FCS included).
    pub fn mean(&self) -> f64 {
        self.sizes.iter().map(|&s| s as f64).sum::<f64>() / self.sizes.len().max(1) as f64
    }
}

/// The 42-byte header and payload flow field of one (flow, size), with the
/// UDP checksum's partial sum over everything but sequence and timestamp.
#[derive(Debug, Clone)]
struct Template {
    head: [u8; L4_PAYLOAD + 2],
    /// Frame length in the mbuf (FCS excluded).
    len: u16,
    partial: u32,
}

/// Builds the frames of one flow.
#[derive(Debug, Clone)]
pub struct FlowGen {
    templates: Vec<Template>,
    next: usize,
    pub seq: u64,
}

impl FlowGen {
    pub fn new(flow: u16, src_mac: Mac, mix: &SizeMix) -> FlowGen {
        let templates = mix.sizes.iter().map(|&s| template(flow, src_mac, s)).collect();
        FlowGen { templates, next: 0, seq: 0 }
    }

    /// Length in the mbuf (FCS excluded) of the frame `ahead` places on.
    #[inline]
    pub fn peek_len(&self, ahead: usize) -> u16 {
        self.templates[(self.next + ahead) % self.templates.len()].len
    }

    /// Frame sizes (FCS included) of the next frames, in order.
    pub fn upcoming(&self) -> impl Iterator<Item = u64> + '_ {
        (0..).map(move |i| (self.peek_len(i) + FCS) as u64)
    }

    /// Writes the next frame into `m` (a fresh buffer from a pool that
    /// `prefill` zeroed) with timestamp `tsc`; false without the room.
    #[inline]
    pub fn fill(&mut self, m: &mut Mbuf, tsc: u64) -> bool {
        let t = &self.templates[self.next];
        let Some(buf) = m.append_inline(t.len as usize) else { return false };
        write_frame(buf, t, self.seq, tsc);
        self.next += 1;
        if self.next == self.templates.len() {
            self.next = 0;
        }
        self.seq += 1;
        true
    }
}

#[inline]
fn write_frame(buf: &mut [u8], t: &Template, seq: u64, tsc: u64) {
    buf[..t.head.len()].copy_from_slice(&t.head);
    let p = &mut buf[L4_PAYLOAD..];
    p[field::SEQ].copy_from_slice(&seq.to_be_bytes());
    p[field::TSC].copy_from_slice(&tsc.to_be_bytes());
    let acc = checksum::sum(&p[field::SEQ.start..field::TSC.end], t.partial);
    let c = checksum::finish(acc);
    let c = if c == 0 { 0xffff } else { c };
    buf[UDP_CSUM].copy_from_slice(&c.to_be_bytes());
}

fn template(flow: u16, src_mac: Mac, size: u16) -> Template {
    let len = size - FCS;
    let udp_len = len as usize - ethernet::HEADER_LEN - ipv4::HEADER_LEN;
    let mut head = [0u8; L4_PAYLOAD + 2];
    head[0..6].copy_from_slice(&PEER_MAC.0);
    head[6..12].copy_from_slice(&src_mac.0);
    head[12..14].copy_from_slice(&ethernet::ETHERTYPE_IPV4.to_be_bytes());
    ipv4::Repr { src: TX_IP, dst: RX_IP, protocol: ipv4::PROTO_UDP, payload_len: udp_len as u16, ttl: 64, ident: 0 }
        .emit(&mut head[ethernet::HEADER_LEN..]);
    let udp_at = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
    udp::Repr {
        src_port: BENCH_SRC_BASE.wrapping_add(flow),
        dst_port: BENCH_PORT,
        payload_len: (udp_len - udp::HEADER_LEN) as u16,
    }
    .emit(&mut head[udp_at..]);
    head[L4_PAYLOAD..].copy_from_slice(&flow.to_be_bytes());
    // Pseudo-header, UDP header (checksum zero) and the flow field; the
    // zeros after them add nothing.
    let mut ph = [0u8; 12];
    ph[0..4].copy_from_slice(&TX_IP.octets());
    ph[4..8].copy_from_slice(&RX_IP.octets());
    ph[9] = ipv4::PROTO_UDP;
    ph[10..12].copy_from_slice(&(udp_len as u16).to_be_bytes());
    let partial = checksum::sum(&head[udp_at..], checksum::sum(&ph, 0));
    Template { head, len, partial }
}

/// Fills every buffer of a transmit-only pool with zeros up to `len` bytes
/// once, so frames built later only write their first 60 bytes (a buffer
/// comes back from the pool with its bytes as they were). Returns how many
/// buffers were filled.
pub fn prefill(pool: &Mempool, len: usize) -> usize {
    let mut all: Vec<Mbuf> = Vec::new();
    while pool.alloc_bulk(32, &mut all) {}
    while let Some(m) = pool.alloc() {
        all.push(m);
    }
    let n = all.len();
    for m in &mut all {
        if let Some(b) = m.append(len) {
            b.fill(0);
        }
    }
    Mbuf::free_bulk(&mut all);
    n
}

/// What a received frame is to `bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Sent to [`BENCH_PORT`] (what `rx` counts and `reflect` returns).
    Forward { flow: u16, seq: u64, payload: usize },
    /// Coming back from a reflector (to a flow's source port).
    Returned { flow: u16, tsc: u64 },
    /// Anything else.
    Foreign,
}

/// Classifies a frame: cheap, on the receive fast path. Checks the IPv4
/// header checksum (20 bytes) but not the UDP one (it would read every
/// byte; `tests` check the generator's checksums instead).
#[inline]
pub fn classify(frame: &[u8]) -> Kind {
    let Ok(eth) = ethernet::Frame::new_checked(frame) else { return Kind::Foreign };
    if eth.ethertype() != ethernet::ETHERTYPE_IPV4 {
        return Kind::Foreign;
    }
    let Ok(ip) = ipv4::Packet::new_checked(eth.payload()) else { return Kind::Foreign };
    if ip.protocol() != ipv4::PROTO_UDP || !ip.checksum_ok() {
        return Kind::Foreign;
    }
    let Ok(u) = udp::Datagram::new_checked(ip.payload()) else { return Kind::Foreign };
    let Some(p) = Payload::new_checked(u.payload()) else { return Kind::Foreign };
    let dst = u.dst_port();
    if dst == BENCH_PORT {
        Kind::Forward { flow: p.flow(), seq: p.seq(), payload: u.payload().len() }
    } else if u.src_port() == BENCH_PORT && dst.wrapping_sub(BENCH_SRC_BASE) as usize == p.flow() as usize {
        Kind::Returned { flow: p.flow(), tsc: p.tsc() }
    } else {
        Kind::Foreign
    }
}

/// Turns a bench frame around in place: MACs, IPv4 addresses and UDP ports
/// swapped. Both checksums stay valid (their sums do not depend on order).
/// False (frame untouched) for anything but an IPv4/UDP frame.
pub fn reflect_in_place(frame: &mut [u8]) -> bool {
    if frame.len() < L4_PAYLOAD || frame[12..14] != ethernet::ETHERTYPE_IPV4.to_be_bytes() || frame[14] != 0x45 {
        return false;
    }
    let (dst, rest) = frame.split_at_mut(6);
    dst.swap_with_slice(&mut rest[..6]);
    let ip = &mut frame[ethernet::HEADER_LEN..];
    let (a, b) = ip[12..20].split_at_mut(4);
    a.swap_with_slice(b);
    let u = &mut ip[ipv4::HEADER_LEN..];
    let (a, b) = u[0..4].split_at_mut(2);
    a.swap_with_slice(b);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flow: u16, size: u16, seq: u64, tsc: u64) -> Vec<u8> {
        let t = template(flow, Mac([2, 0, 0, 0, 0, 1]), size);
        let mut buf = vec![0u8; t.len as usize];
        write_frame(&mut buf, &t, seq, tsc);
        buf
    }

    fn checksums_ok(f: &[u8]) -> bool {
        let eth = ethernet::Frame::new_checked(f).unwrap();
        let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
        let r = ipv4::Repr::parse(&ip).unwrap();
        let u = udp::Datagram::new_checked(ip.payload()).unwrap();
        u.checksum() != 0 && u.checksum_ok(r.src, r.dst)
    }

    #[test]
    fn frames_have_valid_checksums_at_every_size() {
        for size in [64u16, 65, 128, 594, 1518, 9018] {
            for (seq, tsc) in [(0, 0), (1, 0), (u64::MAX, u64::MAX), (0x0123_4567_89ab_cdef, 77_777_777)] {
                let f = frame(3, size, seq, tsc);
                assert_eq!(f.len(), size as usize - 4);
                assert!(checksums_ok(&f), "size {size} seq {seq:#x}");
                assert_eq!(classify(&f), Kind::Forward { flow: 3, seq, payload: size as usize - 4 - 42 });
            }
        }
    }

    #[test]
    fn a_64_byte_frame_is_headers_and_the_payload_header() {
        let f = frame(0x0102, 64, 0x1122_3344_5566_7788, 0x99);
        assert_eq!(f.len(), 60);
        assert_eq!(&f[0..6], &PEER_MAC.0);
        assert_eq!(&f[26..34], &[198, 18, 0, 1, 198, 18, 0, 2]);
        assert_eq!(u16::from_be_bytes([f[34], f[35]]), BENCH_SRC_BASE + 0x0102);
        assert_eq!(u16::from_be_bytes([f[36], f[37]]), BENCH_PORT);
        assert_eq!(u16::from_be_bytes([f[38], f[39]]), 26); // UDP length: 8 + 18
        let p = Payload::new_checked(&f[42..]).unwrap();
        assert_eq!((p.flow(), p.seq(), p.tsc()), (0x0102, 0x1122_3344_5566_7788, 0x99));
    }

    #[test]
    fn reflected_frames_keep_valid_checksums_and_come_back_as_returned() {
        let mut f = frame(5, 128, 42, 123_456);
        assert!(reflect_in_place(&mut f));
        assert!(checksums_ok(&f));
        assert_eq!(&f[6..12], &PEER_MAC.0);
        assert_eq!(&f[26..34], &[198, 18, 0, 2, 198, 18, 0, 1]);
        assert_eq!(classify(&f), Kind::Returned { flow: 5, tsc: 123_456 });
        // Twice is the original again.
        assert!(reflect_in_place(&mut f));
        assert_eq!(f, frame(5, 128, 42, 123_456));
        assert!(!reflect_in_place(&mut [0u8; 20]));
    }

    #[test]
    fn foreign_frames_are_told_apart() {
        let mut f = frame(1, 64, 1, 1);
        f[37] ^= 1; // other destination port
        assert_eq!(classify(&f), Kind::Foreign);
        let mut f = frame(1, 64, 1, 1);
        f[24] ^= 1; // IPv4 header checksum broken
        assert_eq!(classify(&f), Kind::Foreign);
        let mut f = frame(1, 64, 1, 1);
        f[12] = 0x86; // not IPv4
        assert_eq!(classify(&f), Kind::Foreign);
        assert_eq!(classify(&[0u8; 10]), Kind::Foreign);
    }

    #[test]
    fn imix_is_7_4_1_in_every_cycle() {
        let m = SizeMix::imix();
        assert_eq!(m.sizes.len(), 12);
        let count = |s| m.sizes.iter().filter(|&&x| x == s).count();
        assert_eq!((count(64), count(594), count(1518)), (7, 4, 1));
        assert!((m.mean() - (7.0 * 64.0 + 4.0 * 594.0 + 1518.0) / 12.0).abs() < 1e-9);
        assert_eq!(m.max(), 1518);
        let g = FlowGen::new(0, Mac::ZERO, &m);
        let lens: Vec<u64> = g.upcoming().take(24).collect();
        assert_eq!(lens[..12], lens[12..]);
        assert_eq!(lens.iter().sum::<u64>(), 2 * (7 * 64 + 4 * 594 + 1518));
    }
}
