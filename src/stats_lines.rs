//! `--stats-interval SECS`: one JSON object per interval, appended as a line
//! to the `--stats-json` file while the transfer runs, the final report the
//! last line (schema in docs/STATS.md). For people who graph long migrations.
//!
//! The file is created (truncated) when the command starts, so a path that
//! cannot be written is an error before any transfer, and a run never appends
//! to an older run's lines. Each line is one `write` of a whole line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use stripecat_proto::{Payload, Receiver, Sender};

use crate::exit::Failure;
use crate::limits::{LimitTimes, Shares};
use crate::report::ReportPlan;

/// One path's figures in an interval line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PathSample {
    pub id: u16,
    /// The member port (DPDK) or local socket address (`--udp`) it uses.
    pub port: String,
    /// Bytes on this path so far: wire bytes sent (sender), payload accepted (receiver).
    pub bytes: u64,
    /// `bytes` per second over the interval, in bits per second.
    pub rate_bps: f64,
    /// Sender only: RTT, congestion window, bytes in flight, health.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub srtt_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwnd: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// What one end's loop hands in for an interval line.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Stream bytes acknowledged in order (sender) or delivered in order (receiver).
    pub bytes: u64,
    pub resends: u64,
    /// Sender: the flow-control credit (the highest offset it may send);
    /// receiver: its window.
    pub window: u64,
    pub paths: Vec<PathSample>,
    pub limits: LimitTimes,
}

/// One interval line.
#[derive(Debug, Clone, Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'a str,
    /// Seconds since the command started.
    t: f64,
    bytes: u64,
    /// Stream bytes over the interval, bits per second.
    rate_bps: f64,
    resends: u64,
    window: u64,
    paths: &'a [PathSample],
    /// The interval's share of time in each limit state (see `limited_by`).
    limits: Shares,
}

/// The interval writer of one end.
#[derive(Debug)]
pub struct StatsLines {
    file: File,
    role: &'static str,
    every: Duration,
    start: Instant,
    next: Instant,
    last: Instant,
    last_bytes: u64,
    last_paths: Vec<u64>,
    last_limits: LimitTimes,
}

impl StatsLines {
    /// With `--stats-interval`: creates (truncates) the `--stats-json` file.
    pub fn open(plan: &ReportPlan, role: &'static str) -> Result<Option<StatsLines>, Failure> {
        let (Some(every), Some(path)) = (plan.stats_interval, plan.stats_json.as_ref()) else { return Ok(None) };
        let file = File::create(path).map_err(|e| cannot_write(path, e))?;
        let now = Instant::now();
        Ok(Some(StatsLines {
            file,
            role,
            every,
            start: now,
            next: now + every,
            last: now,
            last_bytes: 0,
            last_paths: Vec::new(),
            last_limits: LimitTimes::default(),
        }))
    }

    /// Whether a line is due (reads the clock: call it every so often, not per packet).
    pub fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Writes the interval's line from `c` (rates against the previous line).
    pub fn write(&mut self, mut c: Counters) {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64().max(1e-9);
        let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 * 8.0 / dt;
        for (i, p) in c.paths.iter_mut().enumerate() {
            p.rate_bps = rate(p.bytes, self.last_paths.get(i).copied().unwrap_or(0));
        }
        let line = Line {
            kind: "interval",
            role: self.role,
            t: now.duration_since(self.start).as_secs_f64(),
            bytes: c.bytes,
            rate_bps: rate(c.bytes, self.last_bytes),
            resends: c.resends,
            window: c.window,
            paths: &c.paths,
            limits: c.limits.since(&self.last_limits).shares(),
        };
        if let Ok(mut text) = serde_json::to_string(&line) {
            text.push('\n');
            // A full disk loses a graph line, never the transfer.
            let _ = self.file.write_all(text.as_bytes());
        }
        self.last = now;
        self.last_bytes = c.bytes;
        self.last_paths = c.paths.iter().map(|p| p.bytes).collect();
        self.last_limits = c.limits;
        // The next line one interval on, skipping intervals a stall missed.
        while self.next <= now {
            self.next += self.every;
        }
    }
}

/// Appends the final report to the `--stats-json` file as its last line.
pub fn append_final(path: &Path, json: &str) -> Result<(), Failure> {
    let mut f = OpenOptions::new().append(true).create(true).open(path).map_err(|e| cannot_write(path, e))?;
    f.write_all(format!("{json}\n").as_bytes()).map_err(|e| cannot_write(path, e))
}

/// The `--stats-json` file could not be written: one error line with a hint (exit 3).
pub fn cannot_write(path: &Path, e: std::io::Error) -> Failure {
    Failure::env(format!("cannot write {}: {e}", path.display())).hint("check the directory exists and is writable")
}

/// A sender's figures for an interval line; `port(i)` names path `i`'s port.
pub fn sender_counters<B: Payload>(s: &Sender<B>, port: impl Fn(u16) -> String, limits: LimitTimes) -> Counters {
    let paths = s
        .local_paths()
        .map(|p| {
            let snap = p.snapshot();
            PathSample {
                id: p.id(),
                port: port(p.id()),
                bytes: p.stats().bytes,
                rate_bps: 0.0,
                srtt_us: Some(snap.srtt.total_micros()),
                cwnd: Some(snap.cwnd),
                in_flight: Some(snap.in_flight),
                health: Some(format!("{:?}", snap.health).to_lowercase()),
            }
        })
        .collect();
    Counters { bytes: s.shared().acked(), resends: s.stats().paths.resends, window: s.shared().credit(), paths, limits }
}

/// A receiver's figures for an interval line.
pub fn receiver_counters<B: Payload>(r: &Receiver<B>, port: impl Fn(u16) -> String, limits: LimitTimes) -> Counters {
    let paths = r
        .local_paths()
        // The receiver has a slot for every path a sender may use: these did carry.
        .filter(|p| p.stats().packets > 0)
        .map(|p| PathSample { id: p.id(), port: port(p.id()), bytes: p.stats().bytes, ..Default::default() })
        .collect();
    Counters { bytes: r.delivered(), resends: 0, window: r.shared().window(), paths, limits }
}
