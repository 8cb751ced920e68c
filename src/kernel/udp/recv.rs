//! The `--udp` receiver: feeds datagrams to the core, writes what it delivers, answers each path.

use crate::limits::{Limit, LimitMeter, LimitReport};
use crate::stats_lines::receiver_counters;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant as StdInstant;

use stripecat_proto::wire::{
    Check, DigestAlgorithm, Frame, Packet, PacketType, Repr, ResetReason, Verdict, HEADER_LEN,
};
use stripecat_proto::{
    DropReason, Incoming, Piece, Receiver, ReceiverConfig, ReceiverError, ReceiverState, SharedBytes,
};

use super::{
    digest_report, offload_wanted, sock_err, udp_options, wait, Clock, Outgoing, BURST, MAX_CHUNK, MAX_DATAGRAM,
};
use crate::impair::Impairer;
use crate::kernel::addr::{self, Endpoint, SocketOptions};
use crate::kernel::error::KernelError;
use crate::kernel::io::LazyOutput;
use crate::kernel::options::Options;
use crate::kernel::sparse::PieceWriter;
use crate::kernel::{sys, Attempt, Report};
use crate::report::{PathReport, Progress};

/// How long a finished receiver keeps answering a retransmitted FIN (its
/// FIN-ACK may have been lost) before it exits.
const LINGER: std::time::Duration = std::time::Duration::from_millis(300);

/// Most delivered chunks gathered into one write (the kernel's IOV_MAX is 1024).
const DELIVER_BATCH: usize = 256;

/// What the receiving end chooses for itself: its key and how zero runs reach the output.
#[derive(Debug, Clone)]
pub struct RecvChoice {
    /// The pre-shared key: serve only senders that hold it.
    pub key: Option<stripecat_proto::Psk>,
    /// Zero runs as holes in a regular output file (`--no-sparse`: zeros written).
    pub sparse: bool,
    /// `--resume`: what the output holds (hashed before listening).
    pub resume: Option<stripecat_proto::digest::PrefixDigest>,
    /// `--listen-timeout`: how long a sender may take to start its session.
    pub listen_timeout: Option<std::time::Duration>,
}

/// The kernel error of a failed session; `output` names the output and `held` is what
/// it held before (`--resume`).
fn receiver_error(e: ReceiverError, output: &str, held: u64) -> KernelError {
    match e {
        ReceiverError::PeerReset { reason: ResetReason::ResumeMismatch, .. } => {
            KernelError::Resume(crate::resume::mismatch(held, None, Some(output)))
        }
        ReceiverError::ResumeRequired { held } => {
            KernelError::Resume(crate::resume::required(Some(held), Some(output)))
        }
        ReceiverError::Verdict { verdict: Verdict::DigestMismatch, .. } => {
            KernelError::DigestMismatch { sent: "the sender's".into(), received: "ours".into() }
        }
        ReceiverError::IdleTimeout { .. } => KernelError::Timeout(e.to_string()),
        ReceiverError::PeerReset { .. } => KernelError::PeerClosed { detail: format!(": {e}") },
        ReceiverError::Auth { error, refused: 0 } => KernelError::Auth(error),
        ReceiverError::Auth { .. } => KernelError::AuthRefused(e.to_string()),
        ReceiverError::NoSender { .. } => KernelError::NoSender(e.to_string()),
        _ => KernelError::Protocol(e.to_string()),
    }
}

