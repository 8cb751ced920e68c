//! Neighbours on every member: the sender learns the MAC of each member's next hop
//! (the peer, or the gateway when the peer is on another subnet) by ARP for IPv4 or
//! neighbour solicitation for IPv6, on the member's VLAN, retrying on a timer. (What
//! every end answers, ARP and solicitations for its address, is in
//! `members::common_frames`.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::addr::MemberNet;
use super::framing::{self, Encap};
use crate::dpdk::{Mbuf, Mempool};
use crate::wire::{arp, icmpv6, ipv6, Mac};

/// How often an unanswered ARP request or neighbour solicitation is repeated.
pub const ARP_RETRY_US: u64 = 100_000;

/// What a frame taught about a neighbour: an ARP packet, or a neighbour discovery
/// message from `ip` at Ethernet source `mac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    Arp(arp::Repr),
    Nd { msg: icmpv6::Repr, ip: Ipv6Addr, mac: Mac },
}

/// The MAC of each member's next hop, as far as known.
#[derive(Debug, Clone)]
pub struct Neighbors {
    targets: Vec<Option<IpAddr>>,
    macs: Vec<Option<Mac>>,
    last_request_us: Vec<Option<u64>>,
}

impl Neighbors {
    /// One entry per member: the address to resolve there (`None`: nothing to
    /// resolve), pre-filled when the MAC was given (`--peer-mac`).
    pub fn new(targets: Vec<Option<IpAddr>>, given: Option<Mac>) -> Neighbors {
        let n = targets.len();
        Neighbors { targets, macs: vec![given; n], last_request_us: vec![None; n] }
    }

    /// Every member's next hop (see [`MemberNet::next_hop`]).
    pub fn for_members(nets: &[MemberNet], given: Option<Mac>) -> Neighbors {
        Neighbors::new(nets.iter().map(MemberNet::next_hop).collect(), given)
    }

    pub fn mac(&self, member: usize) -> Option<Mac> {
        self.macs.get(member).copied().flatten()
    }

    /// The address resolved on member `i`.
    pub fn target(&self, member: usize) -> Option<IpAddr> {
        self.targets.get(member).copied().flatten()
    }

    pub fn all_known(&self) -> bool {
        self.macs.iter().all(Option::is_some)
    }

    /// Which members still need their next hop's MAC: those never resolved.
    pub fn unresolved(&self) -> impl Iterator<Item = usize> + '_ {
        self.macs.iter().enumerate().filter(|(_, m)| m.is_none()).map(|(i, _)| i)
    }

    /// Whether member `i` should send a (new) request now.
    pub fn request_due(&mut self, i: usize, now_us: u64) -> bool {
        if self.mac(i).is_some() || self.target(i).is_none() {
            return false;
        }
        let due = self.last_request_us[i].is_none_or(|t| now_us.saturating_sub(t) >= ARP_RETRY_US);
        if due {
            self.last_request_us[i] = Some(now_us);
        }
        due
    }

    /// Learns from what the next hop of member `i` sent there: an ARP reply or request
    /// from it, a neighbour advertisement of it, or a solicitation it sent with its
    /// link-layer address.
    pub fn learn(&mut self, i: usize, heard: &Heard) {
        let Some(target) = self.target(i) else { return };
        let mac = match *heard {
            Heard::Arp(a) if IpAddr::V4(a.sender_ip) == target => Some(a.sender_mac),
            Heard::Nd { msg: icmpv6::Repr::NeighborAdvert { target: t, target_mac, .. }, mac, .. }
                if IpAddr::V6(t) == target =>
            {
                Some(target_mac.unwrap_or(mac))
            }
            Heard::Nd { msg: icmpv6::Repr::NeighborSolicit { source_mac: Some(m), .. }, ip, .. }
                if IpAddr::V6(ip) == target =>
            {
                Some(m)
            }
            _ => None,
        };
        if let Some(m) = mac.filter(Mac::is_unicast) {
            self.macs[i] = Some(m);
        }
    }

    /// Sets the MAC of member `i` directly (receiver: learned from a frame).
    pub fn set(&mut self, i: usize, mac: Mac) {
        if let Some(slot) = self.macs.get_mut(i) {
            *slot = Some(mac);
        }
    }
}

/// The request asking for `target` on behalf of `(mac, ip)`.
pub fn request(mac: Mac, ip: Ipv4Addr, target: Ipv4Addr) -> arp::Repr {
    arp::Repr { operation: arp::OP_REQUEST, sender_mac: mac, sender_ip: ip, target_mac: Mac::ZERO, target_ip: target }
}

