//! The path-MTU check of one path: a full-size and a base-size probe every interval
//! until a full-size one is acknowledged; no data meanwhile. A path whose full-size
//! probes do not come back is failed (reported as a [`PathEvent`]) and probed on slowly,
//! so it carries data again once its MTU is fixed.

use super::{PathSender, PathTimer};
use crate::shared::SenderShared;
use crate::time::Instant;
use crate::transmit::Transmit;
use crate::wire::{AckRepr, Flags, Frame, PacketType, Repr, HEADER_LEN};
use crate::Payload;

/// Where a path stands in the path-MTU check ([`crate::config::PathProbe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMtu {
    /// No check asked for, or a full-size probe was acknowledged: carries data.
    Ok,
    /// Probing: no data until a full-size probe is acknowledged.
    Probing,
    /// No full-size probe acknowledged within the timeout: carries no data, probed on
    /// slowly.
    Failed {
        /// A base-size probe was acknowledged.
        base_ok: bool,
    },
}

/// Something about a path that the driver reports (naming the member it knows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathEvent {
    /// No full-size probe came back within the timeout: the path carries no data.
    MtuFailed {
        /// The path.
        path: u16,
        /// Datagram length of the full-size probe.
        full_len: u16,
        /// Datagram length of the base-size probe.
        base_len: u16,
        /// Whether a base-size probe came back.
        base_ok: bool,
    },
    /// A full-size probe came back after a failure: the path carries data again.
    MtuRecovered {
        /// The path.
        path: u16,
    },
}

/// Path-MTU probes remembered per path (their packet numbers and whether full-size).
const MTU_PROBES: usize = 16;
/// Full-size probes left unanswered after a base-size one came back that settle the
/// verdict before the timeout.
const MTU_FULL_UNANSWERED: u8 = 4;

impl<B: Payload> PathSender<B> {
    /// Datagram length of a full-size probe: a DATA packet of a whole chunk (sealed: and
    /// its tag).
    fn full_len(shared: &SenderShared<B>) -> u16 {
        let tag = if shared.keyring().keyed() { crate::crypto::TAG_LEN as u64 } else { 0 };
        (HEADER_LEN as u64 + shared.chunk_size() + tag).min(u16::MAX as u64) as u16
    }

    /// Starts (again) the path-MTU check, if one is configured.
    pub(super) fn restart_mtu_check(&mut self, shared: &SenderShared<B>) {
        if self.probe.is_none() {
            return;
        }
        self.set_mtu(PathMtu::Probing, shared);
        self.mtu_since = None;
        self.mtu_base_ok = false;
        self.mtu_full_after_base = 0;
        self.mtu_probes.clear();
        self.timers.stop(PathTimer::Mtu);
    }

    fn set_mtu(&mut self, m: PathMtu, shared: &SenderShared<B>) {
        let failed = matches!(m, PathMtu::Failed { .. });
        if failed != self.mtu_counted {
            shared.count_mtu_failed(failed);
            self.mtu_counted = failed;
        }
        self.mtu = m;
    }

    /// The next path-MTU probe, when one is due.
    pub(super) fn poll_mtu_probe(&mut self, now: Instant, shared: &SenderShared<B>) -> Option<Transmit<B>> {
        let probe = self.probe?;
        if self.mtu == PathMtu::Ok {
            return None;
        }
        if self.mtu_since.is_none() {
            self.mtu_since = Some(now);
            self.mtu_pending = 2;
            self.timers.set(PathTimer::Mtu, now + probe.interval);
        }
        if self.mtu_pending == 0 {
            return None;
        }
        self.mtu_pending -= 1;
        let full = self.mtu_pending == 1;
        let len = if full { Self::full_len(shared) } else { probe.base_len.min(Self::full_len(shared)) };
        let pn = self.next_pn;
        self.next_pn += 1;
        if self.mtu_probes.len() >= MTU_PROBES {
            self.mtu_probes.remove(0);
        }
        self.mtu_probes.push((pn, full));
        if full && self.mtu_base_ok {
            self.mtu_full_after_base = self.mtu_full_after_base.saturating_add(1);
        }
        let mut header = self.header(now, PacketType::Ping, shared.session_id(), pn);
        header.flags = Flags(Flags::ACK_NOW);
        if shared.keyring().keyed() {
            header.flags.0 |= Flags::SEALED;
        }
        self.stats.packets += 1;
        self.stats.bytes += len as u64;
        Some(Transmit { path: self.id, repr: Repr { header, frame: Frame::Ping }, payload: None, pad_to: len })
    }

    /// Sends the next path-MTU probe pair at once (the deadline stays): the receiver
    /// has just shown that it now answers them.
    pub(crate) fn probe_mtu_now(&mut self) {
        if self.probe.is_some() && self.mtu == PathMtu::Probing && self.mtu_since.is_some() {
            self.mtu_pending = 2;
        }
    }

    /// Notes the path-MTU probes an ACK acknowledges.
    pub(super) fn mtu_acked(&mut self, ack: &AckRepr, shared: &SenderShared<B>) {
        if self.mtu == PathMtu::Ok || self.mtu_probes.is_empty() {
            return;
        }
        let acked = |pn: u64| ack.ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&pn));
        let mut full = false;
        for &(pn, is_full) in &self.mtu_probes {
            if acked(pn) {
                if is_full {
                    full = true;
                } else {
                    self.mtu_base_ok = true;
                }
            }
        }
        if full {
            if matches!(self.mtu, PathMtu::Failed { .. }) {
                self.event = Some(PathEvent::MtuRecovered { path: self.id });
            }
            self.set_mtu(PathMtu::Ok, shared);
            self.mtu_probes.clear();
            self.timers.stop(PathTimer::Mtu);
        }
    }

    /// The path-MTU timer: the next probe pair, and the verdict at the deadline.
    pub(super) fn mtu_timeout(&mut self, now: Instant, shared: &SenderShared<B>) {
        let Some(probe) = self.probe else { return };
        if self.mtu == PathMtu::Ok {
            return;
        }
        let mut next = probe.interval;
        // The verdict: at the timeout, or as soon as small probes come back while
        // several full ones sent after them do not (the path is up, the size is the problem).
        let timed_out = self.mtu_since.is_some_and(|t| now - t >= probe.timeout);
        let clear = self.mtu_full_after_base >= MTU_FULL_UNANSWERED;
        if self.mtu == PathMtu::Probing && (timed_out || clear) {
            let base_ok = self.mtu_base_ok;
            self.set_mtu(PathMtu::Failed { base_ok }, shared);
            let full_len = Self::full_len(shared);
            let base_len = probe.base_len.min(full_len);
            self.event = Some(PathEvent::MtuFailed { path: self.id, full_len, base_len, base_ok });
        }
        if let PathMtu::Failed { .. } = self.mtu {
            next = probe.interval.saturating_mul(10);
            // A base-size answer that comes late still tells the report something.
            self.mtu = PathMtu::Failed { base_ok: self.mtu_base_ok };
        }
        self.mtu_pending = 2;
        self.timers.set(PathTimer::Mtu, now + next);
    }
}