/// `recv --udp --listen [ADDR:]PORT`.
pub fn recv(
    k: &Options,
    ep: &Endpoint,
    opts: &SocketOptions,
    output: &mut LazyOutput<'_>,
    choice: RecvChoice,
    progress: &mut Progress,
    started: &mut StdInstant,
) -> Attempt {
    let RecvChoice { key, sparse, resume, listen_timeout } = choice;
    let held = resume.as_ref().map_or(0, |p| p.len());
    let bare = |e| Box::new((e, Report::default()));
    let Endpoint::Listen(listen) = ep else {
        return Err(bare(KernelError::Usage(
            "with --udp the receiver listens and the sender connects: recv --udp --listen PORT".into(),
        )));
    };
    if !k.bind.is_empty() {
        return Err(bare(KernelError::Usage("the --udp receiver takes --listen [ADDR:]PORT, not --bind".into())));
    }
    let sock = addr::udp_bind(*listen, &udp_options(opts)).map_err(bare)?;
    // GRO: fewer, larger receives. Without it (old kernels) every datagram is its own.
    if offload_wanted() {
        let _ = sys::set_udp_gro(&sock, true);
    }
    sock.set_nonblocking(true).map_err(|e| bare(sock_err(e)))?;
    let socks = [sock];
    let paths = k.paths.unwrap_or(16);
    let config = ReceiverConfig { paths, max_chunk_size: MAX_CHUNK, key, resume, ..ReceiverConfig::default() };
    // ZEROS records are taken either way: `--no-sparse` writes them out as zeros.
    let clock = Clock(StdInstant::now());
    let mut receiver: Receiver<SharedBytes> = Receiver::new(config);
    if let Some(d) = listen_timeout {
        receiver.listen_for(clock.now(), stripecat_proto::Duration::from_micros(d.as_micros() as u64));
    }
    let mut refusals = crate::kernel::error::RefusalReport::default();
    let mut impairer: Option<Impairer<Outgoing>> = k.impair.filter(|i| i.is_active()).map(Impairer::new);
    // Where each path's packets come from: its ACKs go back there.
    let mut path_addr: Vec<Option<SocketAddr>> = vec![None; paths as usize];
    let mut last_from: Option<SocketAddr> = None;
    // The digest the sender announced; reported once the core verified it.
    let mut fin_digest: Option<(DigestAlgorithm, [u8; 32])> = None;
    let mut delivered = 0u64;
    let mut rbuf = vec![0u8; MAX_DATAGRAM];
    let mut done_at: Option<StdInstant> = None;
    let mut finish_elapsed = None;
    let mut delivered_now: Vec<Piece<SharedBytes>> = Vec::with_capacity(DELIVER_BATCH);
    // How zero runs reach the output, decided once it is open.
    let mut pieces: Option<PieceWriter> = None;
    let mut last_rx = StdInstant::now();
    let mut parsed: Vec<(usize, usize, Result<Incoming, DropReason>)> = Vec::with_capacity(64);

    // What the transfer waits on (the summary's verdict): writing the output,
    // nothing arriving (the sender), or nothing (the CPU).
    let mut limits = LimitMeter::default();

    let result: Result<(), KernelError> = 'run: loop {
        let now = clock.now();
        let receiving = receiver.state() == ReceiverState::Receiving;
        if receiving {
            limits.observe(now.total_micros(), Limit::Cpu);
        } else {
            limits.pause(now.total_micros());
        }
        let mut busy = false;
        for _ in 0..BURST {
            match socks[0].recv_from(&mut rbuf) {
                Ok((n, from)) => {
                    busy = true;
                    last_rx = StdInstant::now();
                    if receiver.state() == ReceiverState::Listening {
                        *started = StdInstant::now();
                    }
                    last_from = Some(from);
                    // With GRO one receive may hold several datagrams back to
                    // back; each header's length field says where the next starts.
                    // Each is checked (sealed ones opened in place) before the
                    // buffer becomes the shared handle the payloads point into.
                    parsed.clear();
                    let mut off = 0;
                    while off < n {
                        // A path-MTU probe (PING) is padded with zeros to a full datagram:
                        // the padding is skipped up to the next header (its magic is not zero).
                        let mut padded = false;
                        let end = match Packet::new_checked(&rbuf[off..n]) {
                            Ok(p) => {
                                if let Some(slot) = path_addr.get_mut(p.path_id() as usize) {
                                    *slot = Some(from);
                                }
                                padded = p.packet_type_raw() == PacketType::Ping as u8;
                                off + HEADER_LEN + p.length() as usize
                            }
                            // Unparseable: hand the rest in as one datagram, to be counted and dropped.
                            Err(_) => n,
                        };
                        let mut next = end;
                        while padded && next < n && rbuf[next] == 0 {
                            next += 1;
                        }
                        let inc = Incoming::open(&mut rbuf[off..end], Check::Crc32c, receiver.shared().keyring());
                        if let Ok(Incoming { repr: Repr { frame: Frame::Fin(f), .. }, .. }) = &inc {
                            fin_digest = Some((f.algorithm, f.digest));
                        }
                        parsed.push((off, end, inc));
                        off = next;
                    }
                    let whole = SharedBytes::new(Arc::from(&rbuf[..n]));
                    for (off, end, inc) in parsed.drain(..) {
                        match inc {
                            Ok(inc) => {
                                let _ = receiver.handle_incoming(now, &inc, whole.slice(off..end));
                            }
                            Err(reason) => receiver.count_drop(reason),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if receiver.poll_timeout().is_some_and(|t| t <= now) {
            receiver.handle_timeout(now);
        }
        refusals.observe(receiver.refused());
        // The output is opened once a session is served (for a keyed receiver: once
        // the sender's first sealed packet verified), never for one that did not.
        if receiver.session_id().is_some() && !output.is_open() {
            if let Err(e) = output.get() {
                receiver.abort(ResetReason::OutputError);
                while let Some(t) = receiver.poll_transmit(now) {
                    if let (Some(to), Some(v)) = (
                        path_addr.get(t.path as usize).copied().flatten().or(last_from),
                        t.to_vec_keyed(receiver.shared().keyring()),
                    ) {
                        let _ = socks[0].send_to(&v, to);
                    }
                }
                break 'run Err(e);
            }
        }
        // Delivered chunks go out in one gathered write per iteration: a
        // write per 8 KiB chunk would be most of the receiver's system calls.
        delivered_now.clear();
        while delivered_now.len() < DELIVER_BATCH {
            let Some(chunk) = receiver.poll_deliver() else { break };
            delivered_now.push(chunk);
        }
        if !delivered_now.is_empty() {
            busy = true;
            let bytes: u64 = delivered_now.iter().map(|c| c.len() as u64).sum();
            limits.note(receiving, clock.now().total_micros(), Limit::Output);
            let written = match output.get() {
                Ok(out) => {
                    let w = *pieces.get_or_insert_with(|| PieceWriter::new(&mut out.file, sparse));
                    w.write(&mut out.file, &delivered_now).map(|_| ()).map_err(|(e, _)| e)
                }
                Err(e) => Err(io::Error::other(e.to_string())),
            };
            limits.note(receiving, clock.now().total_micros(), Limit::Cpu);
            if let Err(e) = written {
                // Tell the sender at once (a RESET), rather than leave it to give up.
                receiver.abort(ResetReason::OutputError);
                while let Some(t) = receiver.poll_transmit(now) {
                    if let Some(to) = path_addr.get(t.path as usize).copied().flatten().or(last_from) {
                        if let Some(v) = t.to_vec_keyed(receiver.shared().keyring()) {
                            let _ = socks[0].send_to(&v, to);
                        }
                    }
                }
                break 'run Err(KernelError::Output { what: output.name(), source: e });
            }
            delivered += bytes;
            // The FIN verdict then means "written", not merely "delivered".
            receiver.set_written(delivered);
        }
        let mut sent = 0;
        while let Some(t) = receiver.poll_transmit(now) {
            let to = path_addr.get(t.path as usize).copied().flatten().or(last_from);
            if let Some(to) = to {
                let Some(bytes) = t.to_vec_keyed(receiver.shared().keyring()) else { continue };
                let out = Outgoing { path: 0, bytes };
                match impairer.as_mut() {
                    Some(imp) => imp.push(out, |o| {
                        let _ = socks[0].send_to(&o.bytes, to);
                    }),
                    None => {
                        let _ = socks[0].send_to(&out.bytes, to);
                    }
                }
            }
            sent += 1;
        }
        busy |= sent > 0;
        if let (Some(imp), Some(to)) = (impairer.as_mut(), last_from) {
            if sent == 0 && imp.has_held() {
                imp.flush(|o| {
                    let _ = socks[0].send_to(&o.bytes, to);
                });
            }
        }
        progress.update(delivered, "");
        let live = receiver.state() == ReceiverState::Receiving;
        if let Some(l) = progress.lines_due().filter(|_| live) {
            let port = |id: u16| path_addr.get(id as usize).copied().flatten().map(|a| a.to_string());
            l.write(receiver_counters(&receiver, |id| port(id).unwrap_or_default(), limits.times()));
        }
        match receiver.state() {
            ReceiverState::Complete => {
                let t = *done_at.get_or_insert_with(|| {
                    finish_elapsed = Some(started.elapsed());
                    StdInstant::now()
                });
                // Linger so a retransmitted FIN (our FIN-ACK lost) is answered,
                // unless the sender said it has the verdict.
                if receiver.peer_closed() || (t.elapsed() > LINGER && last_rx.elapsed() > LINGER / 2) {
                    break Ok(());
                }
            }
            ReceiverState::Failed(e) => break Err(receiver_error(e, &output.name(), held)),
            _ => {}
        }
        if !busy {
            limits.note(receiving, clock.now().total_micros(), Limit::Peer);
            wait(&socks, &clock, receiver.poll_timeout(), 2_000);
        }
    };
    output.flush();
    let stats = receiver.stats();
    let mut rep = Report {
        bytes: delivered,
        digest: fin_digest.filter(|_| result.is_ok()).and_then(|(a, d)| digest_report(a, &d)),
        verified: Some(result.is_ok()),
        elapsed: finish_elapsed,
        authenticated: receiver.keyed(),
        limited_by: LimitReport::of(&limits.times(), "recv", &output.name()),
        resumed_from: receiver.resumed_from(),
        ..Default::default()
    };
    crate::report::add_drops(&mut rep.drops, &stats.drops);
    for (i, a) in path_addr.iter().enumerate() {
        if let Some(a) = a {
            let st = receiver.path(i).stats();
            rep.paths.push(PathReport {
                id: i as u16,
                port: a.to_string(),
                packets: st.packets,
                bytes: st.bytes,
                health: "up".into(),
                ..Default::default()
            });
        }
    }
    match result {
        Ok(()) => Ok(rep),
        Err(e) => {
            rep.verified = None;
            Err(Box::new((e, rep)))
        }
    }
}