/// The frame that asks for member `net`'s next hop `target` from `mac`: an ARP
/// request (broadcast) or a neighbour solicitation (to the target's solicited-node
/// group), on the member's VLAN. `None` when the pool is empty or the families differ.
pub fn build_request(pool: &Mempool, net: &MemberNet, mac: Mac, target: IpAddr) -> Option<Mbuf> {
    let encap = Encap::of(net);
    match (net.local, target) {
        (IpAddr::V4(us), IpAddr::V4(t)) => framing::build_arp(pool, encap, mac, Mac::BROADCAST, &request(mac, us, t)),
        (IpAddr::V6(us), IpAddr::V6(t)) => {
            let group = ipv6::solicited_node(t);
            let msg = icmpv6::Repr::NeighborSolicit { target: t, source_mac: Some(mac) };
            framing::build_nd(pool, encap, (mac, us), (ipv6::multicast_mac(group), group), &msg)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn resolves_per_member_and_retries_on_a_timer() {
        let peer = Ipv4Addr::new(198, 18, 0, 2);
        let mut n = Neighbors::new(vec![Some(IpAddr::V4(peer)); 2], None);
        assert!(n.request_due(0, 0) && n.request_due(1, 0));
        assert!(!n.request_due(0, ARP_RETRY_US - 1));
        assert!(n.request_due(0, ARP_RETRY_US));
        let reply = arp::Repr {
            operation: arp::OP_REPLY,
            sender_mac: Mac([2, 0, 0, 0, 0, 2]),
            sender_ip: peer,
            target_mac: Mac::ZERO,
            target_ip: Ipv4Addr::new(198, 18, 0, 1),
        };
        n.learn(1, &Heard::Arp(reply));
        assert_eq!(n.mac(1), Some(Mac([2, 0, 0, 0, 0, 2])));
        assert!(!n.all_known());
        assert_eq!(n.unresolved().collect::<Vec<_>>(), vec![0]);
        // A reply from someone else teaches nothing.
        let other = arp::Repr { sender_ip: Ipv4Addr::new(198, 18, 0, 9), ..reply };
        n.learn(0, &Heard::Arp(other));
        assert_eq!(n.mac(0), None);
        n.learn(0, &Heard::Arp(reply));
        assert!(n.all_known() && !n.request_due(0, 10 * ARP_RETRY_US));
    }

    #[test]
    fn given_mac_needs_no_arp() {
        let n = Neighbors::new(vec![Some(v4("198.18.0.2")); 3], Some(Mac([2, 0, 0, 0, 0, 9])));
        assert!(n.all_known());
    }

    #[test]
    fn each_member_resolves_its_own_next_hop_of_its_own_family() {
        let gw = v4("198.18.1.1");
        let peer6: Ipv6Addr = "2001:2::2".parse().unwrap();
        let nets = [
            MemberNet { gateway: Some(gw), ..MemberNet::flat(v4("198.18.1.5"), 24, Some(v4("198.18.2.2"))) },
            MemberNet::flat("2001:2::1".parse().unwrap(), 64, Some(IpAddr::V6(peer6))),
        ];
        let mut n = Neighbors::for_members(&nets, None);
        assert_eq!((n.target(0), n.target(1)), (Some(gw), Some(IpAddr::V6(peer6))));
        // The peer itself answering on the routed member is not the next hop.
        let from_peer = arp::Repr {
            operation: arp::OP_REPLY,
            sender_mac: Mac([2, 0, 0, 0, 0, 2]),
            sender_ip: Ipv4Addr::new(198, 18, 2, 2),
            target_mac: Mac::ZERO,
            target_ip: Ipv4Addr::new(198, 18, 1, 5),
        };
        n.learn(0, &Heard::Arp(from_peer));
        assert_eq!(n.mac(0), None);
        n.learn(0, &Heard::Arp(arp::Repr { sender_ip: Ipv4Addr::new(198, 18, 1, 1), ..from_peer }));
        assert_eq!(n.mac(0), Some(Mac([2, 0, 0, 0, 0, 2])));
        // An advertisement for the peer's v6 address, with and without the option.
        let adv = |target_mac| icmpv6::Repr::NeighborAdvert {
            target: peer6,
            target_mac,
            router: false,
            solicited: true,
            override_: true,
        };
        n.learn(1, &Heard::Nd { msg: adv(None), ip: peer6, mac: Mac([2, 0, 0, 0, 0, 7]) });
        assert_eq!(n.mac(1), Some(Mac([2, 0, 0, 0, 0, 7])));
        n.learn(1, &Heard::Nd { msg: adv(Some(Mac([2, 0, 0, 0, 0, 8]))), ip: peer6, mac: Mac([2, 0, 0, 0, 0, 7]) });
        assert_eq!(n.mac(1), Some(Mac([2, 0, 0, 0, 0, 8])));
        // A multicast "MAC" is never learnt.
        n.learn(1, &Heard::Nd { msg: adv(Some(Mac([0x33, 0x33, 0, 0, 0, 1]))), ip: peer6, mac: Mac::BROADCAST });
        assert_eq!(n.mac(1), Some(Mac([2, 0, 0, 0, 0, 8])));
    }
}
