//! ICMPv6 (RFC 4443) as the data plane needs it: echo request and reply, and the
//! neighbour discovery messages (RFC 4861) that stand in for ARP: neighbour
//! solicitation and advertisement with their link-layer address options.
//!
//! The checksum covers an IPv6 pseudo-header, so parsing and emitting take the
//! packet's source and destination. ND messages are accepted only with hop limit 255
//! (RFC 4861 7.1.1: they cannot have crossed a router); the caller checks that.

use std::net::Ipv6Addr;

use super::{checksum, ipv6, Mac, WireError};

mod field {
    stripecat_proto::layout! {
        TYPE: byte, CODE: byte, CHECKSUM: 2,
        /// Neighbour advertisement flags (R, S, O in the top three bits).
        FLAGS: byte, _: 3,
        /// Target address of a solicitation or advertisement.
        TARGET: 16,
        /// Options after the target.
        OPTIONS: ..
    }
}

/// The fixed ICMPv6 header (type, code, checksum and four bytes of message).
pub const HEADER_LEN: usize = 8;
/// Length of a solicitation or advertisement without options.
pub const ND_LEN: usize = field::OPTIONS;
/// Length of one link-layer address option for Ethernet.
pub const LLADDR_OPT_LEN: usize = 8;

pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const NEIGHBOR_SOLICIT: u8 = 135;
pub const NEIGHBOR_ADVERT: u8 = 136;
const OPT_SOURCE_LLADDR: u8 = 1;
const OPT_TARGET_LLADDR: u8 = 2;
const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// Hop limit every ND message is sent and must arrive with.
pub const ND_HOP_LIMIT: u8 = 255;

/// Whether `msg` from `src` to `dst` carries a correct checksum.
pub fn checksum_ok(msg: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> bool {
    msg.len() >= 4 && checksum::finish(checksum::sum(msg, pseudo(msg.len(), src, dst))) == 0
}

fn pseudo(len: usize, src: Ipv6Addr, dst: Ipv6Addr) -> u32 {
    checksum::pseudo_v6(src, dst, len as u32, ipv6::NEXT_ICMPV6)
}

/// Fills the checksum of `msg` (every other byte written) for `src` to `dst`.
pub fn fill_checksum(msg: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
    msg[field::CHECKSUM].copy_from_slice(&[0, 0]);
    let c = checksum::finish(checksum::sum(msg, pseudo(msg.len(), src, dst)));
    msg[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
}

/// What an ICMPv6 message is, as far as the data plane cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr {
    /// Echo request (answered in place with [`make_echo_reply`]).
    EchoRequest,
    /// Neighbour solicitation for `target`, from `source_mac` when the option is there
    /// (absent when the solicitor has no address yet: duplicate address detection).
    NeighborSolicit { target: Ipv6Addr, source_mac: Option<Mac> },
    /// Neighbour advertisement of `target` at `target_mac`.
    NeighborAdvert { target: Ipv6Addr, target_mac: Option<Mac>, router: bool, solicited: bool, override_: bool },
}

/// Link-layer address option of type `want` among `opts`, if present; malformed
/// options (length zero, beyond the message) are an error.
fn lladdr(opts: &[u8], want: u8) -> Result<Option<Mac>, WireError> {
    let mut at = 0;
    let mut found = None;
    while at < opts.len() {
        let rest = &opts[at..];
        if rest.len() < 2 {
            return Err(WireError::Truncated);
        }
        let len = rest[1] as usize * 8;
        if len == 0 {
            return Err(WireError::Malformed);
        }
        if len > rest.len() {
            return Err(WireError::Truncated);
        }
        if rest[0] == want && len == LLADDR_OPT_LEN && found.is_none() {
            found = Some(Mac(rest[2..8].try_into().expect("8-byte option")));
        }
        at += len;
    }
    Ok(found)
}

fn target(msg: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&msg[field::TARGET]);
    Ipv6Addr::from(a)
}

