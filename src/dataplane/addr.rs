//! Addressing on the member links: each member has this end's address (IPv4 or
//! IPv6, with a prefix length; one shared by every member, as a bond would, unless
//! given per member), the peer's address, an optional gateway (the next hop when the
//! peer is outside the prefix) and an optional 802.1Q VLAN. The next hop's MAC is
//! learned per member by ARP or neighbour discovery (or given), and each path has its
//! own UDP source port so paths are distinct flows.

use std::net::{IpAddr, Ipv4Addr};

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
    pub ip: IpAddr,
    pub port: u16,
}

/// One member's network: where this end is, where the peer is and how to reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberNet {
    /// This end's address on the member.
    pub local: IpAddr,
    /// Its prefix length (the on-link subnet).
    pub prefix: u8,
    /// The peer's address (a sender's receiver; `None` on a receiver, which answers
    /// whoever sent).
    pub peer: Option<IpAddr>,
    /// The next hop towards a peer outside the prefix.
    pub gateway: Option<IpAddr>,
    /// 802.1Q VLAN id of the member's frames; `None`: untagged.
    pub vlan: Option<u16>,
}

impl MemberNet {
    /// An untagged member at `local`/`prefix` talking to `peer` directly.
    pub fn flat(local: IpAddr, prefix: u8, peer: Option<IpAddr>) -> MemberNet {
        MemberNet { local, prefix, peer, gateway: None, vlan: None }
    }

    /// Whether the member runs IPv6.
    pub fn is_v6(&self) -> bool {
        self.local.is_ipv6()
    }

    /// The neighbour whose MAC frames to the peer go to: the gateway, or the peer.
    pub fn next_hop(&self) -> Option<IpAddr> {
        self.gateway.or(self.peer)
    }

    /// Whether `ip` is on this member's subnet.
    pub fn on_link(&self, ip: IpAddr) -> bool {
        in_prefix(self.local, self.prefix, ip)
    }
}

/// Whether `ip` is within `net`/`prefix` (same family only).
pub fn in_prefix(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix.min(32) as u32) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix.min(128) as u32) };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Parses `ADDR` or `ADDR/LEN` (IPv4 or IPv6). Without a length: /24 for IPv4, /64 for IPv6.
pub fn parse_ip_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr =
        a.trim().parse().map_err(|_| format!("{s:?} is not an IP address (like 198.18.0.1/24 or 2001:2::1/64)"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match len {
        None => {
            if ip.is_ipv4() {
                24
            } else {
                64
            }
        }
        Some(l) => match l.trim().parse::<u8>() {
            Ok(p) if p <= max => p,
            _ => return Err(format!("{s:?}: the prefix length must be 0 to {max}")),
        },
    };
    if ip.is_unspecified() || ip.is_multicast() || matches!(ip, IpAddr::V4(v) if v.is_broadcast()) {
        return Err(format!("{s:?} cannot be a member's address (unspecified, multicast or broadcast)"));
    }
    Ok((ip, prefix))
}

/// What the command line says about the members' addressing, each list empty (the
/// default), one value (every member) or one per member, in `--port` order.
#[derive(Debug, Clone, Default)]
pub struct NetArgs<'a> {
    pub local: &'a [String],
    /// Empty on a receiver.
    pub peer: &'a [String],
    pub gateway: &'a [String],
    pub vlan: &'a [String],
}

/// The value of list `what` for member `i` of `n`: the one for all, its own, or `None`
/// when not given; a count that is neither 1 nor `n` is an error.
fn pick<'a>(what: &str, list: &'a [String], i: usize, n: usize) -> Result<Option<&'a str>, String> {
    match list.len() {
        0 => Ok(None),
        1 => Ok(Some(list[0].trim())),
        k if k == n => Ok(Some(list[i].trim())),
        k => Err(format!(
            "--{what} gives {k} values for {n} --port member{}: give one for every member or one per --port, in order",
            if n == 1 { "" } else { "s" }
        )),
    }
}

