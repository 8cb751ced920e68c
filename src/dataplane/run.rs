//! `stripecat send` and `stripecat recv` over DPDK: set-up (EAL, pools,
//! members, threads), the poll loop, and the report and exit code.
//!
//! Memory budget (independent of the stream's length; see README):
//! - receiver: `window / chunk` mbufs for the reorder window and the writer
//!   queue, plus the rx descriptors of every queue;
//! - sender: the fresh queue, the reader's hand-off queue and the data in
//!   flight (bounded by the receiver's credit, i.e. its window).

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::queue::ArrayQueue;
use stripecat_proto::wire::DigestAlgorithm;
use stripecat_proto::{ReceiverConfig, ReceiverError, ReceiverState, SenderConfig, SenderError, SenderState};

use super::addr::{DEFAULT_RECEIVER_IP, DEFAULT_SENDER_IP};
use super::clock::TscClock;
use super::impair_port::PortImpairer;
use super::io::{self, ReaderShared, WriterShared};
use super::lanes::{LaneShared, Layout};
use super::lcores;
use super::members::{self, FrameCounters, Member};
use super::neighbor::Neighbors;
use super::receiver_lane::RecvLane;
use super::receiver_loop::{RecvEnd, RecvLoop};
use super::sender_lane::SendLane;
use super::sender_loop::{SendEnd, SendLoop};
use crate::cli::{DataPlaneArgs, DigestArg, RecvArgs, SendArgs};
use crate::dpdk::{Eal, Mempool};
use crate::exit::{ExitCode, Failure};
use crate::report::{PathReport, PortReport, Progress, Summary};
use crate::startup::Startup;
use crate::wire::Mac;

/// Receiver window (reorder buffer and flow-control credit), bytes.
pub const WINDOW_BYTES: u64 = 32 << 20;
/// Chunks the reader may have read ahead of the poll loop.
pub(crate) const INTAKE_CHUNKS: usize = 2048;
/// Payloads queued for the writer at most.
pub(crate) const WRITER_QUEUE: usize = 8192;
/// Headroom DPDK reserves in every mbuf (RTE_PKTMBUF_HEADROOM).
pub(crate) const HEADROOM: u16 = 128;
/// How long members may take to come up.
const LINK_WAIT: Duration = Duration::from_secs(30);
/// How long the sender tries ARP before giving up.
const ARP_TIMEOUT_US: u64 = 10_000_000;

/// Set by SIGINT/SIGTERM.
pub struct Signals {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

impl Signals {
    /// Registers the handlers once per process; later calls share the same
    /// flags (set-up code deep in a command checks them too).
    pub fn install() -> Signals {
        static FLAGS: std::sync::OnceLock<(Arc<AtomicBool>, Arc<AtomicBool>)> = std::sync::OnceLock::new();
        let (int, term) = FLAGS
            .get_or_init(|| {
                let (int, term) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
                let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, int.clone());
                let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, term.clone());
                (int, term)
            })
            .clone();
        Signals { int, term }
    }

    pub fn raised(&self) -> bool {
        self.int.load(Ordering::Relaxed) || self.term.load(Ordering::Relaxed)
    }

    pub fn checker(&self) -> impl Fn() -> bool + Send + 'static {
        let (i, t) = (self.int.clone(), self.term.clone());
        move || i.load(Ordering::Relaxed) || t.load(Ordering::Relaxed)
    }

    /// 130 for SIGINT, 143 for SIGTERM (the shell convention).
    pub fn exit_code(&self) -> i32 {
        if self.term.load(Ordering::Relaxed) {
            143
        } else {
            130
        }
    }
}

/// Chunk size for an MTU: what is left of an IP packet after IPv4, UDP and
/// the protocol header.
pub fn chunk_for_mtu(mtu: u16) -> u16 {
    mtu - 20 - 8 - stripecat_proto::wire::HEADER_LEN as u16
}

pub(crate) fn digest_alg(d: DigestArg) -> DigestAlgorithm {
    match d {
        DigestArg::Xxh3 => DigestAlgorithm::Xxh3_128,
        DigestArg::Blake3 => DigestAlgorithm::Blake3,
        DigestArg::None => DigestAlgorithm::None,
    }
}