impl Repr {
    /// Parses a message from `src` to `dst` (checksum verified). Other types are
    /// `Unsupported`.
    pub fn parse(msg: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<Repr, WireError> {
        if msg.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if !checksum_ok(msg, src, dst) {
            return Err(WireError::Checksum);
        }
        match (msg[field::TYPE], msg[field::CODE]) {
            (ECHO_REQUEST, 0) => Ok(Repr::EchoRequest),
            (NEIGHBOR_SOLICIT, 0) => {
                if msg.len() < ND_LEN {
                    return Err(WireError::Truncated);
                }
                let t = target(msg);
                if t.is_multicast() {
                    return Err(WireError::Malformed);
                }
                Ok(Repr::NeighborSolicit { target: t, source_mac: lladdr(&msg[ND_LEN..], OPT_SOURCE_LLADDR)? })
            }
            (NEIGHBOR_ADVERT, 0) => {
                if msg.len() < ND_LEN {
                    return Err(WireError::Truncated);
                }
                let f = msg[field::FLAGS];
                Ok(Repr::NeighborAdvert {
                    target: target(msg),
                    target_mac: lladdr(&msg[ND_LEN..], OPT_TARGET_LLADDR)?,
                    router: f & FLAG_ROUTER != 0,
                    solicited: f & FLAG_SOLICITED != 0,
                    override_: f & FLAG_OVERRIDE != 0,
                })
            }
            _ => Err(WireError::Unsupported),
        }
    }

    /// Bytes [`Repr::emit`] writes (echo requests are not emitted: they are answered in place).
    pub fn buffer_len(&self) -> usize {
        match self {
            Repr::EchoRequest => HEADER_LEN,
            Repr::NeighborSolicit { source_mac, .. } => ND_LEN + source_mac.map_or(0, |_| LLADDR_OPT_LEN),
            Repr::NeighborAdvert { target_mac, .. } => ND_LEN + target_mac.map_or(0, |_| LLADDR_OPT_LEN),
        }
    }

    /// Writes the message with its checksum for `src` to `dst` into the first
    /// [`Repr::buffer_len`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
        let msg = &mut buf[..self.buffer_len()];
        msg.fill(0);
        let (kind, t, opt) = match *self {
            Repr::EchoRequest => (ECHO_REQUEST, None, None),
            Repr::NeighborSolicit { target, source_mac } => {
                (NEIGHBOR_SOLICIT, Some(target), source_mac.map(|m| (OPT_SOURCE_LLADDR, m)))
            }
            Repr::NeighborAdvert { target, target_mac, router, solicited, override_ } => {
                msg[field::FLAGS] = (router as u8 * FLAG_ROUTER)
                    | (solicited as u8 * FLAG_SOLICITED)
                    | (override_ as u8 * FLAG_OVERRIDE);
                (NEIGHBOR_ADVERT, Some(target), target_mac.map(|m| (OPT_TARGET_LLADDR, m)))
            }
        };
        msg[field::TYPE] = kind;
        if let Some(t) = t {
            msg[field::TARGET].copy_from_slice(&t.octets());
        }
        if let Some((ty, mac)) = opt {
            let o = &mut msg[ND_LEN..ND_LEN + LLADDR_OPT_LEN];
            o[0] = ty;
            o[1] = 1;
            o[2..8].copy_from_slice(&mac.0);
        }
        fill_checksum(msg, src, dst);
    }
}

