//! The frames every end answers whatever its role (ARP for our address, ping),
//! and the counters of frames handled below the protocol.

use std::net::Ipv4Addr;

use super::super::framing;
use super::Member;
use crate::dpdk::{Mbuf, Mempool};
use crate::wire::arp;

/// Counters of frames handled below the protocol.
#[derive(Debug, Default, Clone)]
pub struct FrameCounters {
    pub drops: std::collections::BTreeMap<&'static str, u64>,
    pub arp_replies_sent: u64,
    pub arp_requests_sent: u64,
    pub pings_answered: u64,
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
    }
}

/// Answers what every end answers: ARP requests for `our_ip` and pings.
/// Returns the ARP repr (for the caller to learn from) or `None`.
pub fn answer_common(
    member: &mut Member,
    q: usize,
    mut m: Mbuf,
    class: &framing::Classified,
    our_ip: Ipv4Addr,
    hdr_pool: &Mempool,
    counters: &mut FrameCounters,
) -> Option<arp::Repr> {
    match class {
        framing::Classified::Arp(a) => {
            if a.operation == arp::OP_REQUEST && a.target_ip == our_ip {
                let reply = a.reply_from(member.mac, our_ip);
                if let Some(f) = framing::build_arp(hdr_pool, member.mac, a.sender_mac, &reply) {
                    member.send(q, f);
                    counters.arp_replies_sent += 1;
                }
            }
            Some(*a)
        }
        framing::Classified::EchoRequest => {
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
        framing::Classified::Drop(why) => {
            counters.drop(*why);
            None
        }
        framing::Classified::Stripe { .. } => None,
    }
}
