//! A deterministic multipath simulator with virtual time.
//!
//! A [`Sim`] holds a [`Sender`] and a [`Receiver`] of [`SharedBytes`], one [`Link`] per
//! path and direction (ACKs travel back over the paths too), an event queue ordered by
//! arrival time, and one seeded [`Rng`]. [`Sim::step`] delivers what is due, runs timers,
//! lets the application write and read, collects transmissions, and jumps time to the
//! earliest wake-up. The same seed replays the same run exactly; every report and
//! assertion message carries the seed.
//!
//! ```
//! use stripecat_proto::sim::{Scenario, LinkConfig};
//! use stripecat_proto::time::Duration;
//! let mut sc = Scenario::new(7, 2, LinkConfig::clean(100, Duration::from_millis(1), 2), 256 * 1024);
//! let report = sc.build().run();
//! report.assert_intact();
//! ```

pub mod link;
pub mod rng;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub use link::{GilbertElliott, Link, LinkConfig, LinkStats};
pub use rng::Rng;

use crate::config::{ReceiverConfig, SenderConfig};
use crate::digest::{PrefixDigest, StreamDigest};
use crate::incoming::Incoming;
use crate::payload::SharedBytes;
use crate::receiver::{Receiver, ReceiverState, ReceiverStats};
use crate::sender::{Sender, SenderState, SenderStats};
use crate::time::{Duration, Instant};
use crate::wire::Check;

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// Sender to receiver (DATA, HELLO, FIN, PING).
    Forward,
    /// Receiver to sender (ACK, HELLO-ACK, FIN-ACK).
    Backward,
}

/// Everything needed to build a [`Sim`].
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Seed for data, faults and the session id.
    pub seed: u64,
    /// Forward links, one per path.
    pub forward: Vec<LinkConfig>,
    /// Backward links, one per path.
    pub backward: Vec<LinkConfig>,
    /// Forward link that each path's datagrams go through, to model paths that share a
    /// bottleneck (`[0, 0]`: both paths queue on forward link 0). Empty, or an entry
    /// missing: the path's own link.
    pub forward_via: Vec<usize>,
    /// Sender tunables (`paths` is set from the links).
    pub sender: SenderConfig,
    /// Receiver tunables (`paths` is set from the links).
    pub receiver: ReceiverConfig,
    /// Bytes to transfer.
    pub stream_len: u64,
    /// Virtual-time bound: the run stops here whatever state it is in.
    pub time_limit: Duration,
    /// Sender-side application start delay (the receiver listens from time zero).
    pub start_at: Instant,
    /// Byte ranges `(start, end)` of the input set to zero (the rest is random).
    pub zero_runs: Vec<(u64, u64)>,
    /// Resume: what the receiver's output already holds (its digest becomes
    /// [`ReceiverConfig::resume`]); the stream's prefix when `None` is not what a test
    /// wants: see [`Scenario::resume_after`].
    pub held: Option<Vec<u8>>,
    /// The driver digests the stream as it writes it ([`Sender::write_digested`] and
    /// [`Sender::finish_digested`], as the DPDK reader thread does) instead of the
    /// protocol ([`Sender::write`]).
    pub driver_digest: bool,
}

impl Scenario {
    /// `paths` identical paths with `link` both ways, defaults otherwise; chunk 4096.
    pub fn new(seed: u64, paths: u16, link: LinkConfig, stream_len: u64) -> Self {
        let sender = SenderConfig { chunk_size: 4096, ..SenderConfig::default() };
        let receiver = ReceiverConfig { window: 16 << 20, ..ReceiverConfig::default() };
        Scenario {
            seed,
            forward: vec![link.clone(); paths as usize],
            backward: vec![link; paths as usize],
            forward_via: Vec::new(),
            sender,
            receiver,
            stream_len,
            time_limit: Duration::from_secs(120),
            start_at: Instant::ZERO,
            zero_runs: Vec::new(),
            held: None,
            driver_digest: false,
        }
    }

    /// Both ends resume, and the receiver's output holds the stream's first `len` bytes.
    pub fn resume_after(mut self, len: u64) -> Self {
        self.sender.resume = true;
        let data = self.input();
        self.held = Some(data[..(len as usize).min(data.len())].to_vec());
        self
    }

    /// The stream this scenario sends.
    pub fn input(&self) -> Vec<u8> {
        let mut rng = Rng::new(self.seed);
        stream_bytes(self, &mut rng)
    }

