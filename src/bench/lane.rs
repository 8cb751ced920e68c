//! The poll loop of `bench`: each lcore runs one [`Worker`] over its share
//! of the (port, queue) lanes. One TSC read per iteration; bursts of
//! [`BURST`] frames; no allocation on the fast path beyond the mbufs.
//!
//! - `tx` builds frames from per-flow templates into buffers of a zeroed
//!   pool (see `gen`), held to `--rate` by a TSC pacer, and with
//!   `--latency` polls its receive queues for frames a reflector returned;
//! - `rx` counts frames and checks every flow's sequence;
//! - `reflect` swaps addresses in place and sends frames back.
//!
//! Loops that are not generating back off when idle (pause, then short
//! sleeps), so a 2-core machine can also run the peer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use super::gen::{self, FlowGen, Kind, MAX_FLOWS};
use super::latency::Latency;
use super::rate::Pacer;
use super::seq::{SeqStats, SeqTracker};
use super::Mode;
use crate::dpdk::{rdtsc, Mbuf, Mempool, PortId, RxQueue, TxQueue};

/// Frames per transmit burst.
pub const BURST: usize = 32;
/// Frames a reflector holds for a full transmit queue before dropping.
const REFLECT_BACKLOG: usize = 2048;
/// How long a `tx --latency` keeps listening for returns after it stopped
/// generating.
pub const DRAIN: Duration = Duration::from_millis(300);
/// Idle time spent spinning (pause hints) before sleeping starts.
const SPIN_IDLE: Duration = Duration::from_millis(2);
const MAX_SLEEP: Duration = Duration::from_micros(200);

/// Counters a lane publishes for the live display and the stop decision
/// (single writer: its loop; read by the leader loop).
#[derive(Debug, Default)]
pub struct LaneLive {
    pub tx_pkts: AtomicU64,
    /// Frame bytes in the buffers (FCS not included).
    pub tx_bytes: AtomicU64,
    pub rx_pkts: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub lost: AtomicU64,
}

/// One (port, queue) pair and what runs on it.
pub struct Lane {
    pub port: usize,
    pub port_id: PortId,
    pub queue: u16,
    /// Check the link before each burst (memif; see `members::Member`).
    pub guard_link: bool,
    pub rx: RxQueue,
    pub tx: TxQueue,
    pub live: Arc<LaneLive>,
    pub gen: Option<FlowGen>,
    pub pacer: Option<Pacer>,
    pub latency: Option<Latency>,
    pending: Vec<Mbuf>,
    rxbuf: Vec<Mbuf>,
    flows: Vec<SeqTracker>,
    r: LaneResult,
}

/// What a lane did, handed back when its loop ends.
#[derive(Default)]
pub struct LaneResult {
    pub port: usize,
    pub queue: u16,
    pub tx_pkts: u64,
    pub tx_bytes: u64,
    pub rx_pkts: u64,
    pub rx_bytes: u64,
    /// UDP payload bytes of the bench frames received.
    pub rx_payload: u64,
    pub foreign: u64,
    /// Frames that came back from a reflector (`tx --latency`).
    pub returned: u64,
    /// Frames a reflector gave up on (its transmit queue stayed full).
    pub tx_dropped: u64,
    /// Bursts that found the transmit pool empty.
    pub alloc_failures: u64,
    pub seq: SeqStats,
    pub lost_live: u64,
    pub first_rx: Option<u64>,
    pub last_rx: u64,
    pub tx_first: Option<u64>,
    pub tx_last: u64,
    pub latency: Option<Latency>,
}

