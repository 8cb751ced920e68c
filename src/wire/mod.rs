//! Zero-copy views over the frames the data plane builds and parses:
//! Ethernet, 802.1Q VLAN tags, ARP, IPv4, IPv6, UDP, ICMP echo and ICMPv6 (echo
//! and neighbour discovery). (The striping protocol's own
//! header lives in the `stripecat-proto` crate.)
//!
//! Contract, as in smoltcp: a view is `X<T: AsRef<[u8]>>` over the bytes
//! themselves; `new_checked` validates lengths once, after which no getter
//! can panic; setters need `AsMut`. Field offsets live in each file's
//! `field` module, written as widths with `stripecat_proto::layout!`, and
//! nowhere else. Every frame off the wire is untrusted.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod udp;
pub mod vlan;

/// Why a frame was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("frame too short")]
    Truncated,
    #[error("malformed header")]
    Malformed,
    #[error("bad checksum")]
    Checksum,
    #[error("unsupported")]
    Unsupported,
}

/// Declares a view over a header's bytes, `$name<T: AsRef<[u8]>>`, with `at_least`:
/// the length check every `new_checked` starts from (after it, no field getter of the
/// fixed header can panic), and `be16`, a 16-bit field of that header.
///
/// - `view!(/// doc, Name, header LEN)`: the view writes its own `new_checked`, which
///   starts with `at_least` and then checks its fields;
/// - `view!(/// doc, Name, header LEN, length only)`: `new_checked` is `at_least`.
macro_rules! view {
    ($(#[$m:meta])* $name:ident, header $min:expr) => {
        $(#[$m])*
        #[derive(Debug)]
        pub struct $name<T: AsRef<[u8]>> {
            buf: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps `buf` if it holds the whole fixed header (the view's own checks of
            /// its fields come after).
            fn at_least(buf: T) -> Result<Self, WireError> {
                if buf.as_ref().len() < $min {
                    return Err(WireError::Truncated);
                }
                Ok($name { buf })
            }

            /// The big-endian 16-bit field at `f` (inside the checked header).
            fn be16(&self, f: $crate::wire::Field) -> u16 {
                $crate::wire::be16(self.buf.as_ref(), f)
            }
        }
    };
    // A view whose only check is the header's length.
    ($(#[$m:meta])* $name:ident, header $min:expr, length only) => {
        $crate::wire::view!($(#[$m])* $name, header $min);

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps `buf` if it holds the whole header; no field needs a check.
            pub fn new_checked(buf: T) -> Result<Self, WireError> {
                Self::at_least(buf)
            }
        }
    };
}
pub(crate) use view;

/// Seeded junk for the parsers' hostile-input tests (xorshift32).
#[cfg(test)]
pub(crate) fn junk(state: &mut u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 17;
            *state ^= *state << 5;
            *state as u8
        })
        .collect()
}

/// A byte range within a header.
pub type Field = core::ops::Range<usize>;

/// The big-endian 16-bit field at `f` of `b`.
pub fn be16(b: &[u8], f: Field) -> u16 {
    u16::from_be_bytes([b[f.start], b[f.start + 1]])
}

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    pub const ZERO: Mac = Mac([0; 6]);

    pub fn is_unicast(&self) -> bool {
        self.0[0] & 1 == 0 && *self != Mac::ZERO
    }
}

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl std::str::FromStr for Mac {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(format!("{s:?} is not a MAC address like 02:00:00:00:00:01"));
        }
        let mut m = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            if p.len() != 2 {
                return Err(format!("{s:?} is not a MAC address like 02:00:00:00:00:01"));
            }
            m[i] =
                u8::from_str_radix(p, 16).map_err(|_| format!("{s:?} is not a MAC address like 02:00:00:00:00:01"))?;
        }
        Ok(Mac(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parse_and_print() {
        let m: Mac = "02:5C:00:0a:ff:01".parse().unwrap();
        assert_eq!(m.0, [2, 0x5c, 0, 10, 0xff, 1]);
        assert_eq!(m.to_string(), "02:5c:00:0a:ff:01");
        assert!("02:5c:00:0a:ff".parse::<Mac>().is_err());
        assert!("02:5c:00:0a:ff:zz".parse::<Mac>().is_err());
        assert!(m.is_unicast() && !Mac::BROADCAST.is_unicast() && !Mac::ZERO.is_unicast());
    }
}