/// Turns an echo request from `src` to `dst` into its reply in place (the reply goes
/// from `dst` to `src`; identifier, sequence and data stay).
pub fn make_echo_reply(msg: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
    if msg.len() < HEADER_LEN {
        return;
    }
    msg[field::TYPE] = ECHO_REPLY;
    msg[field::CODE] = 0;
    fill_checksum(msg, dst, src);
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
    const MAC_A: Mac = Mac([2, 0, 0, 0, 0, 1]);

    /// Neighbour solicitation from 2001:2::1 (02:00:00:00:00:01) for 2001:2::2, to its
    /// solicited-node address ff02::1:ff00:2. Checksum by hand: the pseudo-header
    /// (0x2001+0x0002+0x0001 + 0xff02+0x0001+0xff00+0x0002 + 0x0020 + 0x003a = 0x2_1e63)
    /// plus the message (0x8700 + target 0x2001+0x0002+0x0002 + option
    /// 0x0101+0x0200+0x0001 = 0xaa07) is 0x2_c86a, folded 0xc86c, inverted 0x3793.
    const NS: [u8; 32] = [
        0x87, 0x00, 0x37, 0x93, 0, 0, 0, 0, //
        0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, //
        0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];

    fn sol() -> Ipv6Addr {
        ipv6::solicited_node(B)
    }

    #[test]
    fn solicitation_parses_from_hand_checked_bytes() {
        let r = Repr::parse(&NS, A, sol()).unwrap();
        assert_eq!(r, Repr::NeighborSolicit { target: B, source_mac: Some(MAC_A) });
        let mut out = [0xffu8; 32];
        r.emit(&mut out, A, sol());
        assert_eq!(out, NS);
    }

    #[test]
    fn advertisement_round_trips_with_flags() {
        let r = Repr::NeighborAdvert {
            target: B,
            target_mac: Some(Mac([2, 0, 0, 0, 0, 2])),
            router: false,
            solicited: true,
            override_: true,
        };
        let mut b = [0u8; 32];
        r.emit(&mut b, B, A);
        assert_eq!(b[0], NEIGHBOR_ADVERT);
        assert_eq!(b[4], 0x60);
        assert_eq!(&b[24..32], &[2, 1, 2, 0, 0, 0, 0, 2]);
        assert_eq!(Repr::parse(&b, B, A), Ok(r));
        // The checksum binds the addresses: the same bytes from elsewhere fail.
        assert_eq!(Repr::parse(&b, A, A), Err(WireError::Checksum));
    }

    #[test]
    fn echo_request_becomes_a_reply() {
        let mut m = [ECHO_REQUEST, 0, 0, 0, 0x12, 0x34, 0, 1, b'h', b'i'];
        fill_checksum(&mut m, A, B);
        assert_eq!(Repr::parse(&m, A, B), Ok(Repr::EchoRequest));
        make_echo_reply(&mut m, A, B);
        assert_eq!(m[0], ECHO_REPLY);
        assert!(checksum_ok(&m, B, A));
        assert_eq!(Repr::parse(&m, B, A), Err(WireError::Unsupported));
    }

    #[test]
    fn hostile_messages_are_refused_without_panic() {
        assert_eq!(Repr::parse(&NS[..7], A, sol()), Err(WireError::Truncated));
        // An option of length zero would loop forever if believed.
        let mut z = NS;
        z[25] = 0;
        fill_checksum(&mut z, A, sol());
        assert_eq!(Repr::parse(&z, A, sol()), Err(WireError::Malformed));
        // An option longer than the message.
        let mut l = NS;
        l[25] = 2;
        fill_checksum(&mut l, A, sol());
        assert_eq!(Repr::parse(&l, A, sol()), Err(WireError::Truncated));
        // A solicitation for a multicast target.
        let mut mc = NS;
        mc[8] = 0xff;
        fill_checksum(&mut mc, A, sol());
        assert_eq!(Repr::parse(&mc, A, sol()), Err(WireError::Malformed));
        // Truncated ND body with a valid checksum.
        let mut short = NS[..20].to_vec();
        fill_checksum(&mut short, A, sol());
        assert_eq!(Repr::parse(&short, A, sol()), Err(WireError::Truncated));
        let mut x = 0x9e37_79b9u32;
        for len in 0..64 {
            let mut junk = crate::wire::junk(&mut x, len);
            if len >= 4 {
                junk[0] = [ECHO_REQUEST, NEIGHBOR_SOLICIT, NEIGHBOR_ADVERT][len % 3];
                junk[1] = 0;
                fill_checksum(&mut junk, A, B);
            }
            let _ = Repr::parse(&junk, A, B);
        }
    }
}
