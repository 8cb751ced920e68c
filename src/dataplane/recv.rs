//! `stripecat recv` over DPDK, top to bottom: open the output, open the plane, make
//! the session and split it into lanes, start the writer, run the lanes, report.

use crate::limits::LimitReport;
use crate::stats_lines::StatsLines;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;
use stripecat_proto::{ReceiverConfig, ReceiverError, ReceiverState};

use super::addr::MemberNet;
use super::clock::TscClock;
use super::io::{self, WriterShared};
use super::lanes::{Layout, Side};
use super::plane::{Plane, PoolPlan, PortPlan, LINK_WAIT, WINDOW_BYTES, WRITER_QUEUE};
use super::recv_role::{RecvControl, RecvEnd, RecvRole, RecvUnit};
use super::signals::Signals;
use super::summary::{finish_report, receiver_failure, recv_summary};
use super::{any_v6, ends, sealed_chunk_for};
use crate::exit::{ExitCode, Failure};
use crate::report::{Progress, ReportPlan};

/// Path ids a receiver serves: a sender may stripe over up to this many.
const MAX_PATHS: u16 = 256;

/// What `recv` is asked to do.
pub struct RecvPlan {
    /// The members and how to open them.
    pub ports: PortPlan,
    /// Every member's addressing (this end's address, prefix, VLAN), in `--port` order.
    pub nets: Vec<MemberNet>,
    /// `--udp-port`: where path 0's datagrams arrive (path `i` at this plus `i`).
    pub udp_port: u16,
    /// `--busy-poll`: spin on an idle lane instead of sleeping or waiting for interrupts.
    pub busy_poll: bool,
    /// FILE, or stdout when `None`.
    pub output: Option<PathBuf>,
    /// Zero runs as holes in a regular output file (off with `--no-sparse`).
    pub sparse: bool,
    /// `--resume`: keep what the output holds, take only the rest.
    pub resume: bool,
    /// Pre-shared key: serve only senders that hold it, encrypted.
    pub key: Option<stripecat_proto::Psk>,
    /// `--listen-timeout`: how long after the members come up a sender may take to
    /// start its session; `None`: as long as we run.
    pub listen_timeout: Option<std::time::Duration>,
    /// What is reported, and where (summary, `--stats-json`, live lines).
    pub report: ReportPlan,
    /// `-v`: EAL's log to stderr, and more.
    pub verbose: u8,
}

