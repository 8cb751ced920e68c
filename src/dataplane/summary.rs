//! The final report of a data-plane transfer (summary paragraph and `--stats-json`)
//! and the one-line failure a session ends with.

use std::time::Duration;

use stripecat_proto::{Receiver, ReceiverError, Sender, SenderError};

use super::members::{FrameCounters, Member};
use super::payload::MbufPayload;
use super::send_role::path_slot;
use crate::exit::{ExitCode, Failure};
use crate::report::{PathReport, PortReport, ReportPlan, Summary};

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
                tx_errors: s.tx_errors + m.tx_dropped(),
                packet_check: m.check.name(),
                packet_check_reason: m.check_reason,
                rx_wait: if m.rx_interrupts { "interrupt" } else { "poll" },
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

fn add_frame_drops(summary: &mut Summary, c: &FrameCounters) {
    for (k, v) in &c.drops {
        *summary.drops.entry((*k).to_string()).or_default() += v;
    }
}

/// Prints the summary paragraph (unless quiet) and writes `--stats-json`.
pub fn finish_report(summary: &Summary, report: &ReportPlan) -> Result<(), Failure> {
    if !report.quiet {
        eprintln!("{}", summary.paragraph());
    }
    summary.write_report(report)
}

/// The sender's final report.
pub fn send_summary(
    sender: &Sender<MbufPayload>,
    queues: u16,
    members: &[Member],
    frames: &FrameCounters,
    transport: &str,
    elapsed: Duration,
) -> Summary {
    let st = sender.stats();
    let mut summary = base_summary("send", transport, sender.shared().acked(), members, frames, &st.drops, elapsed);
    summary.resends = st.paths.resends;
    summary.authenticated = sender.keyed();
    summary.resumed_from = sender.resumed_from();
    summary.resume_declined = sender.resume_declined();
    summary.digest = Some(sender.digest_algorithm().name().into());
    summary.paths = (0..sender.path_count())
        .map(|i| {
            let (mi, _) = path_slot(i as u16, queues);
            PathReport::of_sender(sender.path(i), members.get(mi).map(|m| m.name.clone()).unwrap_or_default())
        })
        .collect();
    summary
}

/// The receiver's final report.
pub fn recv_summary(
    receiver: &Receiver<MbufPayload>,
    members: &[Member],
    frames: &FrameCounters,
    written: u64,
    transport: &str,
    elapsed: Duration,
) -> Summary {
    let mut s = base_summary("recv", transport, written, members, frames, &receiver.stats().drops, elapsed);
    s.authenticated = receiver.keyed();
    s.resumed_from = receiver.resumed_from();
    s
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
    crate::report::add_drops(&mut summary.drops, proto);
    add_frame_drops(&mut summary, frames);
    summary.rx_interrupt_sleeps = frames.irq_sleeps;
    summary.rx_interrupt_wakes = frames.irq_wakes;
    summary
}

/// What a failed sending session tells the user, and its exit code.
pub fn sender_failure(e: SenderError) -> Failure {
    match e {
        SenderError::Verdict { verdict: stripecat_proto::wire::Verdict::DigestMismatch, .. } => {
            Failure::new(ExitCode::Integrity, format!("integrity failure: {e}"))
                .hint("the data changed on the way; run again")
        }
        SenderError::Rejected(stripecat_proto::wire::RejectReason::BadChunkSize) => {
            Failure::new(ExitCode::Transfer, e.to_string())
                .hint("the receiver takes smaller frames than this sender sends: give both ends the same --mtu")
        }
        SenderError::Auth(_) => Failure::new(ExitCode::Auth, e.to_string()).hint(crate::kernel::error::AUTH_HINT),
        SenderError::ResumeMismatch { held, input } => crate::resume::mismatch(held, input, None),
        SenderError::ResumeRequired => crate::resume::required(None, None),
        SenderError::Rejected(_) => {
            Failure::new(ExitCode::Transfer, e.to_string()).hint("the receiver is busy with another transfer")
        }
        SenderError::GaveUp { .. } => Failure::new(ExitCode::Transfer, format!("transfer failed: {e}"))
            .hint("is the receiver still running and reachable on every member?"),
        _ => Failure::new(ExitCode::Transfer, format!("transfer failed: {e}"))
            .hint("see the receiver's message for its side"),
    }
}

/// What a failed receiving session tells the user, and its exit code; `output` names
/// the output and `held` is what it held before (`--resume`).
pub fn receiver_failure(e: ReceiverError, written: u64, output: &str, held: u64) -> Failure {
    match e {
        ReceiverError::PeerReset { reason: stripecat_proto::wire::ResetReason::ResumeMismatch, .. } => {
            crate::resume::mismatch(held, None, Some(output))
        }
        ReceiverError::ResumeRequired { held } => crate::resume::required(Some(held), Some(output)),
        ReceiverError::Verdict { verdict: stripecat_proto::wire::Verdict::DigestMismatch, .. } => {
            Failure::new(ExitCode::Integrity, format!("integrity failure: {e}; {written} bytes were written"))
                .hint("the output does not match what was sent; do not trust it")
        }
        ReceiverError::Auth { .. } => Failure::new(ExitCode::Auth, format!("{e}; the output was not touched"))
            .hint(crate::kernel::error::AUTH_HINT),
        ReceiverError::NoSender { .. } => Failure::new(ExitCode::Transfer, format!("{e}; the output was not touched"))
            .hint(crate::kernel::error::NO_SENDER_HINT),
        _ => Failure::new(ExitCode::Transfer, format!("transfer failed: {e}; {written} bytes were written in order"))
            .hint("the sender stopped or became unreachable"),
    }
}
