//! The frames every end answers whatever its role (ARP and neighbour solicitations
//! for our address on the member, on its VLAN; ping over IPv4 and IPv6), and the
//! counters of frames handled below the protocol.

use std::net::{IpAddr, Ipv6Addr};

use super::super::addr::MemberNet;
use super::super::framing::{self, Classified, Encap};
use super::super::neighbor::Heard;
use super::Member;
use crate::dpdk::{Mbuf, Mempool};
use crate::wire::{arp, icmpv6, ipv6};

/// Counters of frames handled below the protocol.
#[derive(Debug, Default, Clone)]
pub struct FrameCounters {
    pub drops: std::collections::BTreeMap<&'static str, u64>,
    pub arp_replies_sent: u64,
    pub arp_requests_sent: u64,
    pub pings_answered: u64,
    /// Idle waits for a receive interrupt, and those a frame ended (the rest timed out).
    pub irq_sleeps: u64,
    pub irq_wakes: u64,
}

impl FrameCounters {
    pub fn drop(&mut self, why: framing::FrameDrop) {
        *self.drops.entry(why.name()).or_default() += 1;
    }

    /// Adds another lane's counts.
    pub fn merge(&mut self, from: &FrameCounters) {
        for (k, v) in &from.drops {
            *self.drops.entry(k).or_default() += v;
        }
        self.arp_replies_sent += from.arp_replies_sent;
        self.arp_requests_sent += from.arp_requests_sent;
        self.pings_answered += from.pings_answered;
        self.irq_sleeps += from.irq_sleeps;
        self.irq_wakes += from.irq_wakes;
    }
}

/// Answers what every end answers on member `member` (at `net`): ARP requests and
/// neighbour solicitations for our address there, and pings. Returns what the frame
/// taught about a neighbour, for the caller to learn from. `m` is consumed.
pub fn answer_common(
    member: &mut Member,
    q: usize,
    mut m: Mbuf,
    class: &Classified,
    net: &MemberNet,
    hdr_pool: &Mempool,
    counters: &mut FrameCounters,
) -> Option<Heard> {
    let encap = Encap::of(net);
    match *class {
        Classified::Arp(a) => {
            if let (arp::OP_REQUEST, IpAddr::V4(us)) = (a.operation, net.local) {
                if a.target_ip == us {
                    let reply = a.reply_from(member.mac, us);
                    if let Some(f) = framing::build_arp(hdr_pool, encap, member.mac, a.sender_mac, &reply) {
                        member.send(q, f);
                        counters.arp_replies_sent += 1;
                    }
                }
            }
            Some(Heard::Arp(a))
        }
        Classified::Nd { msg, ip, mac } => {
            if let (icmpv6::Repr::NeighborSolicit { target, source_mac }, IpAddr::V6(us)) = (msg, net.local) {
                if target == us {
                    // RFC 4861 7.2.4: solicited (to the soliciter) unless it has no address yet
                    // (duplicate address detection: then to all nodes, unsolicited).
                    let dad = ip.is_unspecified();
                    let (to_ip, to_mac) = if dad {
                        let all = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
                        (all, ipv6::multicast_mac(all))
                    } else {
                        (ip, source_mac.unwrap_or(mac))
                    };
                    let adv = icmpv6::Repr::NeighborAdvert {
                        target: us,
                        target_mac: Some(member.mac),
                        router: false,
                        solicited: !dad,
                        override_: true,
                    };
                    if let Some(f) = framing::build_nd(hdr_pool, encap, (member.mac, us), (to_mac, to_ip), &adv) {
                        member.send(q, f);
                        counters.arp_replies_sent += 1;
                    }
                }
            }
            Some(Heard::Nd { msg, ip, mac })
        }
        Classified::EchoRequest => {
            if m.segments() == 1 {
                if let Some(buf) = m.data_mut() {
                    if framing::echo_reply_in_place(buf) {
                        member.send(q, m);
                        counters.pings_answered += 1;
                    }
                }
            }
            None
        }
        Classified::Drop(why) => {
            counters.drop(why);
            None
        }
        Classified::Stripe { .. } => None,
    }
}