    /// Builds the simulation.
    pub fn build(&self) -> Sim {
        Sim::new(self.clone())
    }
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The seed (replay with it).
    pub seed: u64,
    /// Final sender state.
    pub sender_state: SenderState,
    /// Final receiver state.
    pub receiver_state: ReceiverState,
    /// Bytes the application wrote.
    pub written: u64,
    /// Bytes delivered in order to the receiving application.
    pub delivered: u64,
    /// Stream length.
    pub stream_len: u64,
    /// Whether every delivered byte equals the input at its offset.
    pub bytes_match: bool,
    /// When the last byte was delivered, if it was.
    pub completed_at: Option<Instant>,
    /// When the sender first wrote.
    pub started_at: Instant,
    /// Virtual time when the run stopped.
    pub ended_at: Instant,
    /// Sum of the rates of the forward links in use, bytes per second.
    pub capacity: f64,
    /// Sender counters.
    pub sender: SenderStats,
    /// Receiver counters.
    pub receiver: ReceiverStats,
    /// Forward link counters.
    pub forward: Vec<LinkStats>,
    /// `(time, delivered)` samples, for goodput over a window.
    pub progress: Vec<(Instant, u64)>,
    /// Simulation steps taken.
    pub steps: u64,
}

impl Report {
    /// Stream bytes per second from start to last byte delivered (0 if incomplete).
    pub fn goodput(&self) -> f64 {
        match self.completed_at {
            Some(t) => self.delivered as f64 / (t - self.started_at).as_secs_f64().max(1e-9),
            None => 0.0,
        }
    }

    /// Goodput over the sum of forward link capacities.
    pub fn efficiency(&self) -> f64 {
        self.goodput() / self.capacity
    }

    /// Bytes delivered by `t` (from the progress samples).
    pub fn delivered_at(&self, t: Instant) -> u64 {
        self.progress.iter().take_while(|(at, _)| *at <= t).last().map_or(0, |p| p.1)
    }

    /// Goodput from `t` until completion.
    pub fn goodput_after(&self, t: Instant) -> f64 {
        match self.completed_at {
            Some(end) if end > t => (self.delivered - self.delivered_at(t)) as f64 / (end - t).as_secs_f64(),
            _ => 0.0,
        }
    }

    /// One-line summary that starts with the seed.
    pub fn summary(&self) -> String {
        format!(
            "seed={} sender={:?} receiver={:?} delivered={}/{} match={} goodput={:.1} Mbit/s ({:.1}% of {:.1} Mbit/s) \
             completed_at={:?} packets={} resends={} lost={} ptos={} downs={} drops=[{}] steps={}",
            self.seed,
            self.sender_state,
            self.receiver_state,
            self.delivered,
            self.stream_len,
            self.bytes_match,
            self.goodput() * 8e-6,
            self.efficiency() * 100.0,
            self.capacity * 8e-6,
            self.completed_at.map(|t| t.to_string()),
            self.sender.paths.packets,
            self.sender.paths.resends,
            self.sender.paths.lost,
            self.sender.paths.ptos,
            self.sender.paths.downs,
            self.receiver.drops,
            self.steps,
        )
    }

    /// Panics (printing the seed) unless the whole stream arrived intact, the digest
    /// verified (sender Done, receiver Complete).
    pub fn assert_intact(&self) {
        assert!(
            self.sender_state == SenderState::Done
                && self.receiver_state == ReceiverState::Complete
                && self.bytes_match
                && self.delivered == self.stream_len,
            "transfer not intact: {}",
            self.summary()
        );
    }
}

type Event = Reverse<(Instant, u64, Direction, u16, Vec<u8>)>;

/// The scenario's stream: `stream_len` bytes from the seed, its zero runs zeroed.
fn stream_bytes(sc: &Scenario, rng: &mut Rng) -> Vec<u8> {
    let mut data = vec![0u8; sc.stream_len as usize];
    rng.fill(&mut data);
    for &(start, end) in &sc.zero_runs {
        let end = (end as usize).min(data.len());
        data[(start as usize).min(end)..end].fill(0);
    }
    data
}

/// A running simulation.
pub struct Sim {
    scenario: Scenario,
    /// Virtual now.
    pub now: Instant,
    rng: Rng,
    /// The sending endpoint.
    pub sender: Sender<SharedBytes>,
    /// The receiving endpoint.
    pub receiver: Receiver<SharedBytes>,
    /// Forward links.
    pub forward: Vec<Link>,
    /// Backward links.
    pub backward: Vec<Link>,
    /// How long the sender's application takes to check a resume point (reading the
    /// prefix); `None`: at once.
    pub hold_resume_check: Option<Duration>,
    resume_seen: Option<Instant>,
    /// The driver's digest of what it wrote ([`Scenario::driver_digest`]).
    digest: StreamDigest,
    events: BinaryHeap<Event>,
    seq: u64,
    input: SharedBytes,
    written: u64,
    finished: bool,
    checked: u64,
    bytes_match: bool,
    completed_at: Option<Instant>,
    progress: Vec<(Instant, u64)>,
    steps: u64,
}