fn digest_name(d: DigestAlgorithm) -> &'static str {
    match d {
        DigestAlgorithm::Xxh3_128 => "xxh3-128",
        DigestAlgorithm::Blake3 => "blake3",
        DigestAlgorithm::None => "none",
    }
}

pub(crate) fn random_u64() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok() {
        return u64::from_le_bytes(b);
    }
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32)
}

/// A packet-buffer pool that could not be created at start: hugepages ran out
/// (another DPDK process holds them, or too few are reserved). Says so, with
/// how many are free, and names the fix.
pub(crate) fn alloc_failure(e: crate::dpdk::DpdkError) -> Failure {
    let h = crate::preflight::Sysfs::default().hugepages();
    let what = match &e {
        crate::dpdk::DpdkError::MempoolCreate { name, count, reason } => {
            format!("not enough hugepage memory for {count} packet buffers (pool {name}): {reason}")
        }
        other => other.to_string(),
    };
    Failure::env(format!("{what}; {} of {} hugepages are free", h.free, h.total)).hint(
        "stop other DPDK processes holding hugepages, or reserve more with scripts/setup-hugepages.sh (see hugepages.conf)",
    )
}

/// The DPDK-side set-up both ends share.
struct Plane {
    eal: Eal,
    members: Vec<Member>,
    rx_pool: Arc<Mempool>,
    hdr_pool: Arc<Mempool>,
    workers: Vec<u32>,
}

fn open_plane(
    ports: &crate::cli::DpdkArgs,
    plane: &DataPlaneArgs,
    verbose: u8,
    rx_mbufs: u32,
    impair: Option<crate::impair::Impairment>,
) -> Result<Plane, Failure> {
    if ports.ports.is_empty() {
        return Err(Failure::new(ExitCode::Usage, "no member ports given")
            .hint("name each member with --port (e.g. --port net_memif0,role=server,socket=/run/sc.sock)"));
    }
    let workers = match &plane.lcores {
        Some(l) => lcores::parse_cpu_list(l)?,
        None => Vec::new(),
    };
    if workers.len() > plane.queues as usize {
        return Err(Failure::new(
            ExitCode::Usage,
            format!(
                "--lcores {} names {} CPUs but --queues is {}",
                plane.lcores.as_deref().unwrap_or_default(),
                workers.len(),
                plane.queues
            ),
        )
        .hint(format!(
            "each poll lcore needs a queue of its own on every member: give --queues {} or more",
            workers.len()
        )));
    }
    let started = Startup {
        ports: ports.ports.clone(),
        eal: ports.eal.clone(),
        lcores: Some(lcores::eal_lcore_map(&workers)),
        verbose,
        scan_pci_when_empty: false,
    }
    .start()?;
    let eal = started.eal;
    let frame_room = plane.mtu as u32 + 14 + 4 + 64;
    let data_room = (HEADROOM as u32 + frame_room.max(2048)) as u16;
    let env = alloc_failure;
    let q = plane.queues as u32;
    let n = started.ports.len() as u32;
    let rx_count = rx_mbufs + n * q * 2048 + 4096;
    let rx_pool = Arc::new(Mempool::new(&eal, "sc_rx", rx_count, 256, data_room, None).map_err(env)?);
    // memif clients are restarted while their link is down (see members.rs).
    let clients: Vec<bool> = ports.ports.iter().map(crate::spec::PortSpec::is_memif_client).collect();
    let mut members = members::open(&eal, &started.ports, &clients, plane.queues, plane.mtu, &rx_pool)?;
    if let Some(spec) = impair.filter(|s| s.is_active()) {
        for (i, m) in members.iter_mut().enumerate() {
            m.impair = Some(Box::new(PortImpairer::new(spec, i, (*rx_pool).clone())));
        }
    }
    super::packet_check::assign(&mut members, plane.packet_check, impair);
    // Header buffers hold headers only when every member sends chained
    // mbufs (the payload follows as its own segment). A driver without
    // multi-segment transmit (net_pcap) gets each DATA frame copied whole
    // into a header buffer, so then they must hold a whole frame: with
    // 256 bytes every DATA frame failed to build and was silently lost.
    let hdr_room = if members.iter().all(|m| m.chain) { HEADROOM + 256 } else { data_room };
    let hdr_pool = Arc::new(Mempool::new(&eal, "sc_hdr", 16384 + n * q * 2048, 256, hdr_room, None).map_err(env)?);
    let signals = Signals::install();
    if !members::wait_links_until(&members, LINK_WAIT, &signals.checker())? {
        // SIGINT/SIGTERM while a link was still down (a memif peer that
        // has not come): close the ports, release EAL, leave with 130/143.
        drop(members);
        drop(hdr_pool);
        drop(rx_pool);
        drop(eal);
        std::process::exit(signals.exit_code());
    }
    Ok(Plane { eal, members, rx_pool, hdr_pool, workers })
}

