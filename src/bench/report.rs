//! What `bench` shows: a line per second on a terminal (per port: Mpps,
//! Gbit/s on the wire and of payload, drops), a final table, and
//! `--stats-json` (schema in docs/BENCHMARKS.md, "stripecat bench").

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use serde::Serialize;

use super::gen::{FCS, L4_PAYLOAD};
use super::lane::LaneLive;
use super::latency::{ns_text, LatencySummary};
use super::rate::WIRE_OVERHEAD;
use super::seq::SeqStats;
use crate::report::StatusLine;

/// Traffic in one direction over some seconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Flow {
    pub packets: u64,
    /// Frame bytes, FCS included (as frame sizes are counted).
    pub frame_bytes: u64,
    /// UDP payload bytes.
    pub payload_bytes: u64,
    pub seconds: f64,
    pub mpps: f64,
    /// Bits on the wire: frames plus 20 bytes of preamble and gap each.
    pub wire_gbit_s: f64,
    pub payload_gbit_s: f64,
}

impl Flow {
    /// From packet and buffer-byte counts (FCS not included in `bytes`).
    pub fn new(packets: u64, bytes: u64, seconds: f64) -> Flow {
        let frame_bytes = bytes + FCS as u64 * packets;
        let payload_bytes = bytes.saturating_sub(L4_PAYLOAD as u64 * packets);
        let per_s = |v: f64| if seconds > 0.0 { v / seconds } else { 0.0 };
        Flow {
            packets,
            frame_bytes,
            payload_bytes,
            seconds,
            mpps: per_s(packets as f64) / 1e6,
            wire_gbit_s: per_s(((frame_bytes + WIRE_OVERHEAD * packets) * 8) as f64) / 1e9,
            payload_gbit_s: per_s((payload_bytes * 8) as f64) / 1e9,
        }
    }
}

/// One port's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PortFigures {
    pub name: String,
    pub tx: Flow,
    pub rx: Flow,
    pub sequence: SeqStats,
    /// Frames that were not bench frames (or were ours coming back without
    /// a timestamp).
    pub foreign: u64,
    /// `tx --latency`: frames that came back from the reflector.
    pub returned: u64,
    /// `reflect`: frames dropped because the transmit queue stayed full.
    pub tx_dropped: u64,
    /// The driver's counters (`rte_eth_stats`): frames it missed for lack
    /// of room, and receive buffer allocation failures.
    pub rx_missed: u64,
    pub rx_nombuf: u64,
    pub tx_errors: u64,
}

/// The whole report (`--stats-json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BenchReport {
    /// `tx`, `rx` or `reflect`.
    pub mode: String,
    /// Frame size (FCS included), or null with `--imix`.
    pub frame_size: Option<u16>,
    /// Whether frames followed the IMIX mix.
    pub imix: bool,
    /// Mean frame size of what was sent or received, FCS included.
    pub mean_frame_size: f64,
    /// `--rate` per port as given (null: as fast as possible).
    pub rate: Option<String>,
    /// Seconds of traffic the figures cover.
    pub duration: Option<f64>,
    /// Poll loops that ran.
    pub lcores: usize,
    /// Queue pairs per port.
    pub queues: u16,
    /// Figures per port, in `--port` order.
    pub ports: Vec<PortFigures>,
    /// The sum over ports.
    pub total: PortFigures,
    /// Round-trip percentiles (tx with `--latency`).
    pub latency: Option<LatencySummary>,
}

