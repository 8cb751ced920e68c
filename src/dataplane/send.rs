//! `stripecat send` over DPDK, top to bottom: open the input, open the plane, make
//! the session and split it into lanes, run them, report.

use crate::limits::LimitReport;
use crate::stats_lines::StatsLines;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam::queue::ArrayQueue;
use stripecat_proto::wire::DigestAlgorithm;
use stripecat_proto::{PathProbe, SenderConfig, SenderError, SenderState};

use super::addr::MemberNet;
use super::clock::TscClock;
use super::io::{self, ReaderShared};
use super::lanes::{Layout, Side};
use super::neighbor::Neighbors;
use super::plane::{Plane, PoolPlan, PortPlan, FRESH_CHUNKS, INTAKE_CHUNKS, MIN_PTO};
use super::send_role::{SendControl, SendEnd, SendRole, SendUnit};
use super::signals::Signals;
use super::summary::{finish_report, send_summary, sender_failure};
use super::{any_v6, base_probe_mtu, chunk_for, ends, mtu_for_chunk, random_u64, sealed_chunk_for, tag_len};
use crate::exit::{ExitCode, Failure};
use crate::report::{Progress, ReportPlan};
use crate::wire::Mac;

/// How long the sender tries ARP before giving up.
const ARP_TIMEOUT_US: u64 = 10_000_000;
/// How long a member path may take to carry a full-size probe before it is reported
/// (and left out of the transfer).
const PATH_PROBE_TIMEOUT: stripecat_proto::Duration = stripecat_proto::Duration::from_secs(3);
/// Interval between path-MTU probe pairs.
const PATH_PROBE_INTERVAL: stripecat_proto::Duration = stripecat_proto::Duration::from_millis(100);

/// What `send` is asked to do.
pub struct SendPlan {
    pub ports: PortPlan,
    /// Every member's addressing (this end, the receiver, gateway, VLAN), in `--port` order.
    pub nets: Vec<MemberNet>,
    /// Skip ARP: the receiver's MAC on every member.
    pub peer_mac: Option<Mac>,
    pub udp_port: u16,
    pub busy_poll: bool,
    pub digest: DigestAlgorithm,
    /// Every path's congestion controller.
    pub congestion: stripecat_proto::CongestionConfig,
    /// `--rate`: the session's payload cap, bytes per second.
    pub rate_limit: Option<u64>,
    /// All-zero chunks as ZEROS records (off with `--no-sparse`).
    pub sparse: bool,
    /// `--resume`: send only what the receiver's output lacks, once its prefix matched.
    pub resume: bool,
    /// FILE, or stdin when `None`.
    pub input: Option<PathBuf>,
    /// Pre-shared key: authenticate and encrypt the session.
    pub key: Option<stripecat_proto::Psk>,
    pub report: ReportPlan,
    pub verbose: u8,
}