fn open_input(file: &Option<std::path::PathBuf>) -> Result<(File, Option<u64>, String), Failure> {
    match file.as_deref() {
        None => stdin_file(),
        Some(p) if p.as_os_str() == "-" => stdin_file(),
        Some(p) => {
            let f = File::open(p).map_err(|e| {
                Failure::new(ExitCode::Other, format!("cannot open input {}: {e}", p.display()))
                    .hint("check the path and its permissions")
            })?;
            let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            Ok((f, len, p.display().to_string()))
        }
    }
}

fn stdin_file() -> Result<(File, Option<u64>, String), Failure> {
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Failure::new(ExitCode::Other, format!("stdin: {e}")))?;
    let f = File::from(fd);
    let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
    Ok((f, len, "stdin".into()))
}

fn open_output(file: &Option<std::path::PathBuf>) -> Result<(File, String), Failure> {
    match file.as_deref() {
        None => stdout_file(),
        Some(p) if p.as_os_str() == "-" => stdout_file(),
        Some(p) => {
            let f = File::create(p).map_err(|e| {
                Failure::new(ExitCode::Other, format!("cannot create output {}: {e}", p.display()))
                    .hint("check the directory exists and is writable")
            })?;
            Ok((f, p.display().to_string()))
        }
    }
}

fn stdout_file() -> Result<(File, String), Failure> {
    let fd = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Failure::new(ExitCode::Other, format!("stdout: {e}")))?;
    Ok((File::from(fd), "stdout".into()))
}

fn port_reports(members: &[Member]) -> Vec<PortReport> {
    members
        .iter()
        .map(|m| {
            let s = m.port.stats().unwrap_or_default();
            PortReport {
                name: m.name.clone(),
                tx_packets: s.tx_packets,
                rx_packets: s.rx_packets,
                tx_bytes: s.tx_bytes,
                rx_bytes: s.rx_bytes,
                rx_missed: s.rx_missed,
                tx_errors: s.tx_errors + m.txbuf.iter().map(|b| b.dropped).sum::<u64>(),
                packet_check: m.check.name(),
                packet_check_reason: m.check_reason,
            }
        })
        .collect()
}

fn impair_report(members: &[Member]) -> Option<crate::report::ImpairReport> {
    let mut r = crate::report::ImpairReport::default();
    let mut any = false;
    for m in members {
        for imp in m.impairers() {
            any = true;
            let (tx, rx) = imp.stats();
            for s in [tx, rx] {
                r.dropped += s.dropped;
                r.duplicated += s.duplicated;
                r.reordered += s.held;
                r.corrupted += s.corrupted;
            }
        }
    }
    any.then_some(r)
}

fn merge_frame_counters(into: &mut FrameCounters, from: &FrameCounters) {
    for (k, v) in &from.drops {
        *into.drops.entry(k).or_default() += v;
    }
    into.arp_replies_sent += from.arp_replies_sent;
    into.arp_requests_sent += from.arp_requests_sent;
    into.pings_answered += from.pings_answered;
}

fn add_frame_drops(summary: &mut Summary, c: &FrameCounters) {
    for (k, v) in &c.drops {
        *summary.drops.entry((*k).to_string()).or_default() += v;
    }
}

fn add_proto_drops(summary: &mut Summary, d: &stripecat_proto::DropCounters) {
    for r in stripecat_proto::DropReason::ALL {
        let v = d.get(r);
        if v > 0 {
            *summary.drops.entry(snake(&format!("{r:?}"))).or_default() += v;
        }
    }
}

fn snake(s: &str) -> String {
    let mut o = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                o.push('_');
            }
            o.push(c.to_ascii_lowercase());
        } else {
            o.push(c);
        }
    }
    o
}