impl Sim {
    /// Builds endpoints and links; generates `stream_len` random bytes from the seed.
    pub fn new(mut sc: Scenario) -> Sim {
        let mut rng = Rng::new(sc.seed);
        let data = stream_bytes(&sc, &mut rng);
        if let Some(held) = &sc.held {
            let mut prefix = PrefixDigest::default();
            prefix.update(held);
            sc.receiver.resume = Some(prefix);
        }
        let paths = sc.forward.len() as u16;
        sc.sender.paths = paths;
        sc.receiver.paths = paths;
        let session = rng.next_u64();
        let sender = Sender::new(sc.sender.clone(), session, sc.start_at);
        let receiver = Receiver::new(sc.receiver.clone());
        Sim {
            now: Instant::ZERO,
            sender,
            receiver,
            forward: sc.forward.iter().cloned().map(Link::new).collect(),
            backward: sc.backward.iter().cloned().map(Link::new).collect(),
            hold_resume_check: None,
            resume_seen: None,
            digest: StreamDigest::new(sc.sender.digest),
            events: BinaryHeap::new(),
            seq: 0,
            input: SharedBytes::from(data),
            written: 0,
            finished: false,
            checked: 0,
            bytes_match: true,
            completed_at: None,
            progress: vec![(Instant::ZERO, 0)],
            steps: 0,
            rng,
            scenario: sc,
        }
    }

    /// The scenario's seed.
    pub fn seed(&self) -> u64 {
        self.scenario.seed
    }

    fn transmit(&mut self, dir: Direction, path: u16, bytes: Vec<u8>) {
        let links = match dir {
            Direction::Forward => &mut self.forward,
            Direction::Backward => &mut self.backward,
        };
        let idx = match dir {
            Direction::Forward => self.scenario.forward_via.get(path as usize).copied().unwrap_or(path as usize),
            Direction::Backward => path as usize,
        };
        let Some(link) = links.get_mut(idx) else { return };
        for (at, b) in link.send(self.now, bytes, &mut self.rng) {
            self.seq += 1;
            self.events.push(Reverse((at, self.seq, dir, path, b)));
        }
    }

    /// Injects raw bytes as if they arrived at the receiver (or sender) now.
    pub fn inject(&mut self, dir: Direction, path: u16, bytes: Vec<u8>) {
        self.seq += 1;
        self.events.push(Reverse((self.now, self.seq, dir, path, bytes)));
    }

    fn app(&mut self) {
        if let Some(point) = self.sender.resume_point() {
            let seen = *self.resume_seen.get_or_insert(self.now);
            if self.hold_resume_check.is_some_and(|d| self.now < seen + d) {
                return self.deliver();
            }
            // The driver's part of resuming: hash the input's prefix.
            let n = point.len.min(self.scenario.stream_len);
            let mut d = StreamDigest::new(point.algorithm);
            d.update(&self.input.as_ref()[..n as usize]);
            if d.algorithm() == self.digest.algorithm() {
                self.digest = d.clone();
            }
            self.sender.resume_with(d, n);
            self.written = n;
        }
        let settling = self.scenario.sender.settle_chunk && !self.sender.is_established();
        if self.now >= self.scenario.start_at && !self.finished && !settling {
            let chunk = self.sender.chunk_size() as u64;
            while self.written < self.scenario.stream_len {
                let end = (self.written + chunk).min(self.scenario.stream_len);
                let piece = self.input.slice(self.written as usize..end as usize);
                let written = if self.scenario.driver_digest {
                    let bytes = piece.clone();
                    self.sender.write_digested(piece).map(|_| self.digest.update(bytes.as_ref()))
                } else {
                    self.sender.write(piece).map(|_| ())
                };
                match written {
                    Ok(()) => self.written = end,
                    Err(_) => break,
                }
            }
            if self.written == self.scenario.stream_len {
                if self.scenario.driver_digest {
                    let d = std::mem::replace(&mut self.digest, StreamDigest::None);
                    self.sender.finish_digested(d);
                } else {
                    self.sender.finish();
                }
                self.finished = true;
            }
        }
        self.deliver();
    }

    /// The receiving application: takes what the receiver delivers and checks it.
    fn deliver(&mut self) {
        let mut moved = false;
        if self.checked == 0 {
            // A resumed session's offsets count from the receiver's prefix.
            self.checked = self.receiver.resumed_from().unwrap_or(0);
        }
        while let Some(b) = self.receiver.poll_deliver() {
            let at = self.checked as usize;
            let want = self.input.slice(at..at + b.len());
            if want.as_ref() != b.as_ref() || want.len() != b.len() {
                self.bytes_match = false;
            }
            self.checked += b.len() as u64;
            moved = true;
        }
        if moved {
            let last = self.progress.last().map_or(0, |p| p.1);
            if self.checked - last >= 256 * 1024 || self.checked == self.scenario.stream_len {
                self.progress.push((self.now, self.checked));
            }
            if self.checked == self.scenario.stream_len && self.completed_at.is_none() {
                self.completed_at = Some(self.now);
            }
        }
    }