/// Receives one stream into the output; `Ok` once it is written and verified.
pub fn run(plan: &RecvPlan) -> Result<(), Failure> {
    let signals = Signals::install();
    let keyed = plan.key.is_some();
    let lines = StatsLines::open(&plan.report, "recv")?;
    // Keyed: the output is created only once a sender authenticated (the writer opens
    // it when the session is served); otherwise at once, so a bad path fails early.
    // `--resume`: what FILE holds is hashed now, before anything listens; FILE is then
    // opened, not truncated, once a session is served (one that resumes or, holding
    // nothing, starts at 0).
    let held = if plan.resume { Some(crate::resume::hash_output(plan.output.as_deref())?) } else { None };
    let output = match (&held, plan.output.clone()) {
        (Some(prefix), Some(path)) => {
            let at = prefix.len();
            io::Output::Deferred(Box::new(move || {
                crate::resume::open_output_at(&path, at).map_err(|e| format!("cannot open {}: {e}", path.display()))
            }))
        }
        _ if keyed => {
            let path = plan.output.clone();
            io::Output::Deferred(Box::new(move || ends::output(path.as_deref()).map_err(|f| f.message)))
        }
        _ => io::Output::Open(ends::output(plan.output.as_deref())?),
    };
    let held_len = held.as_ref().map_or(0, |p| p.len());
    // A memif member is up once its sender connected: a longer --listen-timeout waits
    // that long for it too.
    let ports = PortPlan { link_wait: plan.listen_timeout.map(|d| d.max(LINK_WAIT)), ..plan.ports.clone() };
    let p = &ports;
    let v6 = any_v6(&plan.nets);
    let chunk = sealed_chunk_for(p.mtu, v6, keyed);
    let queues = p.ports.len() as u32 * p.queues as u32;
    let pool_plan = PoolPlan::receiver(queues, p.mtu, chunk).with_key(keyed);
    let mut plane = Plane::open(p, pool_plan, plan.verbose, &signals)?;

    let mut receiver = stripecat_proto::Receiver::new(ReceiverConfig {
        paths: MAX_PATHS,
        // Our frames: a sender with larger ones settles down to them in the handshake.
        max_chunk_size: chunk,
        window: WINDOW_BYTES,
        // Other lanes hand chunks to the reassembler through the inbox while lane 0
        // may be descheduled: room for the whole window, which bounds what can be in
        // flight anyway (so no extra memory is promised).
        inbox_chunks: pool_plan.window_chunks as usize,
        key: plan.key.clone(),
        resume: held,
        ..Default::default()
    });
    let writer_queue = Arc::new(ArrayQueue::new(WRITER_QUEUE));
    let writer = Arc::new(WriterShared::default());
    let writer_thread = io::spawn_writer(&plane.eal, output, writer_queue.clone(), writer.clone(), plan.sparse)
        .map_err(|e| Failure::new(ExitCode::Other, format!("cannot start the writer thread: {e}")))?;

    let clock = TscClock::new(plane.eal.tsc_hz());
    if let Some(d) = plan.listen_timeout {
        receiver.listen_for(clock.now(), stripecat_proto::Duration::from_micros(d.as_micros() as u64));
    }
    let layout =
        Layout { lanes: plane.workers.len().max(1) as u16, queues: p.queues, paths: MAX_PATHS, side: Side::Recv };
    let (ios, shared) = plane.lane_ios(layout, &plan.nets, clock, plan.busy_poll);
    let mut ios = ios.into_iter();
    let io0 = ios.next().expect("lane 0");
    // Lanes 1.. take their paths off the session first; lane 0 then holds it.
    let others: Vec<_> = ios
        .map(|io| {
            let k = io.lane;
            let lane = receiver.split_lane(|path| layout.owner_of_path(path) == k);
            (io, RecvRole::new(RecvUnit::Paths(lane), None, plan.udp_port))
        })
        .collect();
    let progress = Progress::new(None, plan.report.quiet).with_lines(lines);
    let control = RecvControl::new(writer_queue, writer.clone(), progress, Box::new(signals.checker()));
    let lane0 = RecvRole::new(RecvUnit::Session(receiver), Some(control), plan.udp_port);
    let mut lanes = vec![(io0, lane0)];
    lanes.extend(others);

    let started = std::time::Instant::now();
    let (role0, end, frames) = plane.run_to_end(lanes, &shared)?;
    let RecvRole { unit: RecvUnit::Session(receiver), control: Some(mut control), .. } = role0 else {
        unreachable!("lane 0 holds the session")
    };
    let elapsed = control.completed_at.map_or_else(|| started.elapsed(), |t| t.duration_since(started));
    if matches!(
        receiver.state(),
        ReceiverState::Failed(ReceiverError::ResumeRequired { .. } | ReceiverError::Auth { .. })
    ) {
        // We refused the sender and it leaves on our answer: let it go first. A memif
        // peer that disconnects under a running burst can crash the other side (DPDK
        // 22.11 unmaps the rings from its control thread); seen as the refused sender
        // dying by a signal. Bounded; other drivers have no peer to wait for.
        plane.wait_for_peer_exit(std::time::Duration::from_secs(2));
    }
    // Let the writer finish what it has, then stop it.
    writer.closing.store(true, Ordering::Release);
    writer.waker.wake();
    let _ = writer_thread.join();
    control.progress.finish();

    let written = writer.written.load(Ordering::Acquire);
    let mut summary = recv_summary(&receiver, &plane.members, &frames, written, "dpdk", elapsed);
    let out_name = plan.output.as_ref().map_or_else(|| "stdout".to_string(), |p| p.display().to_string());
    summary.limited_by = LimitReport::of(&control.limits.times(), "recv", &out_name);
    if let Some(c) = receiver.chunk_size() {
        summary.set_mtu(super::mtu_for_chunk(c + super::tag_len(keyed), v6), p.mtu);
    }
    let write_error = writer.error.lock().unwrap().clone();
    let result = match end {
        RecvEnd::Interrupted | RecvEnd::Quit => Err(signals.failure()),
        RecvEnd::Output(e) => Err(Failure::new(ExitCode::Transfer, format!("{e}; {written} bytes were written"))
            .hint("free space on the output device or keep the reading end of the pipe open; the sender was told")),
        RecvEnd::Protocol => match (receiver.state(), write_error) {
            (_, Some(e)) => Err(Failure::new(ExitCode::Transfer, format!("{e}; {written} bytes were written"))),
            (ReceiverState::Complete, None) => {
                summary.verified = Some(true);
                Ok(())
            }
            (ReceiverState::Failed(e), None) => Err(receiver_failure(e, written, &out_name, held_len)),
            (other, None) => Err(Failure::new(ExitCode::Other, format!("receiver stopped in state {other:?}"))),
        },
    };
    match &result {
        Err(f) if f.is_silent() => summary.error = Some(format!("interrupted after writing {written} bytes")),
        Err(f) => summary.error = Some(f.message.clone()),
        Ok(()) => {}
    }
    finish_report(&summary, &plan.report)?;
    // The session's buffers go back to their pools before the plane tears down.
    drop(receiver);
    drop(control);
    drop(plane);
    result
}
