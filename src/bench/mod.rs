//! `stripecat bench tx|rx|reflect`: a packet generator and counter for
//! proving that links run at line rate, and round-trip latency through a
//! reflector. Frames are Ethernet/IPv4/UDP in 198.18.0.0/15 (see `gen`).
//!
//! Shape: every (port, queue) pair is a lane; lanes are shared out over the
//! `--lcores` CPUs (one loop per CPU; without `--lcores` one loop on the
//! main lcore polls them all). The first loop also decides when the run is
//! over and draws the line per second. At the end the lanes' figures are
//! summed per port, printed as a table and written as JSON.

pub mod gen;
pub mod lane;
pub mod latency;
pub mod rate;
pub mod report;
pub mod seq;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use self::gen::{FlowGen, SizeMix};
use self::lane::{Control, Lane, LaneResult, Leader, Worker};
use self::latency::Latency;
use self::rate::{Pacer, Rate};
use self::report::{BenchReport, Flow, Live, PortFigures};
use crate::dataplane::members::wait_for_peer_exit;
use crate::dataplane::signals::Signals;
use crate::dataplane::{lcores, members};
use crate::dpdk::{rdtsc, Mempool};
use crate::exit::{ExitCode, Failure};
use crate::spec::PortSpec;
use crate::startup::Startup;

/// What a `bench` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Generate frames on every port and queue.
    Tx,
    /// Count frames and check every flow's sequence.
    Rx,
    /// Send every bench frame back to its sender.
    Reflect,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Tx => "tx",
            Mode::Rx => "rx",
            Mode::Reflect => "reflect",
        }
    }
}

/// One `stripecat bench` run (the options' meanings: `stripecat bench --help`).
#[derive(Debug, Clone)]
pub struct Plan {
    /// `tx`, `rx` or `reflect`.
    pub mode: Mode,
    /// The ports, in order.
    pub ports: Vec<PortSpec>,
    /// The user's extra EAL arguments, unsplit.
    pub eal: Option<String>,
    /// Dedicated CPUs for the poll loops; `None`: one loop on the main lcore.
    pub lcores: Option<String>,
    /// Queue pairs per port (one poll loop each, spread over the lcores).
    pub queues: u16,
    /// (tx) Frame size, FCS included.
    pub size: Option<u16>,
    /// (tx) The 7:4:1 mix of 64, 576 and 1518-byte frames instead of one size.
    pub imix: bool,
    /// (tx) Rate per port; `None`: as fast as the port takes frames.
    pub rate: Option<Rate>,
    /// Seconds to run; `None`: the mode's default end.
    pub duration: Option<f64>,
    /// (tx) Timestamp frames and measure the round trip through a reflector.
    pub latency: bool,
    /// Where the final report goes as JSON.
    pub stats_json: Option<PathBuf>,
}

/// `tx` without `--duration` runs this long.
const TX_DEFAULT_SECS: f64 = 10.0;
/// `rx` and `reflect` end this long after the last frame.
const IDLE_END: Duration = Duration::from_secs(2);
const LINK_WAIT: Duration = Duration::from_secs(30);
/// How long `tx` waits for a memif peer to leave first (see `run`).
const PEER_EXIT_WAIT: Duration = Duration::from_secs(5);
const HEADROOM: u32 = 128;

fn usage(msg: impl Into<String>, hint: &str) -> Failure {
    Failure::new(ExitCode::Usage, msg).hint(hint)
}

pub fn check(a: &Plan) -> Result<(), Failure> {
    if a.ports.is_empty() {
        return Err(usage(
            "no ports given",
            "name each port with --port (e.g. --port net_memif0,role=server,socket=/run/sc.sock)",
        ));
    }
    if a.mode != Mode::Tx {
        let tx_only =
            [("--size", a.size.is_some()), ("--imix", a.imix), ("--rate", a.rate.is_some()), ("--latency", a.latency)];
        if let Some((opt, _)) = tx_only.iter().find(|(_, given)| *given) {
            return Err(usage(
                format!("{opt} applies to `bench tx`, not `bench {}`", a.mode.name()),
                "the receiving side takes whatever frames come; give the option to the tx side",
            ));
        }
    }
    Ok(())
}