/// Every member's addressing from the command line's lists (see [`NetArgs`]), with
/// `default_local` (and, for a sender, `default_peer`) where none is given. Refuses,
/// with one line naming the member: malformed addresses, a peer of another family than
/// this end's address, a peer off the subnet without a gateway, a gateway outside the
/// member's subnet, and VLAN ids outside 1..=4094 (`none` leaves a member untagged).
pub fn member_nets(
    n: usize,
    names: &[String],
    a: &NetArgs,
    default_local: Ipv4Addr,
    default_peer: Option<Ipv4Addr>,
) -> Result<Vec<MemberNet>, String> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let who = names.get(i).map_or_else(|| format!("member {i}"), |p| format!("member {p}"));
        let (local, prefix) = match pick("local-ip", a.local, i, n)? {
            Some(s) => parse_ip_prefix(s).map_err(|e| format!("--local-ip for {who}: {e}"))?,
            None => (IpAddr::V4(default_local), 24),
        };
        let peer = match pick("peer-ip", a.peer, i, n)? {
            Some(s) => {
                Some(s.parse::<IpAddr>().map_err(|_| format!("--peer-ip for {who}: {s:?} is not an IP address"))?)
            }
            None if a.peer.is_empty() && default_peer.is_some() && local.is_ipv4() => default_peer.map(IpAddr::V4),
            None if default_peer.is_some() => {
                return Err(format!("{who} has the IPv6 address {local}: give its --peer-ip (no default for IPv6)"))
            }
            None => None,
        };
        let gateway = match pick("gateway", a.gateway, i, n)? {
            None | Some("none") | Some("") => None,
            Some(s) => {
                Some(s.parse::<IpAddr>().map_err(|_| format!("--gateway for {who}: {s:?} is not an IP address"))?)
            }
        };
        let vlan = match pick("vlan", a.vlan, i, n)? {
            None | Some("none") | Some("untagged") => None,
            Some(s) => match s.parse::<u16>() {
                Ok(v) if crate::wire::vlan::is_valid_vid(v) => Some(v),
                _ => {
                    return Err(format!("--vlan for {who}: {s:?} is not a VLAN id 1 to 4094 (0 and 4095 are reserved)"))
                }
            },
        };
        let net = MemberNet { local, prefix, peer, gateway, vlan };
        if let Some(p) = peer {
            if p.is_ipv4() != local.is_ipv4() {
                return Err(format!("{who}: --local-ip {local} and --peer-ip {p} are of different IP versions"));
            }
            if !net.on_link(p) && gateway.is_none() {
                return Err(format!(
                    "{who}: peer {p} is outside {local}/{prefix}: give --gateway (the router on that subnet) or a longer prefix"
                ));
            }
        }
        if let Some(g) = gateway {
            if !net.on_link(g) || g == local {
                return Err(format!("{who}: gateway {g} is not on its subnet {local}/{prefix}"));
            }
        }
        out.push(net);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn per_member_lists_one_for_all_or_one_each() {
        let names = strs(&["p0", "p1"]);
        let (local, peer, gw, vlan) = (
            strs(&["198.18.1.5/24", "2001:2::1/64"]),
            strs(&["198.18.2.2", "2001:2::2"]),
            strs(&["198.18.1.1", "none"]),
            strs(&["210"]),
        );
        let a = NetArgs { local: &local, peer: &peer, gateway: &gw, vlan: &vlan };
        let nets = member_nets(2, &names, &a, DEFAULT_SENDER_IP, Some(DEFAULT_RECEIVER_IP)).unwrap();
        assert_eq!(nets[0].next_hop(), Some("198.18.1.1".parse().unwrap()));
        assert_eq!(nets[1].next_hop(), Some("2001:2::2".parse().unwrap()));
        assert_eq!((nets[0].vlan, nets[1].vlan), (Some(210), Some(210)));
        // Defaults: the benchmarking pair on every member, untagged.
        let d = member_nets(2, &names, &NetArgs::default(), DEFAULT_SENDER_IP, Some(DEFAULT_RECEIVER_IP)).unwrap();
        assert_eq!(d[1], MemberNet::flat(IpAddr::V4(DEFAULT_SENDER_IP), 24, Some(IpAddr::V4(DEFAULT_RECEIVER_IP))));
    }

    #[test]
    fn bad_member_addressing_is_one_line_naming_the_member() {
        let names = strs(&["p0", "p1"]);
        let err = |local: &[&str], peer: &[&str], gw: &[&str], vlan: &[&str]| {
            let (l, p, g, v) = (strs(local), strs(peer), strs(gw), strs(vlan));
            let a = NetArgs { local: &l, peer: &p, gateway: &g, vlan: &v };
            member_nets(2, &names, &a, DEFAULT_SENDER_IP, Some(DEFAULT_RECEIVER_IP)).unwrap_err()
        };
        assert!(err(&["198.18.0.1", "198.18.0.3", "198.18.0.4"], &[], &[], &[]).contains("3 values for 2"));
        assert!(err(&[], &[], &[], &["0"]).contains("VLAN id 1 to 4094"));
        assert!(err(&[], &[], &[], &["4095"]).contains("reserved"));
        assert!(err(&["198.18.0.300"], &[], &[], &[]).contains("not an IP address"));
        assert!(err(&[], &[], &["198.18.9.1"], &[]).contains("gateway 198.18.9.1 is not on its subnet"));
        assert!(err(&[], &["198.18.5.2"], &[], &[]).contains("outside 198.18.0.1/24: give --gateway"));
        assert!(err(&["2001:2::1"], &["198.18.0.2"], &[], &[]).contains("different IP versions"));
        assert!(err(&["2001:2::1"], &[], &[], &[]).contains("give its --peer-ip"));
        let e = err(&[], &[], &[], &["1", "2", "3"]);
        assert!(e.contains("--vlan gives 3 values") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn prefixes_and_next_hops() {
        assert_eq!(parse_ip_prefix("198.18.1.5/24"), Ok(("198.18.1.5".parse().unwrap(), 24)));
        assert_eq!(parse_ip_prefix("2001:2::1"), Ok(("2001:2::1".parse().unwrap(), 64)));
        assert_eq!(parse_ip_prefix("198.18.0.1"), Ok(("198.18.0.1".parse().unwrap(), 24)));
        assert!(parse_ip_prefix("198.18.0.1/33").is_err());
        assert!(parse_ip_prefix("198.18.0").is_err());
        assert!(parse_ip_prefix("0.0.0.0").is_err());
        assert!(parse_ip_prefix("ff02::1").is_err());
        let a: IpAddr = "198.18.1.5".parse().unwrap();
        assert!(in_prefix(a, 24, "198.18.1.200".parse().unwrap()));
        assert!(!in_prefix(a, 24, "198.18.2.1".parse().unwrap()));
        assert!(!in_prefix(a, 24, "2001:2::1".parse().unwrap()));
        let v6: IpAddr = "2001:2:0:1::5".parse().unwrap();
        assert!(in_prefix(v6, 64, "2001:2:0:1::9".parse().unwrap()));
        assert!(!in_prefix(v6, 64, "2001:2:0:2::9".parse().unwrap()));
        let gw: IpAddr = "198.18.1.1".parse().unwrap();
        let m = MemberNet { gateway: Some(gw), ..MemberNet::flat(a, 24, Some("198.18.2.2".parse().unwrap())) };
        assert_eq!(m.next_hop(), Some(gw));
        assert!(m.on_link(gw));
    }
}