impl Lane {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        port: usize,
        port_id: PortId,
        queue: u16,
        guard_link: bool,
        rx: RxQueue,
        tx: TxQueue,
        gen: Option<FlowGen>,
        pacer: Option<Pacer>,
        latency: Option<Latency>,
    ) -> Lane {
        Lane {
            port,
            port_id,
            queue,
            guard_link,
            rx,
            tx,
            live: Arc::new(LaneLive::default()),
            gen,
            pacer,
            latency,
            pending: Vec::with_capacity(REFLECT_BACKLOG + 64),
            rxbuf: Vec::with_capacity(64),
            flows: Vec::new(),
            r: LaneResult { port, queue, ..Default::default() },
        }
    }

    #[inline]
    fn link_ok(&self) -> bool {
        !self.guard_link || crate::dpdk::link_status(self.port_id).map(|l| l.up).unwrap_or(false)
    }

    /// Offers the pending frames to the queue and counts what it took; returns
    /// the number of frames sent.
    #[inline]
    fn burst_pending(&mut self, now: u64) -> usize {
        let before: usize = self.pending.iter().map(|m| m.pkt_len()).sum();
        let sent = self.tx.tx_burst(&mut self.pending);
        if sent > 0 {
            let after: usize = self.pending.iter().map(|m| m.pkt_len()).sum();
            self.r.tx_pkts += sent as u64;
            self.r.tx_bytes += (before - after) as u64;
            self.r.tx_first.get_or_insert(now);
            self.r.tx_last = now;
            self.live.tx_pkts.store(self.r.tx_pkts, Relaxed);
            self.live.tx_bytes.store(self.r.tx_bytes, Relaxed);
        }
        sent
    }

    /// Builds and offers frames; returns whether anything went out.
    #[inline]
    fn transmit(&mut self, pool: &Mempool, now: u64, stamp: bool) -> bool {
        let Some(gen) = self.gen.as_mut() else { return false };
        if self.pending.is_empty() {
            let n = match self.pacer.as_mut() {
                None => BURST,
                Some(p) => p.frames_allowed(now, gen.upcoming(), BURST),
            };
            if n == 0 {
                return false;
            }
            if !pool.alloc_bulk(n, &mut self.pending) {
                self.r.alloc_failures += 1;
                return false;
            }
            let tsc = if stamp { rdtsc() } else { 0 };
            let mut cost = 0.0;
            for m in self.pending.iter_mut() {
                if let Some(p) = self.pacer.as_ref() {
                    cost += p.cost(gen.peek_len(0) as u64 + gen::FCS as u64);
                }
                gen.fill(m, tsc);
            }
            if let Some(p) = self.pacer.as_mut() {
                p.spend(cost);
            }
        }
        if !self.link_ok() {
            return false;
        }
        self.burst_pending(now) > 0
    }

    /// Receives a burst and handles it as `mode` says; returns how many
    /// frames arrived.
    #[inline]
    fn receive(&mut self, mode: Mode, now: u64) -> usize {
        if !self.link_ok() {
            return 0;
        }
        let n = self.rx.rx_burst(&mut self.rxbuf, 64);
        if n == 0 {
            return 0;
        }
        self.r.first_rx.get_or_insert(now);
        self.r.last_rx = now;
        let mut bufs = std::mem::take(&mut self.rxbuf);
        match mode {
            Mode::Reflect => {
                for mut m in bufs.drain(..) {
                    let ok = matches!(gen::classify(m.data()), Kind::Forward { .. })
                        && m.data_mut().is_some_and(gen::reflect_in_place);
                    if ok {
                        self.r.rx_pkts += 1;
                        self.r.rx_bytes += m.pkt_len() as u64;
                        self.pending.push(m);
                    } else {
                        self.r.foreign += 1;
                    }
                }
                self.flush_reflected(now);
            }
            Mode::Rx | Mode::Tx => {
                // A fresh reading: a frame sent earlier in this iteration
                // can already be back (memif round trips take microseconds).
                let now = if self.latency.is_some() { rdtsc() } else { now };
                for m in bufs.iter() {
                    match gen::classify(m.data()) {
                        Kind::Forward { flow, seq, payload } if (flow as usize) < MAX_FLOWS => {
                            let f = flow as usize;
                            if f >= self.flows.len() {
                                self.flows.resize_with(f + 1, SeqTracker::default);
                            }
                            let t = &mut self.flows[f];
                            let before = t.stats.lost;
                            t.record(seq);
                            self.r.lost_live = (self.r.lost_live + t.stats.lost).saturating_sub(before);
                            self.r.rx_pkts += 1;
                            self.r.rx_bytes += m.pkt_len() as u64;
                            self.r.rx_payload += payload as u64;
                        }
                        Kind::Returned { tsc, .. } if tsc != 0 => {
                            self.r.returned += 1;
                            if let Some(l) = self.latency.as_mut() {
                                l.record_ticks(now.saturating_sub(tsc));
                            }
                        }
                        _ => self.r.foreign += 1,
                    }
                }
                Mbuf::free_bulk(&mut bufs);
            }
        }
        self.rxbuf = bufs;
        // Any frame is activity (the leader ends rx/reflect when it stops).
        self.live.rx_pkts.store(self.r.rx_pkts + self.r.returned + self.r.foreign, Relaxed);
        self.live.rx_bytes.store(self.r.rx_bytes, Relaxed);
        self.live.lost.store(self.r.lost_live, Relaxed);
        n
    }

    fn flush_reflected(&mut self, now: u64) {
        if self.pending.is_empty() {
            return;
        }
        self.burst_pending(now);
        if self.pending.len() > REFLECT_BACKLOG {
            let excess = self.pending.len() - REFLECT_BACKLOG;
            self.r.tx_dropped += excess as u64;
            let mut old: Vec<Mbuf> = self.pending.drain(..excess).collect();
            Mbuf::free_bulk(&mut old);
        }
    }

    /// Ends the lane: unsent frames are freed (not counted) and the
    /// per-flow sequence figures are summed.
    pub fn finish(mut self) -> LaneResult {
        Mbuf::free_bulk(&mut self.pending);
        let mut seq = SeqStats::default();
        for f in &self.flows {
            seq += f.stats;
        }
        self.r.seq = seq;
        self.r.latency = self.latency.take();
        std::mem::take(&mut self.r)
    }
}