impl BenchReport {
    /// The final table (stderr).
    pub fn table(&self) -> String {
        let mut o = String::new();
        let what = match (self.frame_size, self.imix) {
            (Some(s), _) => format!("{s}-byte frames"),
            (None, true) => format!("IMIX (mean {:.0} bytes)", self.mean_frame_size),
            (None, false) => format!("frames of {:.0} bytes on average", self.mean_frame_size),
        };
        let rate = self.rate.as_deref().map(|r| format!(", --rate {r} per port")).unwrap_or_default();
        o.push_str(&format!(
            "stripecat bench {}: {what}{rate}, {} lcore(s), {} queue(s) per port\n",
            self.mode, self.lcores, self.queues
        ));
        o.push_str(&format!(
            "{:<14} {:<3} {:>13} {:>8} {:>8} {:>12} {:>15} {:>10} {:>10} {:>8} {:>10}\n",
            "port",
            "dir",
            "packets",
            "seconds",
            "Mpps",
            "Gbit/s wire",
            "Gbit/s payload",
            "lost",
            "reordered",
            "dups",
            "missed"
        ));
        let mut rows: Vec<&PortFigures> = self.ports.iter().collect();
        if self.ports.len() > 1 {
            rows.push(&self.total);
        }
        for p in rows {
            for (dir, f) in [("tx", &p.tx), ("rx", &p.rx)] {
                if f.packets == 0 && !(dir == "tx" && self.mode == "tx") && !(dir == "rx" && self.mode != "tx") {
                    continue;
                }
                let (lost, reo, dup, missed) = if dir == "rx" {
                    (
                        p.sequence.lost.to_string(),
                        p.sequence.reordered.to_string(),
                        p.sequence.duplicates.to_string(),
                        p.rx_missed.to_string(),
                    )
                } else {
                    (p.tx_dropped.to_string(), "-".into(), "-".into(), "-".into())
                };
                o.push_str(&format!(
                    "{:<14} {:<3} {:>13} {:>8.3} {:>8.3} {:>12.3} {:>15.3} {:>10} {:>10} {:>8} {:>10}\n",
                    p.name, dir, f.packets, f.seconds, f.mpps, f.wire_gbit_s, f.payload_gbit_s, lost, reo, dup, missed
                ));
            }
        }
        if self.total.foreign > 0 {
            o.push_str(&format!("foreign frames ignored: {}\n", self.total.foreign));
        }
        if self.mode == "tx" && self.total.returned > 0 {
            o.push_str(&format!("returned by the reflector: {} of {}\n", self.total.returned, self.total.tx.packets));
        }
        if let Some(l) = &self.latency {
            o.push_str(&format!(
                "round trip ({} samples): min {}, p50 {}, p90 {}, p99 {}, p99.9 {}, max {}\n",
                l.count,
                ns_text(l.min_ns),
                ns_text(l.p50_ns),
                ns_text(l.p90_ns),
                ns_text(l.p99_ns),
                ns_text(l.p999_ns),
                ns_text(l.max_ns)
            ));
        }
        o
    }

    pub fn write_json(&self, path: &std::path::Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }
}

/// The line per second on a terminal.
pub struct Live {
    pub mode: &'static str,
    pub port_names: Vec<String>,
    pub hz: u64,
    start: u64,
    next: u64,
    /// Per port: tx packets, tx bytes, rx packets, rx bytes, lost, at the last line.
    prev: Vec<[u64; 5]>,
    prev_t: u64,
    line: StatusLine,
}

impl Live {
    pub fn new(mode: &'static str, port_names: Vec<String>, hz: u64, now: u64) -> Live {
        let n = port_names.len();
        Live {
            mode,
            port_names,
            hz,
            start: now,
            next: now + hz,
            prev: vec![[0; 5]; n],
            prev_t: now,
            line: StatusLine::default(),
        }
    }

    pub fn tick(&mut self, now: u64, lanes: &[(usize, Arc<LaneLive>)]) {
        if now < self.next {
            return;
        }
        self.next = now + self.hz;
        let dt = now.saturating_sub(self.prev_t) as f64 / self.hz as f64;
        self.prev_t = now;
        let mut cur = vec![[0u64; 5]; self.port_names.len()];
        for (p, l) in lanes {
            let c = &mut cur[*p];
            c[0] += l.tx_pkts.load(Relaxed);
            c[1] += l.tx_bytes.load(Relaxed);
            c[2] += l.rx_pkts.load(Relaxed);
            c[3] += l.rx_bytes.load(Relaxed);
            c[4] += l.lost.load(Relaxed);
        }
        let mut line = format!("{} {:>5.0} s", self.mode, (now - self.start) as f64 / self.hz as f64);
        for (i, name) in self.port_names.iter().enumerate() {
            let (c, p) = (cur[i], self.prev[i]);
            let (pk, by) = if self.mode == "tx" { (c[0] - p[0], c[1] - p[1]) } else { (c[2] - p[2], c[3] - p[3]) };
            let f = Flow::new(pk, by, dt);
            line.push_str(&format!(
                " | {name} {:.2} Mpps {:.2} Gbit/s wire {:.2} payload, drops {}",
                f.mpps,
                f.wire_gbit_s,
                f.payload_gbit_s,
                c[4].saturating_sub(p[4])
            ));
        }
        self.prev = cur;
        self.line.draw(&line);
    }

    pub fn done(&mut self) {
        self.line.keep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_rate_counts_fcs_preamble_and_gap() {
        // 1 Mpps of 64-byte frames (60 in the buffer): 84 bytes on the wire
        // each, 672 Mbit/s; 18 bytes of UDP payload each.
        let f = Flow::new(1_000_000, 60 * 1_000_000, 1.0);
        assert_eq!(f.frame_bytes, 64_000_000);
        assert!((f.mpps - 1.0).abs() < 1e-12);
        assert!((f.wire_gbit_s - 0.672).abs() < 1e-12);
        assert!((f.payload_gbit_s - 0.144).abs() < 1e-12);
        // No time, no rate.
        assert_eq!(Flow::new(5, 300, 0.0).mpps, 0.0);
    }
}