/// `stripecat bench`.
pub fn run(a: &Plan, verbose: u8) -> Result<(), Failure> {
    check(a)?;
    let signals = Signals::install();
    let workers = match &a.lcores {
        Some(l) => lcores::parse_cpu_list(l)?,
        None => Vec::new(),
    };
    let mix = if a.imix { SizeMix::imix() } else { SizeMix::fixed(a.size.unwrap_or(gen::MIN_FRAME)) };
    let started = Startup {
        ports: a.ports.clone(),
        eal: a.eal.clone(),
        lcores: Some(lcores::eal_lcore_map(&workers)),
        verbose,
        scan_pci_when_empty: false,
    }
    .start()?;
    let eal = started.eal;
    let nports = started.ports.len() as u32;
    let lanes_n = nports * a.queues as u32;
    let env = |e: crate::dpdk::DpdkError| {
        Failure::env(e.to_string()).hint("reserve more hugepages (hugepages.conf) or lower --queues")
    };
    let rx_room = (HEADROOM + 2048) as u16;
    let rx_pool = Mempool::new(&eal, "scb_rx", lanes_n * 4096 + 4096, 256, rx_room, None).map_err(env)?;
    let max_len = (mix.max() - gen::FCS) as u32;
    let tx_pool = if a.mode == Mode::Tx {
        let room = (HEADROOM + max_len.max(2048)) as u16;
        let pool = Mempool::new(&eal, "scb_tx", lanes_n * 2048 + 4096, 256, room, None).map_err(env)?;
        gen::prefill(&pool, max_len as usize);
        Some(pool)
    } else {
        None
    };
    let mtu = (max_len as u16).saturating_sub(14).max(1500);
    let clients: Vec<bool> = a.ports.iter().map(crate::spec::PortSpec::is_memif_client).collect();
    let mut members = members::open(&eal, &started.ports, &clients, a.queues, mtu, &rx_pool)?;
    if !members::wait_links_until(&members, LINK_WAIT, &|| signals.raised())? {
        drop(members);
        drop(tx_pool);
        drop(rx_pool);
        drop(eal);
        return Err(signals.failure());
    }
    let hz = eal.tsc_hz();
    let now = rdtsc();
    let mut lanes = Vec::new();
    for (pi, m) in members.iter_mut().enumerate() {
        for (q, (rx, tx)) in std::mem::take(&mut m.queues).into_iter().map(|p| p.into_queues()).enumerate() {
            let flow = (pi * a.queues as usize + q) as u16;
            let (g, p, l) = if a.mode == Mode::Tx {
                (
                    Some(FlowGen::new(flow, m.mac, &mix)),
                    a.rate.map(|r| Pacer::new(r.split(a.queues as u32), hz, now)),
                    a.latency.then(|| Latency::new(hz)),
                )
            } else {
                (None, None, None)
            };
            lanes.push(Lane::new(pi, m.port.id(), q as u16, m.guard_link, rx, tx, g, p, l));
        }
    }
    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let lives: Vec<_> = lanes.iter().map(|l| (l.port, Arc::clone(&l.live))).collect();
    let start = rdtsc() + hz / 1000;
    let secs = a.duration.or((a.mode == Mode::Tx).then_some(TX_DEFAULT_SECS));
    let ctl = Arc::new(Control {
        mode: a.mode,
        stop: AtomicBool::new(false),
        hz,
        start,
        gen_end: match (a.mode, secs) {
            (Mode::Tx, Some(s)) => start + (s * hz as f64) as u64,
            _ => u64::MAX,
        },
        stamp: a.latency,
    });
    let display = std::io::stderr().is_terminal().then(|| Live::new(a.mode.name(), names.clone(), hz, start));
    let deadline = match a.mode {
        // tx ends by itself; the deadline is only a backstop.
        Mode::Tx => secs.map(|s| start + ((s + 5.0 + lane::DRAIN.as_secs_f64()) * hz as f64) as u64),
        _ => secs.map(|s| start + (s * hz as f64) as u64),
    };
    let idle_end = (a.mode != Mode::Tx).then(|| (IDLE_END.as_secs_f64() * hz as f64) as u64);
    let leader = Leader::new(lives, Box::new(signals.checker()), deadline, idle_end, display);

    // Share the lanes out: lane i to loop i mod loops.
    let nloops = workers.len().max(1).min(lanes.len());
    let mut groups: Vec<Vec<Lane>> = (0..nloops).map(|_| Vec::new()).collect();
    for (i, l) in lanes.into_iter().enumerate() {
        groups[i % nloops].push(l);
    }
    let mut leader = Some(leader);
    let loops: Vec<Worker> = groups
        .into_iter()
        .map(|g| Worker { lanes: g, ctl: Arc::clone(&ctl), pool: tx_pool.clone(), leader: leader.take() })
        .collect();
    let results: Vec<LaneResult> = if workers.is_empty() {
        loops.into_iter().flat_map(Worker::run).collect()
    } else {
        let ids = eal.worker_lcores();
        let mut jobs = Vec::new();
        // EAL's wait spins; block on a channel first so the main thread
        // (which floats over the same CPUs) sleeps while the loops run.
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        for (w, lcore) in loops.into_iter().zip(ids) {
            let done = done_tx.clone();
            let job = move || {
                let r = w.run();
                let _ = done.send(());
                r
            };
            jobs.push(eal.launch(lcore, job).map_err(|e| Failure::env(e.to_string()))?);
        }
        drop(done_tx);
        while done_rx.recv().is_ok() {}
        let mut out = Vec::new();
        for j in jobs {
            out.extend(j.join().map_err(|e| Failure::new(ExitCode::Other, e.to_string()))?);
        }
        out
    };
    if a.mode == Mode::Tx && !signals.raised() {
        // Leave after the receiving side: a memif peer that disconnects
        // while the other side still polls can crash it (DPDK 22.11).
        wait_for_peer_exit(&members, PEER_EXIT_WAIT);
    }
    let report = build_report(a, &mix, nloops, &names, &members, results, hz, start);
    eprint!("{}", report.table());
    if let Some(p) = &a.stats_json {
        report.write_json(p).map_err(|e| {
            Failure::new(ExitCode::Other, format!("cannot write {}: {e}", p.display()))
                .hint("check the directory exists and is writable")
        })?;
    }
    drop(members);
    drop(tx_pool);
    drop(rx_pool);
    drop(eal);
    if signals.raised() {
        return Err(signals.failure());
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    a: &Plan,
    mix: &SizeMix,
    nloops: usize,
    names: &[String],
    members: &[members::Member],
    results: Vec<LaneResult>,
    hz: u64,
    start: u64,
) -> BenchReport {
    let secs = |from: Option<u64>, to: u64| from.map_or(0.0, |f| to.saturating_sub(f) as f64 / hz as f64);
    let mut latency: Option<Latency> = None;
    let mut ports = Vec::new();
    // One port's figures from its lanes, or the total's from every lane.
    let figures = |name: &str, lanes: &mut dyn Iterator<Item = &LaneResult>| {
        let mut t = Totals::default();
        let mut fig = PortFigures { name: name.into(), ..Default::default() };
        for r in lanes {
            t.add(r);
            fig.sequence += r.seq;
            fig.foreign += r.foreign;
            fig.returned += r.returned;
            fig.tx_dropped += r.tx_dropped;
        }
        fig.tx = Flow::new(t.tx_pkts, t.tx_bytes, tx_secs(a.mode, start, &t, hz));
        fig.rx = Flow::new(t.rx_pkts, t.rx_bytes, secs(t.first_rx, t.last_rx));
        (fig, t)
    };
    for (pi, name) in names.iter().enumerate() {
        let (mut fig, _) = figures(name, &mut results.iter().filter(|r| r.port == pi));
        if let Some(s) = members.get(pi).and_then(|m| m.port.stats().ok()) {
            fig.rx_missed = s.rx_missed;
            fig.rx_nombuf = s.rx_nombuf;
            fig.tx_errors = s.tx_errors;
        }
        ports.push(fig);
    }
    for r in &results {
        if let Some(l) = &r.latency {
            match latency.as_mut() {
                Some(m) => m.merge(l),
                None => {
                    let mut m = Latency::new(hz);
                    m.merge(l);
                    latency = Some(m);
                }
            }
        }
    }
    let (mut total, tot) = figures("total", &mut results.iter());
    total.rx_missed = ports.iter().map(|p| p.rx_missed).sum();
    total.rx_nombuf = ports.iter().map(|p| p.rx_nombuf).sum();
    total.tx_errors = ports.iter().map(|p| p.tx_errors).sum();
    BenchReport {
        mode: a.mode.name().into(),
        frame_size: (!a.imix && a.mode == Mode::Tx).then(|| mix.sizes[0]),
        imix: a.imix,
        mean_frame_size: if a.mode == Mode::Tx {
            mix.mean()
        } else if tot.rx_pkts > 0 {
            (tot.rx_bytes + 4 * tot.rx_pkts) as f64 / tot.rx_pkts as f64
        } else {
            0.0
        },
        rate: a.rate.map(|r| r.to_string()),
        duration: a.duration.or((a.mode == Mode::Tx).then_some(TX_DEFAULT_SECS)),
        lcores: nloops,
        queues: a.queues,
        ports,
        total,
        latency: latency.and_then(|l| l.summary()),
    }
}

/// Seconds of sending: from the common start to the last burst out (tx),
/// or first to last reflected frame.
fn tx_secs(mode: Mode, start: u64, t: &Totals, hz: u64) -> f64 {
    let from = if mode == Mode::Tx { Some(start) } else { t.tx_first };
    from.map_or(0.0, |f| t.tx_last.saturating_sub(f) as f64 / hz as f64)
}

#[derive(Default)]
struct Totals {
    tx_pkts: u64,
    tx_bytes: u64,
    rx_pkts: u64,
    rx_bytes: u64,
    first_rx: Option<u64>,
    last_rx: u64,
    tx_first: Option<u64>,
    tx_last: u64,
}

impl Totals {
    fn add(&mut self, r: &LaneResult) {
        self.tx_pkts += r.tx_pkts;
        self.tx_bytes += r.tx_bytes;
        self.rx_pkts += r.rx_pkts;
        self.rx_bytes += r.rx_bytes;
        self.first_rx = min_opt(self.first_rx, r.first_rx);
        self.last_rx = self.last_rx.max(r.last_rx);
        self.tx_first = min_opt(self.tx_first, r.tx_first);
        self.tx_last = self.tx_last.max(r.tx_last);
    }
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
