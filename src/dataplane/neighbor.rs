//! ARP on every member: learn the peer's MAC per member (the sender asks,
//! retrying), answer requests for our own address.

use std::net::Ipv4Addr;

use crate::wire::{arp, Mac};

/// How often an unanswered ARP request is repeated.
pub const ARP_RETRY_US: u64 = 100_000;

/// The peer's MAC on each member, as far as known.
#[derive(Debug, Clone)]
pub struct Neighbors {
    peer_ip: Option<Ipv4Addr>,
    macs: Vec<Option<Mac>>,
    last_request_us: Vec<Option<u64>>,
}

impl Neighbors {
    /// `members` entries, pre-filled when the MAC was given (`--peer-mac`).
    pub fn new(members: usize, peer_ip: Option<Ipv4Addr>, given: Option<Mac>) -> Neighbors {
        Neighbors { peer_ip, macs: vec![given; members], last_request_us: vec![None; members] }
    }

    pub fn mac(&self, member: usize) -> Option<Mac> {
        self.macs.get(member).copied().flatten()
    }

    pub fn all_known(&self) -> bool {
        self.macs.iter().all(Option::is_some)
    }

    /// Which members still need the peer's MAC: those never resolved.
    pub fn unresolved(&self) -> impl Iterator<Item = usize> + '_ {
        self.macs.iter().enumerate().filter(|(_, m)| m.is_none()).map(|(i, _)| i)
    }

    /// Whether member `i` should send a (new) request now.
    pub fn request_due(&mut self, i: usize, now_us: u64) -> bool {
        if self.mac(i).is_some() || self.peer_ip.is_none() {
            return false;
        }
        let due = self.last_request_us[i].is_none_or(|t| now_us.saturating_sub(t) >= ARP_RETRY_US);
        if due {
            self.last_request_us[i] = Some(now_us);
        }
        due
    }

    /// Learns from a reply (or request) sent by the peer on member `i`.
    pub fn learn(&mut self, i: usize, a: &arp::Repr) {
        if Some(a.sender_ip) == self.peer_ip && a.sender_mac.is_unicast() {
            if let Some(slot) = self.macs.get_mut(i) {
                *slot = Some(a.sender_mac);
            }
        }
    }

    /// Sets the MAC of member `i` directly (receiver: learned from a frame).
    pub fn set(&mut self, i: usize, mac: Mac) {
        if let Some(slot) = self.macs.get_mut(i) {
            *slot = Some(mac);
        }
    }

    pub fn peer_ip(&self) -> Option<Ipv4Addr> {
        self.peer_ip
    }
}

/// The request asking for `target` on behalf of `(mac, ip)`.
pub fn request(mac: Mac, ip: Ipv4Addr, target: Ipv4Addr) -> arp::Repr {
    arp::Repr { operation: arp::OP_REQUEST, sender_mac: mac, sender_ip: ip, target_mac: Mac::ZERO, target_ip: target }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_per_member_and_retries_on_a_timer() {
        let peer = Ipv4Addr::new(198, 18, 0, 2);
        let mut n = Neighbors::new(2, Some(peer), None);
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
        n.learn(1, &reply);
        assert_eq!(n.mac(1), Some(Mac([2, 0, 0, 0, 0, 2])));
        assert!(!n.all_known());
        assert_eq!(n.unresolved().collect::<Vec<_>>(), vec![0]);
        // A reply from someone else teaches nothing.
        let other = arp::Repr { sender_ip: Ipv4Addr::new(198, 18, 0, 9), ..reply };
        n.learn(0, &other);
        assert_eq!(n.mac(0), None);
        n.learn(0, &reply);
        assert!(n.all_known() && !n.request_due(0, 10 * ARP_RETRY_US));
    }

    #[test]
    fn given_mac_needs_no_arp() {
        let n = Neighbors::new(3, Some(Ipv4Addr::new(198, 18, 0, 2)), Some(Mac([2, 0, 0, 0, 0, 9])));
        assert!(n.all_known());
    }
}
