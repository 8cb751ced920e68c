//! Addressing on the member links: one IPv4 address per end shared by every
//! member (as a bond would), the peer's MAC learned per member by ARP (or
//! given), and one UDP source port per path so paths are distinct flows.

use std::net::Ipv4Addr;

use crate::wire::Mac;

/// The sender's default address: the first of the benchmarking range
/// (RFC 2544), for back-to-back test links.
pub const DEFAULT_SENDER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The receiver's default address.
pub const DEFAULT_RECEIVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The receiver's UDP port when none is given.
pub const DEFAULT_UDP_PORT: u16 = 47_100;

/// UDP source port of path `path` when the receiver listens on `udp_port`:
/// the ports after it, so each path is its own flow for RSS and the ACKs of
/// a path come back to a distinct port.
pub fn path_udp_port(udp_port: u16, path: u16) -> u16 {
    udp_port.wrapping_add(1).wrapping_add(path)
}

/// One end of a path as seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub mac: Mac,
    pub ip: Ipv4Addr,
    pub port: u16,
}