pub(crate) fn finish_report(summary: &Summary, quiet: bool, json: &Option<std::path::PathBuf>) -> Result<(), Failure> {
    if !quiet {
        eprintln!("{}", summary.paragraph());
    }
    if let Some(p) = json {
        summary
            .write_json(p)
            .map_err(|e| Failure::new(ExitCode::Other, format!("cannot write {}: {e}", p.display())))?;
    }
    Ok(())
}

/// Runs a loop on the first worker lcore if any, else right here.
fn run_on_lcore<L, R>(eal: &Eal, workers: &[u32], mut lp: L, f: fn(&mut L) -> R) -> Result<(L, R), Failure>
where
    L: Send + 'static,
    R: Send + 'static,
{
    if workers.is_empty() {
        let r = f(&mut lp);
        return Ok((lp, r));
    }
    let job = eal
        .launch(1, move || {
            let r = f(&mut lp);
            (lp, r)
        })
        .map_err(|e| Failure::env(e.to_string()))?;
    job.join().map_err(|e| Failure::new(ExitCode::Other, e.to_string()))
}

/// Starts lanes 1.. (see `lanes.rs`) on worker lcores 2.. (lane 0 runs on
/// lcore 1 through [`run_on_lcore`]).
fn launch_lanes<T: Send + 'static>(
    eal: &Eal,
    lanes: Vec<T>,
    shared: &LaneShared,
    f: fn(&mut T),
) -> Result<Vec<crate::dpdk::LcoreJoin<T>>, Failure> {
    let mut jobs = Vec::with_capacity(lanes.len());
    for (i, mut lane) in lanes.into_iter().enumerate() {
        let lcore = i as u32 + 2;
        match eal.launch(lcore, move || {
            f(&mut lane);
            lane
        }) {
            Ok(j) => jobs.push(j),
            Err(e) => {
                shared.quit.store(true, Ordering::Release);
                for j in jobs {
                    let _ = j.join();
                }
                return Err(Failure::env(format!("cannot start lane {} on lcore {lcore}: {e}", i + 1)));
            }
        }
    }
    Ok(jobs)
}

/// Stops lanes 1.. and takes them back (in lane order). A lane that
/// panicked is reported; its queues and paths are lost to the report only.
fn join_lanes<T>(shared: &LaneShared, jobs: Vec<crate::dpdk::LcoreJoin<T>>) -> (Vec<T>, Option<String>) {
    shared.quit.store(true, Ordering::Release);
    let mut out = Vec::with_capacity(jobs.len());
    let mut err = None;
    for j in jobs {
        match j.join() {
            Ok(l) => out.push(l),
            Err(e) => err = Some(e.to_string()),
        }
    }
    shared.drain();
    (out, err)
}

/// Lane 0 takes back every other lane's view of the members and its frame
/// counters (the caller gives their paths back to the protocol object), and
/// counts the frames lost to full inboxes.
fn take_back_lanes(
    into: &mut [Member],
    counters: &mut FrameCounters,
    shared: &LaneShared,
    lanes: Vec<(Vec<Member>, FrameCounters)>,
) {
    for (views, c) in lanes {
        for (m, v) in into.iter_mut().zip(views) {
            m.absorb(v);
        }
        merge_frame_counters(counters, &c);
    }
    let inbox_full = shared.inbox_full.load(Ordering::Relaxed);
    if inbox_full > 0 {
        *counters.drops.entry("lane_inbox_full").or_default() += inbox_full;
    }
}

/// Lane `k`'s view of every member: the queues it owns, moved out of lane
/// 0's members, each with its own fault injector under `--impair` (seeds
/// differ per lane).
fn split_members_for_lane(
    members: &mut [Member],
    layout: Layout,
    k: u16,
    impair: Option<crate::impair::Impairment>,
    pool: &Mempool,
) -> Vec<Member> {
    let qids = layout.queues_of(k);
    let spec = impair.filter(|s| s.is_active());
    members
        .iter_mut()
        .enumerate()
        .map(|(i, m)| {
            let imp = spec.map(|s| Box::new(PortImpairer::new(s, i + 64 * k as usize, pool.clone())));
            m.split_off(&qids, imp)
        })
        .collect()
}

