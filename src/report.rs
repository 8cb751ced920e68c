//! What the user sees about a transfer: a live progress line on a terminal,
//! a one-paragraph summary at the end, and `--stats-json` for machines
//! (schema in docs/STATS.md). Shared by every transport.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

/// How a command reports: the summary on stderr unless quiet, and the JSON file.
#[derive(Debug, Clone, Default)]
pub struct ReportPlan {
    /// `--stats-json FILE`.
    pub stats_json: Option<std::path::PathBuf>,
    /// `--stats-interval SECS`: interval lines in that file, the final report last.
    pub stats_interval: Option<Duration>,
    /// `--quiet`: no progress line or summary.
    pub quiet: bool,
}

/// Per-port figures in the final report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PortReport {
    pub name: String,
    pub tx_packets: u64,
    pub rx_packets: u64,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub rx_missed: u64,
    pub tx_errors: u64,
    /// Per-packet check on this port: `crc32c`, `none` or `udp_checksum`.
    pub packet_check: &'static str,
    /// Why: `forced`, `shared memory`, `impair corrupts`, `wire`, ...
    pub packet_check_reason: &'static str,
    /// How an idle lane waits for this port's frames: `interrupt` (the port has receive
    /// interrupts) or `poll` (spinning, then sleeping in steps).
    pub rx_wait: &'static str,
}

/// Per-path figures in a final report (schema: docs/STATS.md, `paths`): a sender's in
/// full, a kernel `--udp` receiver's with its bytes and packets only.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PathReport {
    /// The path id.
    pub id: u16,
    /// The member port the path leaves by (with `--udp`: the local socket address).
    pub port: String,
    // The counters, as the protocol keeps and documents them (`stripecat_proto::PathSenderStats`).
    pub packets: u64,
    pub bytes: u64,
    pub resends: u64,
    pub zero_records: u64,
    pub lost: u64,
    pub ptos: u64,
    pub downs: u64,
    pub ups: u64,
    /// Smoothed and smallest round trip at the end, microseconds (`None`: no sample).
    pub srtt_us: Option<u64>,
    pub min_rtt_us: Option<u64>,
    /// `up` or `down`.
    pub health: String,
}

impl PathReport {
    /// The figures of sending path `p`, which leaves by `port`.
    pub fn of_sender<B: stripecat_proto::Payload>(p: &stripecat_proto::PathSender<B>, port: String) -> PathReport {
        let (st, snap) = (p.stats(), p.snapshot());
        PathReport {
            id: p.id(),
            port,
            packets: st.packets,
            bytes: st.bytes,
            resends: st.resends,
            zero_records: st.zero_records,
            lost: st.lost,
            ptos: st.ptos,
            downs: st.downs,
            ups: st.ups,
            srtt_us: Some(snap.srtt.total_micros()),
            min_rtt_us: Some(snap.min_rtt.total_micros()),
            health: format!("{:?}", snap.health).to_lowercase(),
        }
    }
}

/// The final report of one end of a transfer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// "send" or "recv".
    pub role: String,
    /// "dpdk", "tcp", "udp", "selftest".
    pub transport: String,
    pub bytes: u64,
    pub seconds: f64,
    /// Payload bits per second over `seconds`.
    pub goodput_bps: f64,
    pub resends: u64,
    /// Dropped packets by reason (receiver side mostly).
    pub drops: std::collections::BTreeMap<String, u64>,
    /// Digest algorithm and value (hex), when one was computed.
    pub digest: Option<String>,
    pub digest_value: Option<String>,
    /// Whether the digest matched (None: not checked).
    pub verified: Option<bool>,
    pub ports: Vec<PortReport>,
    pub paths: Vec<PathReport>,
    /// Frames the `--impair` testing aid dropped, duplicated, held back
    /// (reordered) and corrupted, summed over ports and directions.
    pub impaired: Option<ImpairReport>,
    /// Error text when the transfer failed.
    pub error: Option<String>,
    /// `--rate`: the session's payload cap, bits per second (sender only).
    pub rate_cap_bps: Option<f64>,
    /// The frame size (MTU) the handshake settled, when a session was set up.
    pub mtu: Option<u16>,
    /// Why the settled MTU is below this end's `--mtu` (the peer's is smaller).
    pub mtu_note: Option<String>,
    /// Whether the session was keyed: authenticated and encrypted (`--key-file`).
    pub authenticated: bool,
    /// What held the transfer back, and for how much of its time.
    pub limited_by: Option<crate::limits::LimitReport>,
    /// `--resume`: the stream offset the session started at (bytes the receiver's output
    /// already held); `bytes` counts what this session moved after it.
    pub resumed_from: Option<u64>,
    /// Idle sleeps on receive interrupts (ports whose `rx_wait` is `interrupt`), and how
    /// many of them a frame ended before their 1 ms timeout.
    pub rx_interrupt_sleeps: u64,
    pub rx_interrupt_wakes: u64,
    /// `send --resume` against a receiver that does not resume: everything was sent (the
    /// summary says so; `resumed_from` is null in the JSON).
    #[serde(skip)]
    pub resume_declined: bool,
}