/// Sends the input; `Ok` once the receiver confirmed every byte and the digest.
pub fn run(plan: &SendPlan) -> Result<(), Failure> {
    let signals = Signals::install();
    let (input, total) = ends::input(plan.input.as_deref())?;
    let lines = StatsLines::open(&plan.report, "send")?;
    let p = &plan.ports;
    let keyed = plan.key.is_some();
    let v6 = any_v6(&plan.nets);
    let chunk = sealed_chunk_for(p.mtu, v6, keyed);
    let queues = p.ports.len() as u32 * p.queues as u32;
    let pools = PoolPlan::sender(queues, p.mtu, chunk).for_stream(total, chunk).with_key(keyed);
    let mut plane = Plane::open(p, pools, plan.verbose, &signals)?;
    let data_pool = plane.pools.data.clone().expect("a sender's plane has data buffers");

    let paths = p.ports.len() as u16 * p.queues;
    let config = SenderConfig {
        paths,
        chunk_size: chunk,
        digest: plan.digest,
        total_len: total,
        fresh_queue_chunks: FRESH_CHUNKS,
        congestion: plan.congestion,
        min_pto: MIN_PTO,
        rate_limit: plan.rate_limit,
        // The receiver may run smaller frames: it settles the chunk size, and the reader
        // cuts chunks only then.
        settle_chunk: true,
        // Every path proves it carries full frames before it carries data. In a keyed
        // session the first probes may reach the receiver before the CONFIRM commits
        // it (they travel on other members): it drops them, and the next pair, one
        // interval later, is answered.
        path_probe: Some(PathProbe {
            base_len: chunk_for(base_probe_mtu(p.mtu), v6) + stripecat_proto::wire::HEADER_LEN as u16,
            timeout: PATH_PROBE_TIMEOUT,
            interval: PATH_PROBE_INTERVAL,
        }),
        key: plan.key.clone(),
        zeros: plan.sparse,
        resume: plan.resume,
        ..Default::default()
    };
    let clock = TscClock::new(plane.eal.tsc_hz());
    let mut sender = stripecat_proto::Sender::new(config, random_u64(), clock.now());
    let intake = Arc::new(ArrayQueue::new(INTAKE_CHUNKS));
    let reader = Arc::new(ReaderShared::default());
    let reader_thread = io::spawn_reader(
        &plane.eal,
        Box::new(input),
        data_pool,
        chunk as usize,
        plan.digest,
        intake.clone(),
        reader.clone(),
    )
    .map_err(|e| Failure::new(ExitCode::Other, format!("cannot start the reader thread: {e}")))?;

    let layout = Layout { lanes: plane.workers.len().max(1) as u16, queues: p.queues, paths, side: Side::Send };
    let (mut ios, shared) = plane.lane_ios(layout, &plan.nets, clock, plan.busy_poll);
    // Path-MTU probes are padded to a whole frame: they come from the receive pool,
    // whose buffers hold one (the header pool's may hold headers only).
    for io in &mut ios {
        io.probe_pool = Some(plane.pools.rx.clone());
    }
    let role = |unit, control| SendRole::new(unit, control, p.queues, plan.udp_port, paths);
    let mut ios = ios.into_iter();
    let io0 = ios.next().expect("lane 0");
    // Lanes 1.. take their paths off the session first; lane 0 then holds it.
    let others: Vec<_> = ios
        .map(|io| {
            let k = io.lane;
            (io, role(SendUnit::Paths(sender.split_lane(|path| layout.owner_of_path(path) == k)), None))
        })
        .collect();
    let neighbors = Neighbors::for_members(&plan.nets, plan.peer_mac);
    let progress = Progress::new(total, plan.report.quiet).with_rate_cap(plan.rate_limit).with_lines(lines);
    let checker = Box::new(signals.checker());
    let control = SendControl::new(neighbors, intake, reader.clone(), ARP_TIMEOUT_US, progress, checker);
    let mut lanes = vec![(io0, role(SendUnit::Session(sender), Some(control)))];
    lanes.extend(others);

    let started = std::time::Instant::now();
    let (role0, end, frames) = plane.run_to_end(lanes, &shared)?;
    let elapsed = started.elapsed();
    let SendRole { unit: SendUnit::Session(sender), control: Some(mut control), .. } = role0 else {
        unreachable!("lane 0 holds the session")
    };
    let receiver_told =
        matches!(sender.state(), SenderState::Done | SenderState::Failed(SenderError::ResumeMismatch { .. }));
    if matches!(end, SendEnd::Protocol) && receiver_told {
        // Leave after the receiver: it lingers briefly to answer a lost FIN-ACK,
        // and a memif peer that disconnects while the other side still polls can
        // crash it (DPDK 22.11's memif unmaps its rings from the control thread
        // under a running burst). We no longer poll, so its departure is safe for
        // us; bounded in case it never leaves. After a RESET that says why (a resume
        // prefix that differs) likewise: leaving at once tears the rings down under
        // the RESET, and the receiver would only time out.
        plane.wait_for_peer_exit(Duration::from_secs(2));
    }
    control.stop_reader(reader_thread);

    let mut summary = send_summary(&sender, p.queues, &plane.members, &frames, "dpdk", elapsed);
    summary.rate_cap_bps = plan.rate_limit.map(|b| b as f64 * 8.0);
    summary.limited_by = LimitReport::of(&control.limits.times(), "send", &input_name(plan.input.as_deref()));
    // The chunk size the handshake settled (the reader was given it then).
    let settled = reader.chunk.load(Ordering::Acquire);
    if settled > 0 {
        summary.set_mtu(mtu_for_chunk(settled as u16 + tag_len(keyed), v6), p.mtu);
    }
    let result = match end {
        SendEnd::Interrupted | SendEnd::Quit => Err(signals.failure()),
        SendEnd::ArpFailed(failed) => Err(neighbor_failure(&failed)),
        SendEnd::Input(e) => Err(Failure::new(ExitCode::Other, e)),
        SendEnd::Protocol => match sender.state() {
            SenderState::Done => {
                summary.verified = Some(true);
                Ok(())
            }
            SenderState::Failed(SenderError::PathMtu { full_len, base_len, base_ok }) => {
                let names: Vec<&str> = plane.members.iter().map(|m| m.name.as_str()).collect();
                let who = format!("member{} {}", if names.len() > 1 { "s" } else { "" }, names.join(", "));
                let (what, hint) = super::send_role::mtu_failure_text(&who, v6, full_len, base_len, base_ok);
                Err(Failure::new(ExitCode::Transfer, what).hint(hint))
            }
            SenderState::Failed(e) => Err(sender_failure(e)),
            other => Err(Failure::new(ExitCode::Other, format!("sender stopped in state {other:?}"))),
        },
    };
    match &result {
        Err(f) if f.is_silent() => summary.error = Some("interrupted".into()),
        Err(f) => summary.error = Some(f.message.clone()),
        Ok(()) => {}
    }
    finish_report(&summary, &plan.report)?;
    // The session's buffers go back to their pools before the plane tears down.
    drop(sender);
    drop(plane);
    result
}

/// The input as the verdict names it: the file, or stdin.
pub fn input_name(input: Option<&std::path::Path>) -> String {
    input.map_or_else(|| "stdin".to_string(), |p| p.display().to_string())
}

/// The failure of neighbour resolution: which member asked for which address, and
/// what to check (a gateway that does not answer is a wrong `--gateway`).
fn neighbor_failure(failed: &[(String, std::net::IpAddr, bool)]) -> Failure {
    let what: Vec<String> = failed
        .iter()
        .map(|(name, ip, gw)| {
            let how = if ip.is_ipv6() { "neighbour discovery" } else { "ARP" };
            let who = if *gw { "gateway" } else { "peer" };
            format!("{who} {ip} did not answer {how} on member {name}")
        })
        .collect();
    let hint = if failed.iter().any(|f| f.2) {
        "check --gateway for that member: it must be a router on the member's subnet (and VLAN)"
    } else {
        "start the receiver first, check --peer-ip and --vlan for that member, or give --peer-mac"
    };
    Failure::new(ExitCode::Transfer, what.join("; ")).hint(hint)
}