/// What every loop shares.
pub struct Control {
    pub mode: Mode,
    /// Set by the leader (signal, duration, traffic over): every loop ends.
    pub stop: AtomicBool,
    pub hz: u64,
    /// TSC at which generation starts.
    pub start: u64,
    /// TSC at which `tx` stops generating (u64::MAX: never).
    pub gen_end: u64,
    pub stamp: bool,
}

/// Decides when a run is over and shows a line per second: run by the
/// first loop, between its bursts.
pub struct Leader {
    pub lanes: Vec<(usize, Arc<LaneLive>)>,
    pub interrupted: Box<dyn Fn() -> bool + Send>,
    /// TSC at which the run ends regardless (`--duration`), if any.
    pub deadline: Option<u64>,
    /// For rx/reflect: end after this long without traffic once some came.
    pub idle_end: Option<u64>,
    pub display: Option<super::report::Live>,
    next_check: u64,
    last_rx: u64,
    last_change: u64,
}

impl Leader {
    pub fn new(
        lanes: Vec<(usize, Arc<LaneLive>)>,
        interrupted: Box<dyn Fn() -> bool + Send>,
        deadline: Option<u64>,
        idle_end: Option<u64>,
        display: Option<super::report::Live>,
    ) -> Leader {
        Leader { lanes, interrupted, deadline, idle_end, display, next_check: 0, last_rx: 0, last_change: rdtsc() }
    }

    /// Called every iteration; the work happens every 10 ms.
    #[inline]
    fn tick(&mut self, ctl: &Control, now: u64) {
        if now < self.next_check {
            return;
        }
        self.next_check = now + ctl.hz / 100;
        if (self.interrupted)() || self.deadline.is_some_and(|d| now >= d) {
            ctl.stop.store(true, Relaxed);
        }
        let rx: u64 = self.lanes.iter().map(|(_, l)| l.rx_pkts.load(Relaxed)).sum();
        if rx != self.last_rx {
            self.last_rx = rx;
            self.last_change = now;
        } else if let Some(idle) = self.idle_end {
            if rx > 0 && now.saturating_sub(self.last_change) >= idle {
                ctl.stop.store(true, Relaxed);
            }
        }
        if let Some(d) = self.display.as_mut() {
            d.tick(now, &self.lanes);
        }
    }
}

/// One lcore's loop.
pub struct Worker {
    pub lanes: Vec<Lane>,
    pub ctl: Arc<Control>,
    pub pool: Option<Mempool>,
    pub leader: Option<Leader>,
}

impl Worker {
    pub fn run(mut self) -> Vec<LaneResult> {
        let ctl = Arc::clone(&self.ctl);
        let drain = (DRAIN.as_secs_f64() * ctl.hz as f64) as u64;
        let spin = (SPIN_IDLE.as_secs_f64() * ctl.hz as f64) as u64;
        let mut last_work = rdtsc();
        let mut sleep_us = 10u64;
        let mut wait_start = true;
        loop {
            let now = rdtsc();
            if ctl.stop.load(Relaxed) {
                break;
            }
            if let Some(l) = self.leader.as_mut() {
                l.tick(&ctl, now);
            }
            let mut busy = false;
            match ctl.mode {
                Mode::Tx => {
                    if wait_start && now < ctl.start {
                        continue;
                    }
                    wait_start = false;
                    let generating = now < ctl.gen_end;
                    if !generating && (!ctl.stamp || now >= ctl.gen_end.saturating_add(drain)) {
                        break;
                    }
                    for lane in self.lanes.iter_mut() {
                        if generating {
                            if let Some(pool) = self.pool.as_ref() {
                                lane.transmit(pool, now, ctl.stamp);
                            }
                            busy = true; // generating never backs off
                        }
                        if ctl.stamp {
                            busy |= lane.receive(Mode::Tx, now) > 0;
                        }
                    }
                }
                mode => {
                    for lane in self.lanes.iter_mut() {
                        busy |= lane.receive(mode, now) > 0;
                        if mode == Mode::Reflect && !lane.pending.is_empty() {
                            lane.flush_reflected(now);
                            busy = true;
                        }
                    }
                }
            }
            if busy {
                last_work = now;
                sleep_us = 10;
            } else if now.saturating_sub(last_work) < spin {
                crate::dpdk::pause();
            } else {
                std::thread::sleep(Duration::from_micros(sleep_us));
                sleep_us = (sleep_us * 2).min(MAX_SLEEP.as_micros() as u64);
            }
        }
        // Whoever ends first ends the run for every loop.
        ctl.stop.store(true, Relaxed);
        if let Some(d) = self.leader.as_mut().and_then(|l| l.display.as_mut()) {
            d.done();
        }
        self.lanes.into_iter().map(Lane::finish).collect()
    }
}