/// Adds the protocol's drop counters to a report's drops by reason name.
pub fn add_drops(drops: &mut std::collections::BTreeMap<String, u64>, counters: &stripecat_proto::DropCounters) {
    for (r, n) in counters.nonzero() {
        *drops.entry(r.name()).or_default() += n;
    }
}

impl Summary {
    /// Records the session's MTU, settled from this end's `ours` and the peer's.
    pub fn set_mtu(&mut self, settled: u16, ours: u16) {
        self.mtu = Some(settled);
        self.mtu_note = (settled < ours).then(|| format!("the peer's --mtu {settled} is below our {ours}"));
    }
}

/// What `--impair` did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ImpairReport {
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
}

/// Human units: 1.5 GiB, 12 MiB, 512 B.
pub fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Bits per second in decimal units, as links are sold: 9.41 Gbit/s.
pub fn rate_text(bps: f64) -> String {
    if bps >= 1e9 {
        format!("{:.2} Gbit/s", bps / 1e9)
    } else if bps >= 1e6 {
        format!("{:.1} Mbit/s", bps / 1e6)
    } else if bps >= 1e3 {
        format!("{:.1} kbit/s", bps / 1e3)
    } else {
        format!("{bps:.0} bit/s")
    }
}

impl Summary {
    /// Fills `seconds` and `goodput_bps` from a start time.
    pub fn timed(mut self, elapsed: Duration) -> Summary {
        self.seconds = elapsed.as_secs_f64();
        self.goodput_bps = if self.seconds > 0.0 { self.bytes as f64 * 8.0 / self.seconds } else { 0.0 };
        self
    }

    /// The one-paragraph summary printed at the end.
    pub fn paragraph(&self) -> String {
        let verb = if self.role == "send" { "sent" } else { "received" };
        let mut s = format!(
            "stripecat: {verb} {} ({} bytes) in {:.2} s over {}: {}",
            bytes_text(self.bytes),
            self.bytes,
            self.seconds,
            self.transport,
            rate_text(self.goodput_bps)
        );
        if let Some(cap) = self.rate_cap_bps {
            s.push_str(&format!(" (capped at {})", rate_text(cap)));
        }
        if let Some(at) = self.resumed_from {
            s.push_str(&format!(", resumed after the first {} ({at} bytes) the receiver held", bytes_text(at)));
        }
        if self.resume_declined {
            s.push_str(", from the start (the receiver does not resume: give recv --resume too)");
        }
        if self.resends > 0 || self.role == "send" {
            s.push_str(&format!(", {} resends", self.resends));
        }
        let drops: u64 = self.drops.values().sum();
        if drops > 0 {
            let by: Vec<String> = self.drops.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
            s.push_str(&format!(", {drops} packets dropped ({})", by.join(", ")));
        }
        match (&self.digest, &self.digest_value, self.verified) {
            (Some(alg), Some(v), Some(true)) => s.push_str(&format!("; {alg} digest {v} verified")),
            (Some(alg), Some(v), Some(false)) => s.push_str(&format!("; {alg} digest {v} DID NOT MATCH")),
            (Some(alg), Some(v), None) => s.push_str(&format!("; {alg} digest {v}")),
            (Some(alg), None, Some(true)) if alg != "none" => s.push_str(&format!("; {alg} digest verified")),
            (Some(alg), None, Some(false)) if alg != "none" => s.push_str(&format!("; {alg} digest DID NOT MATCH")),
            (None, None, Some(true)) => s.push_str("; end-to-end check passed"),
            _ => {}
        }
        if let Some(note) = &self.mtu_note {
            s.push_str(&format!("; frames of {} bytes ({note})", self.mtu.unwrap_or(0)));
        }
        s.push_str(if self.authenticated { "; authenticated, encrypted" } else { "; unauthenticated" });
        if let (Some(l), None) = (&self.limited_by, &self.error) {
            s.push_str(&format!("; {}", l.sentence()));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("; failed: {e}"));
        }
        s.push('.');
        s
    }

    /// Writes the JSON report (pretty, one object).
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }

    /// Writes `--stats-json` as the plan says: the pretty object, or with
    /// `--stats-interval` one line after the interval lines.
    pub fn write_report(&self, plan: &ReportPlan) -> Result<(), crate::exit::Failure> {
        let Some(path) = &plan.stats_json else { return Ok(()) };
        if plan.stats_interval.is_some() {
            let text = serde_json::to_string(self).unwrap_or_default();
            return crate::stats_lines::append_final(path, &text);
        }
        self.write_json(path).map_err(|e| crate::stats_lines::cannot_write(path, e))
    }
}

/// The one status line on stderr that live displays redraw in place (the transfer's
/// progress, `stripecat bench`'s rates).
#[derive(Debug, Default)]
pub struct StatusLine {
    drawn: bool,
}