/// How long memif's interrupt thread is given to finish a peer's disconnect.
const MEMIF_TEARDOWN_GRACE: Duration = Duration::from_millis(100);

/// Waits until every memif member's link is down (its peer left), at most
/// `limit`. Other drivers have no peer process to wait for.
pub(crate) fn wait_for_peer_exit(members: &[Member], limit: Duration) {
    if !members.iter().any(|m| m.guard_link) {
        return;
    }
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        let waiting = members.iter().any(|m| m.guard_link && m.port.link().map(|l| l.up).unwrap_or(false));
        if !waiting {
            // memif marks the link down first and then tears the connection
            // down in EAL's interrupt thread; closing our ports before it is
            // done would run a second teardown beside the first.
            std::thread::sleep(MEMIF_TEARDOWN_GRACE);
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `stripecat send` over DPDK.
pub fn send(args: &SendArgs, verbose: u8) -> Result<(), Failure> {
    let signals = Signals::install();
    let (input, total, _name) = open_input(&args.file)?;
    let mtu = args.plane.mtu;
    let chunk = chunk_for_mtu(mtu);
    let peer_mac: Option<Mac> = match &args.peer_mac {
        Some(s) => Some(
            s.parse().map_err(|e: String| Failure::new(ExitCode::Usage, e).hint("give --peer-mac as six hex bytes"))?,
        ),
        None => None,
    };
    let window_chunks = (WINDOW_BYTES / chunk as u64) as u32;
    let plane = open_plane(&args.dpdk, &args.plane, verbose, 0, args.kernel.impair)?;
    let Plane { eal, mut members, rx_pool, hdr_pool, workers } = plane;
    let fresh = 4096usize;
    let data_count = window_chunks + fresh as u32 + INTAKE_CHUNKS as u32 + 2048;
    let data_room = HEADROOM + chunk.max(2048 - HEADROOM);
    let data_pool = Arc::new(Mempool::new(&eal, "sc_data", data_count, 256, data_room, None).map_err(alloc_failure)?);
    let queues = args.plane.queues;
    let paths = (members.len() as u16) * queues;
    let config = SenderConfig {
        paths,
        chunk_size: chunk,
        digest: digest_alg(args.digest),
        total_len: total,
        fresh_queue_chunks: fresh,
        ..Default::default()
    };
    let clock = TscClock::new(eal.tsc_hz());
    let mut sender = stripecat_proto::Sender::new(config, random_u64(), clock.now());
    let layout = Layout { lanes: workers.len().max(1) as u16, queues };
    let lane_shared = LaneShared::new(layout.lanes);
    let mut lanes = Vec::new();
    for k in 1..layout.lanes {
        let views = split_members_for_lane(&mut members, layout, k, args.kernel.impair, &rx_pool);
        let paths =
            (0..paths).filter(|&p| layout.sender_owner(p) == k).map(|p| sender.detach_path(p as usize)).collect();
        lanes.push(SendLane {
            lane: k,
            layout,
            members: views,
            paths,
            total_paths: (members.len() as u16) * queues,
            shared: sender.shared().clone(),
            lanes: lane_shared.clone(),
            hdr_pool: hdr_pool.clone(),
            local_ip: args.plane.local_ip.unwrap_or(DEFAULT_SENDER_IP),
            peer_ip: args.peer_ip.unwrap_or(DEFAULT_RECEIVER_IP),
            udp_port: args.plane.udp_port,
            clock,
            busy_poll: args.plane.busy_poll,
            counters: FrameCounters::default(),
            drops: stripecat_proto::DropCounters::default(),
        });
    }
    let intake = Arc::new(ArrayQueue::new(INTAKE_CHUNKS));
    let reader = Arc::new(ReaderShared::default());
    let reader_thread =
        io::spawn_reader(&eal, Box::new(input), data_pool.clone(), chunk as usize, intake.clone(), reader.clone())
            .map_err(|e| Failure::new(ExitCode::Other, format!("cannot start the reader thread: {e}")))?;
    let lp = SendLoop {
        neighbors: Neighbors::new(members.len(), Some(args.peer_ip.unwrap_or(DEFAULT_RECEIVER_IP)), peer_mac),
        members,
        queues,
        sender,
        intake,
        reader: reader.clone(),
        hdr_pool,
        local_ip: args.plane.local_ip.unwrap_or(DEFAULT_SENDER_IP),
        peer_ip: args.peer_ip.unwrap_or(DEFAULT_RECEIVER_IP),
        udp_port: args.plane.udp_port,
        clock,
        busy_poll: args.plane.busy_poll,
        arp_timeout_us: ARP_TIMEOUT_US,
        counters: FrameCounters::default(),
        progress: Progress::new(total, args.report.quiet),
        lanes: (layout.lanes > 1).then(|| (layout, lane_shared.clone())),
    };
    let check = signals.checker();
    let started = std::time::Instant::now();
    let jobs = launch_lanes(&eal, lanes, &lane_shared, SendLane::run)?;
    let lane0 = run_on_lcore(&eal, &workers, (lp, check), |(lp, check)| lp.run(check)).map(|((lp, _), end)| (lp, end));
    let (lanes, lane_err) = join_lanes(&lane_shared, jobs);
    let (mut lp, end) = lane0?;
    let elapsed = started.elapsed();
    let mut views = Vec::new();
    for lane in lanes {
        for p in lane.paths {
            lp.sender.attach_path(p);
        }
        lp.sender.merge_drops(&lane.drops);
        views.push((lane.members, lane.counters));
    }
    take_back_lanes(&mut lp.members, &mut lp.counters, &lane_shared, views);
    if let Some(e) = lane_err {
        return Err(Failure::new(ExitCode::Other, e));
    }
    if matches!(end, SendEnd::Protocol) && lp.sender.state() == SenderState::Done {
        // Leave after the receiver: it lingers briefly to answer a lost
        // FIN-ACK, and a memif peer that disconnects while the other side
        // still polls can crash it (DPDK 22.11's memif unmaps its rings from
        // the control thread under a running burst). We no longer poll, so
        // its departure is safe for us; bounded in case it never leaves.
        wait_for_peer_exit(&lp.members, Duration::from_secs(2));
    }
    reader.stop.store(true, Ordering::Relaxed);
    let _ = reader_thread.join();
    lp.progress.finish();
    while lp.intake.pop().is_some() {}

    let mut summary = send_summary(&lp, digest_alg(args.digest), "dpdk", elapsed);

    let result = match end {
        SendEnd::Interrupted => {
            summary.error = Some("interrupted".into());
            finish_report(&summary, args.report.quiet, &args.report.stats_json)?;
            drop(lp);
            drop(data_pool);
            drop(rx_pool);
            drop(eal);
            std::process::exit(signals.exit_code());
        }
        SendEnd::ArpFailed(names) => Err(Failure::new(
            ExitCode::Transfer,
            format!("peer {} did not answer ARP on {}", lp.peer_ip, names.join(", ")),
        )
        .hint("start the receiver first, check --peer-ip, or give --peer-mac")),
        SendEnd::Input(e) => Err(Failure::new(ExitCode::Other, e)),
        SendEnd::Protocol => match lp.sender.state() {
            SenderState::Done => {
                summary.verified = Some(true);
                Ok(())
            }
            SenderState::Failed(e) => Err(sender_failure(e)),
            other => Err(Failure::new(ExitCode::Other, format!("sender stopped in state {other:?}"))),
        },
    };
    if let Err(f) = &result {
        summary.error = Some(f.message.clone());
    }
    finish_report(&summary, args.report.quiet, &args.report.stats_json)?;
    // Shutdown order: loop (queues, mbufs), pools, then EAL (ports closed).
    drop(lp);
    drop(data_pool);
    drop(rx_pool);
    drop(eal);
    result
}

/// The sender's final report.
pub(crate) fn send_summary(lp: &SendLoop, digest: DigestAlgorithm, transport: &str, elapsed: Duration) -> Summary {
    let st = lp.sender.stats();
    let mut summary =
        base_summary("send", transport, lp.sender.shared().acked(), &lp.members, &lp.counters, &st.drops, elapsed);
    summary.resends = st.paths.resends;
    summary.digest = Some(digest_name(digest).into());
    summary.paths = (0..lp.sender.path_count())
        .map(|i| {
            let p = lp.sender.path(i);
            let ps = p.stats();
            let (mi, _) = super::sender_loop::path_slot(i as u16, lp.queues);
            PathReport {
                id: i as u16,
                port: lp.members.get(mi).map(|m| m.name.clone()).unwrap_or_default(),
                packets: ps.packets,
                bytes: ps.bytes,
                resends: ps.resends,
                lost: ps.lost,
                ptos: ps.ptos,
                downs: ps.downs,
                ups: ps.ups,
                srtt_us: Some(p.rtt().smoothed().total_micros()),
                min_rtt_us: Some(p.rtt().min().total_micros()),
                health: format!("{:?}", p.health()).to_lowercase(),
            }
        })
        .collect();
    summary
}

/// The receiver's final report.
pub(crate) fn recv_summary(lp: &RecvLoop, written: u64, transport: &str, elapsed: Duration) -> Summary {
    base_summary("recv", transport, written, &lp.members, &lp.counters, &lp.receiver.stats().drops, elapsed)
}

/// What both ends report: bytes, time, ports, impairment and drops by reason.
fn base_summary(
    role: &str,
    transport: &str,
    bytes: u64,
    members: &[Member],
    frames: &FrameCounters,
    proto: &stripecat_proto::DropCounters,
    elapsed: Duration,
) -> Summary {
    let mut summary = Summary {
        role: role.into(),
        transport: transport.into(),
        bytes,
        ports: port_reports(members),
        impaired: impair_report(members),
        ..Default::default()
    }
    .timed(elapsed);
    add_proto_drops(&mut summary, proto);
    add_frame_drops(&mut summary, frames);
    summary
}

pub(crate) fn sender_failure(e: SenderError) -> Failure {
    match e {
        SenderError::Verdict { verdict: stripecat_proto::wire::Verdict::DigestMismatch, .. } => {
            Failure::new(ExitCode::Integrity, format!("integrity failure: {e}"))
                .hint("the data changed on the way; run again")
        }
        SenderError::Rejected(_) => {
            Failure::new(ExitCode::Transfer, e.to_string()).hint("the receiver is busy with another transfer")
        }
        SenderError::GaveUp { .. } => Failure::new(ExitCode::Transfer, format!("transfer failed: {e}"))
            .hint("is the receiver still running and reachable on every member?"),
        _ => Failure::new(ExitCode::Transfer, format!("transfer failed: {e}"))
            .hint("see the receiver's message for its side"),
    }
}

/// `stripecat recv` over DPDK.
pub fn recv(args: &RecvArgs, verbose: u8) -> Result<(), Failure> {
    let signals = Signals::install();
    let (output, _name) = open_output(&args.file)?;
    let chunk = chunk_for_mtu(args.plane.mtu);
    let window_chunks = (WINDOW_BYTES / chunk as u64) as u32;
    let plane = open_plane(&args.dpdk, &args.plane, verbose, window_chunks + WRITER_QUEUE as u32, args.kernel.impair)?;
    let Plane { eal, mut members, rx_pool, hdr_pool, workers } = plane;
    let config_paths: u16 = 256;
    let config = ReceiverConfig {
        paths: config_paths,
        max_chunk_size: chunk.max(9000),
        window: WINDOW_BYTES,
        // Other lanes hand chunks to the reassembler through the inbox while
        // lane 0 may be descheduled: room for the whole window, which bounds
        // what can be in flight anyway (so no extra memory is promised).
        inbox_chunks: window_chunks as usize,
        ..Default::default()
    };
    let mut receiver = stripecat_proto::Receiver::new(config);
    let out = Arc::new(ArrayQueue::new(WRITER_QUEUE));
    let writer = Arc::new(WriterShared::default());
    let writer_thread = io::spawn_writer(&eal, output, out.clone(), writer.clone())
        .map_err(|e| Failure::new(ExitCode::Other, format!("cannot start the writer thread: {e}")))?;
    let clock = TscClock::new(eal.tsc_hz());
    let layout = Layout { lanes: workers.len().max(1) as u16, queues: args.plane.queues };
    let lane_shared = LaneShared::new(layout.lanes);
    let mut lanes = Vec::new();
    for k in 1..layout.lanes {
        let views = split_members_for_lane(&mut members, layout, k, args.kernel.impair, &rx_pool);
        let paths = (0..config_paths)
            .filter(|&p| layout.receiver_owner(p) == k)
            .map(|p| receiver.detach_path(p as usize))
            .collect();
        lanes.push(RecvLane::new(
            k,
            layout,
            views,
            paths,
            receiver.shared().clone(),
            lane_shared.clone(),
            hdr_pool.clone(),
            rx_pool.clone(),
            args.plane.local_ip.unwrap_or(DEFAULT_RECEIVER_IP),
            args.plane.udp_port,
            clock,
            args.plane.busy_poll,
        ));
    }
    let mut lp = RecvLoop::new(
        members,
        receiver,
        out,
        writer.clone(),
        hdr_pool,
        rx_pool.clone(),
        args.plane.local_ip.unwrap_or(DEFAULT_RECEIVER_IP),
        args.plane.udp_port,
        clock,
        args.plane.busy_poll,
        Progress::new(None, args.report.quiet),
    );
    lp.lanes = (layout.lanes > 1).then(|| (layout, lane_shared.clone()));
    let check = signals.checker();
    let started = std::time::Instant::now();
    let jobs = launch_lanes(&eal, lanes, &lane_shared, RecvLane::run)?;
    let lane0 = run_on_lcore(&eal, &workers, (lp, check), |(lp, check)| lp.run(check)).map(|((lp, _), end)| (lp, end));
    let (lanes, lane_err) = join_lanes(&lane_shared, jobs);
    let (mut lp, end) = lane0?;
    let mut views = Vec::new();
    for lane in lanes {
        for p in lane.paths {
            lp.receiver.attach_path(p);
        }
        lp.receiver.merge_drops(&lane.drops);
        lp.joined += lane.joined;
        views.push((lane.members, lane.counters));
    }
    take_back_lanes(&mut lp.members, &mut lp.counters, &lane_shared, views);
    if let Some(e) = lane_err {
        return Err(Failure::new(ExitCode::Other, e));
    }
    let elapsed = lp.completed_at.map_or_else(|| started.elapsed(), |t| t.duration_since(started));
    // Let the writer finish what it has, then stop it.
    writer.closing.store(true, Ordering::Release);
    let _ = writer_thread.join();
    lp.progress.finish();

    let written = writer.written.load(Ordering::Acquire);
    let mut summary = recv_summary(&lp, written, "dpdk", elapsed);
    let write_error = writer.error.lock().unwrap().clone();
    let result = match end {
        RecvEnd::Interrupted => {
            summary.error = Some(format!("interrupted after writing {written} bytes"));
            finish_report(&summary, args.report.quiet, &args.report.stats_json)?;
            drop(lp);
            drop(rx_pool);
            drop(eal);
            std::process::exit(signals.exit_code());
        }
        RecvEnd::Output(e) => Err(Failure::new(ExitCode::Transfer, format!("{e}; {written} bytes were written"))
            .hint("free space on the output device or keep the reading end of the pipe open; the sender was told")),
        RecvEnd::Protocol => match (lp.receiver.state(), write_error) {
            (_, Some(e)) => Err(Failure::new(ExitCode::Transfer, format!("{e}; {written} bytes were written"))),
            (ReceiverState::Complete, None) => {
                summary.verified = Some(true);
                Ok(())
            }
            (ReceiverState::Failed(e), None) => Err(receiver_failure(e, written)),
            (other, None) => Err(Failure::new(ExitCode::Other, format!("receiver stopped in state {other:?}"))),
        },
    };
    if let Err(f) = &result {
        summary.error = Some(f.message.clone());
    }
    finish_report(&summary, args.report.quiet, &args.report.stats_json)?;
    drop(lp);
    drop(rx_pool);
    drop(eal);
    result
}

pub(crate) fn receiver_failure(e: ReceiverError, written: u64) -> Failure {
    match e {
        ReceiverError::Verdict { verdict: stripecat_proto::wire::Verdict::DigestMismatch, .. } => {
            Failure::new(ExitCode::Integrity, format!("integrity failure: {e}; {written} bytes were written"))
                .hint("the output does not match what was sent; do not trust it")
        }
        _ => Failure::new(ExitCode::Transfer, format!("transfer failed: {e}; {written} bytes were written in order"))
            .hint("the sender stopped or became unreachable"),
    }
}