    /// One step: deliver due datagrams, run timers, application I/O, transmit; then jump
    /// to the next event or timer. Returns false when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.steps += 1;
        while let Some(Reverse((at, ..))) = self.events.peek() {
            if *at > self.now {
                break;
            }
            let Some(Reverse((_, _, dir, path, bytes))) = self.events.pop() else { break };
            let links = if dir == Direction::Forward { &self.forward } else { &self.backward };
            if links.get(path as usize).is_some_and(|l| !l.config.is_up(self.now)) {
                continue; // lost in flight: the link went down
            }
            match dir {
                Direction::Forward => {
                    // Opened in place as a keyed driver does (plain parse without a key).
                    let mut bytes = bytes;
                    match Incoming::open(&mut bytes, Check::Crc32c, self.receiver.shared().keyring()) {
                        Ok(inc) => {
                            let _ = self.receiver.handle_incoming(self.now, &inc, SharedBytes::from(bytes));
                        }
                        Err(reason) => self.receiver.count_drop(reason),
                    }
                }
                Direction::Backward => {
                    let _ = self.sender.handle_datagram(self.now, &bytes);
                }
            }
        }
        if self.sender.poll_timeout().is_some_and(|t| t <= self.now) {
            self.sender.handle_timeout(self.now);
        }
        if self.receiver.poll_timeout().is_some_and(|t| t <= self.now) {
            self.receiver.handle_timeout(self.now);
        }
        self.app();
        while let Some(t) = self.sender.poll_transmit(self.now) {
            let Some(bytes) = t.to_vec_keyed(self.sender.shared().keyring()) else { continue };
            self.transmit(Direction::Forward, t.path, bytes);
        }
        while let Some(t) = self.receiver.poll_transmit(self.now) {
            let Some(bytes) = t.to_vec_keyed(self.receiver.shared().keyring()) else { continue };
            self.transmit(Direction::Backward, t.path, bytes);
        }
        let mut next = self.events.peek().map(|Reverse(e)| e.0);
        for t in [self.sender.poll_timeout(), self.receiver.poll_timeout()] {
            next = match (next, t) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if !self.finished && self.now < self.scenario.start_at {
            next = Some(next.map_or(self.scenario.start_at, |n| n.min(self.scenario.start_at)));
        }
        match next {
            Some(t) => {
                // A timer that is due but had nothing to do must not stall virtual time.
                self.now = if t > self.now { t } else { self.now + Duration::from_micros(1) };
                true
            }
            None => false,
        }
    }

    /// Whether both ends reached a final state.
    pub fn is_done(&self) -> bool {
        let rx_done = matches!(self.receiver.state(), ReceiverState::Complete | ReceiverState::Failed(_));
        self.sender.is_finished() && (rx_done || self.events.is_empty())
    }

    /// Steps until `pred` holds, both ends are done, nothing can happen, or virtual time
    /// passes `until`.
    pub fn run_until(&mut self, until: Instant, mut pred: impl FnMut(&Sim) -> bool) {
        while !pred(self) && !self.is_done() && self.now <= until {
            if !self.step() {
                break;
            }
        }
    }

    /// Runs for `d` of virtual time (or until done).
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until, |s| s.now >= until);
    }

    /// Runs to completion or the scenario's time limit and reports.
    pub fn run(mut self) -> Report {
        let limit = Instant::ZERO + self.scenario.time_limit;
        self.run_until(limit, |_| false);
        self.report()
    }

    fn forward_in_use(&self) -> impl Iterator<Item = &Link> {
        let via = &self.scenario.forward_via;
        self.forward
            .iter()
            .enumerate()
            .filter(move |(i, _)| (0..self.forward.len()).any(|p| via.get(p).copied().unwrap_or(p) == *i))
            .map(|(_, l)| l)
    }

    /// The report as of now.
    pub fn report(&self) -> Report {
        Report {
            seed: self.scenario.seed,
            sender_state: self.sender.state(),
            receiver_state: self.receiver.state(),
            written: self.written,
            delivered: self.checked,
            stream_len: self.scenario.stream_len,
            bytes_match: self.bytes_match,
            completed_at: self.completed_at,
            started_at: self.scenario.start_at,
            ended_at: self.now,
            capacity: self.forward_in_use().map(|l| l.bytes_per_sec()).sum(),
            sender: self.sender.stats(),
            receiver: self.receiver.stats(),
            forward: self.forward.iter().map(|l| l.stats).collect(),
            progress: self.progress.clone(),
            steps: self.steps,
        }
    }
}