impl StatusLine {
    /// Replaces the line with `text`.
    pub fn draw(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erases the line, so what is printed next starts clean.
    pub fn clear(&mut self) {
        if std::mem::take(&mut self.drawn) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }

    /// Leaves the last text standing and moves below it.
    pub fn keep(&mut self) {
        if std::mem::take(&mut self.drawn) {
            eprintln!();
        }
    }
}

/// The live progress line: redrawn on stderr at most 4 times a second, only
/// when stderr is a terminal and `--quiet` was not given.
pub struct Progress {
    start: Instant,
    last: Instant,
    last_bytes: u64,
    total: Option<u64>,
    enabled: bool,
    line: StatusLine,
    /// Shown at the end of every line (e.g. the rate cap).
    note: String,
    /// `--stats-interval`: the same live figures, as JSON lines in a file.
    lines: Option<crate::stats_lines::StatsLines>,
}

impl Progress {
    pub fn new(total: Option<u64>, quiet: bool) -> Progress {
        let now = Instant::now();
        Progress {
            start: now,
            last: now,
            last_bytes: 0,
            total,
            enabled: !quiet && std::io::stderr().is_terminal(),
            line: StatusLine::default(),
            note: String::new(),
            lines: None,
        }
    }

    /// Also writes `--stats-interval` lines (see [`Progress::lines_due`]).
    pub fn with_lines(mut self, lines: Option<crate::stats_lines::StatsLines>) -> Progress {
        self.lines = lines;
        self
    }

    /// The interval writer, when a line is due (reads the clock: ask every so often).
    pub fn lines_due(&mut self) -> Option<&mut crate::stats_lines::StatsLines> {
        self.lines.as_mut().filter(|l| l.due())
    }

    /// Shows the session's payload rate cap (bytes per second) on every line.
    pub fn with_rate_cap(mut self, cap: Option<u64>) -> Progress {
        if let Some(c) = cap {
            self.note = format!("cap {}", rate_text(c as f64 * 8.0));
        }
        self
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The session resumed after the first `at` bytes: what is left is the total less
    /// them (the percentage and ETA count the rest), and the line says so.
    pub fn resumed_at(&mut self, at: u64) {
        self.total = self.total.map(|t| t.saturating_sub(at));
        let note = format!("resumed after {}", bytes_text(at));
        self.note = if self.note.is_empty() { note } else { format!("{}  {note}", self.note) };
    }

    /// Redraws if due; `extra` is appended (per-port rates, resends).
    pub fn update(&mut self, bytes: u64, extra: &str) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let dt = now.duration_since(self.last);
        if dt < Duration::from_millis(250) {
            return;
        }
        let rate = (bytes.saturating_sub(self.last_bytes)) as f64 * 8.0 / dt.as_secs_f64();
        self.last = now;
        self.last_bytes = bytes;
        let mut line = format!("{:>10}  {:>14}", bytes_text(bytes), rate_text(rate));
        if let Some(t) = self.total.filter(|t| *t > 0) {
            let pct = bytes as f64 * 100.0 / t as f64;
            let avg = bytes as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            let eta = if avg > 0.0 { (t.saturating_sub(bytes)) as f64 / avg } else { 0.0 };
            line.push_str(&format!("  {pct:5.1}%  ETA {eta:4.0} s"));
        }
        for part in [extra, self.note.as_str()] {
            if !part.is_empty() {
                line.push_str("  ");
                line.push_str(part);
            }
        }
        self.line.draw(&line);
    }

    /// Clears the line so the summary starts clean.
    pub fn finish(&mut self) {
        self.line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(bytes_text(512), "512 B");
        assert_eq!(bytes_text(3 << 20), "3.0 MiB");
        assert_eq!(rate_text(9.41e9), "9.41 Gbit/s");
        assert_eq!(rate_text(12.5e6), "12.5 Mbit/s");
    }

    #[test]
    fn paragraph_mentions_what_matters() {
        let mut s = Summary { role: "recv".into(), transport: "dpdk".into(), bytes: 1 << 20, ..Default::default() }
            .timed(Duration::from_secs(1));
        s.drops.insert("bad_crc".into(), 3);
        s.digest = Some("xxh3-128".into());
        s.digest_value = Some("abcd".into());
        s.verified = Some(true);
        let p = s.paragraph();
        assert!(p.contains("received 1.0 MiB (1048576 bytes)"), "{p}");
        assert!(
            p.contains("8.4 Mbit/s") && p.contains("3 packets dropped (bad_crc 3)") && p.contains("verified"),
            "{p}"
        );
    }

    #[test]
    fn digest_name_alone_still_reports_the_check() {
        let s = Summary {
            role: "send".into(),
            transport: "dpdk".into(),
            digest: Some("xxh3-128".into()),
            verified: Some(true),
            ..Default::default()
        };
        assert!(s.paragraph().contains("; xxh3-128 digest verified"), "{}", s.paragraph());
        let s = Summary { digest: Some("none".into()), verified: Some(true), ..Default::default() };
        assert!(!s.paragraph().contains("digest"), "{}", s.paragraph());
    }

    #[test]
    fn json_round_trips() {
        let s = Summary { role: "send".into(), bytes: 5, ..Default::default() };
        let dir = std::env::temp_dir().join(format!("sc-report-{}", std::process::id()));
        s.write_json(&dir).unwrap();
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&dir).unwrap()).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(v["role"], "send");
        assert_eq!(v["bytes"], 5);
        assert!(v["drops"].is_object());
    }
}
