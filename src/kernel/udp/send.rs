//! The `--udp` sender: reads the input into chunks, feeds the core, sends its bursts.

use crate::limits::{Limit, LimitMeter, LimitReport};
use crate::stats_lines::sender_counters;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Instant as StdInstant;

use stripecat_proto::crypto::TAG_LEN;
use stripecat_proto::wire::{DigestAlgorithm, Frame, Verdict, HEADER_LEN};
use stripecat_proto::{Sender, SenderConfig, SenderError, SenderState, SharedBytes, StreamDigest, Transmit};

use super::batch::{send_batch, send_gso};
use super::{
    digest_report, offload_wanted, sock_err, udp_options, wait, Clock, Outgoing, BURST, MAX_CHUNK, MAX_DATAGRAM,
};
use crate::impair::Impairer;
use crate::kernel::addr::{self, Endpoint, SocketOptions};
use crate::kernel::error::KernelError;
use crate::kernel::io::End;
use crate::kernel::options::Options;
use crate::kernel::{striped, sys, Attempt, Report};
use crate::report::{PathReport, Progress};

/// Chunk size on loopback. Its MTU would allow 64 KiB, but 32 KiB chunks
/// measured slower than 8 KiB here (the core's window and ACK clocking
/// work per chunk), and GSO already cuts the system calls.
const LOOPBACK_CHUNK: u16 = 8192;
/// Chunk size elsewhere: a 1500-byte MTU minus IPv4, UDP and our header.
fn ethernet_chunk(v6: bool) -> u16 {
    let ip = if v6 { 40 } else { 20 };
    (1500 - ip - 8 - HEADER_LEN) as u16
}
/// The local address of path `i`: `--bind` (ADDR or ADDR:PORT) or any.
fn local_addr(k: &Options, i: usize, peer: &SocketAddr) -> Result<SocketAddr, KernelError> {
    match k.bind.get(i) {
        Some(b) => {
            if let Ok(ip) = b.parse::<IpAddr>() {
                return Ok(SocketAddr::new(ip, 0));
            }
            addr::parse_listen(b).map_err(|_| KernelError::BadAddress { spec: b.clone(), want: "ADDR or ADDR:PORT" })
        }
        None => Ok(SocketAddr::new(
            if peer.is_ipv4() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { IpAddr::V6(Ipv6Addr::UNSPECIFIED) },
            0,
        )),
    }
}

/// What the session is asked to use: the FIN's digest (`None`: lengths only) and
/// every path's congestion controller.
#[derive(Debug, Clone)]
pub struct SessionChoice {
    pub digest: Option<DigestAlgorithm>,
    pub congestion: stripecat_proto::CongestionConfig,
    /// `--rate`: the session's payload cap, bytes per second.
    pub rate_limit: Option<u64>,
    /// The pre-shared key: the session is authenticated and encrypted.
    pub key: Option<stripecat_proto::Psk>,
    /// All-zero chunks as ZEROS records (`--no-sparse` turns it off).
    pub sparse: bool,
    /// `--resume`: send only what the receiver's output lacks.
    pub resume: bool,
}

/// `send --udp HOST:PORT`.
pub fn send(
    k: &Options,
    ep: &Endpoint,
    opts: &SocketOptions,
    input: &mut End,
    choice: SessionChoice,
    progress: &mut Progress,
    started: &mut StdInstant,
) -> Attempt {
    let SessionChoice { digest: alg, congestion, rate_limit, key, sparse, resume } = choice;
    // A sealed datagram carries the 16-byte tag after its payload.
    let tag = if key.is_some() { TAG_LEN as u16 } else { 0 };
    let bare = |e| Box::new((e, Report::default()));
    let Endpoint::Connect { addrs, .. } = ep else {
        return Err(bare(KernelError::Usage(
            "with --udp the receiver listens and the sender connects: send --udp HOST:PORT".into(),
        )));
    };
    let peer = addrs[0];
    let n_paths = k.paths.map(usize::from).unwrap_or(k.bind.len().max(1));
    let mut socks = Vec::with_capacity(n_paths);
    for i in 0..n_paths {
        let s = addr::udp_bind(local_addr(k, i, &peer).map_err(bare)?, &udp_options(opts)).map_err(bare)?;
        s.connect(peer).map_err(|e| bare(KernelError::Connect { addr: peer, source: e }))?;
        s.set_nonblocking(true).map_err(|e| bare(sock_err(e)))?;
        socks.push(s);
    }
    let chunk = match k.block_size {
        Some(b) => b.min(MAX_CHUNK as u64) as u16,
        None if peer.ip().is_loopback() => LOOPBACK_CHUNK,
        // A 1500-byte IP packet: IPv6's header is 20 bytes longer; sealed: room for the tag.
        None => ethernet_chunk(peer.is_ipv6()) - tag,
    };
    // GSO: one send carries up to GSO_SEGMENTS same-size datagrams of a path.
    let segment = HEADER_LEN as u16 + chunk + tag;
    let mut gso = offload_wanted() && socks.iter().all(|s| sys::set_udp_segment(s, segment).is_ok());
    let mut gbuf: Vec<u8> = Vec::with_capacity(65_536);
    // `--digest none`: the FIN check compares lengths only.
    let alg = alg.unwrap_or(DigestAlgorithm::None);
    let config = SenderConfig {
        paths: n_paths as u16,
        chunk_size: chunk,
        digest: alg,
        total_len: input.size(),
        congestion,
        // Kernel sockets share CPUs with everything else on the host.
        min_pto: SenderConfig::SHARED_MACHINE_MIN_PTO,
        rate_limit,
        key,
        zeros: sparse,
        resume,
        ..SenderConfig::default()
    };
    let clock = Clock(StdInstant::now());
    *started = StdInstant::now();
    let mut sender: Sender<SharedBytes> = Sender::new(config, striped::session_id(), clock.now());
    let mut impairer: Option<Impairer<Outgoing>> = k.impair.filter(|i| i.is_active()).map(Impairer::new);
    let mut fin_digest: Option<(DigestAlgorithm, [u8; 32])> = None;
    let mut pending: VecDeque<SharedBytes> = VecDeque::new();
    let mut eof = false;
    let mut finished = false;
    let mut written = 0u64;
    let mut rbuf = vec![0u8; MAX_DATAGRAM];
    let mut batch: Vec<Transmit<SharedBytes>> = Vec::with_capacity(BURST);
    let mut headers: Vec<Vec<u8>> = Vec::with_capacity(BURST);
    // Input is read in slabs of 128 chunks; chunks are handles into the slab.
    let slab_chunks = 128usize;
    let mut refused = 0u32;
    let mut input_error: Option<KernelError> = None;
    // What the transfer waits on (the summary's verdict): reading the input,
    // the receiver's credit, the windows, or nothing (the CPU).
    let mut limits = LimitMeter::default();
    let mut credit_blocked = false;
    // `--resume`: the receiver's prefix, read from the input a slab per iteration.
    let mut check: Option<crate::resume::PrefixCheck> = None;
    let mut check_buf: Vec<u8> = Vec::new();

    let result: Result<(), KernelError> = loop {
        let now = clock.now();
        // Counted from the handshake to the verdict; see `Limit` for the states.
        if sender.in_session() {
            limits.observe(now.total_micros(), Limit::Cpu);
        } else {
            limits.pause(now.total_micros());
        }
        let mut busy = false;
        for s in &socks {
            for _ in 0..BURST {
                match s.recv(&mut rbuf) {
                    Ok(n) => {
                        busy = true;
                        let _ = sender.handle_datagram(now, &rbuf[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        refused += 1;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // Other errors (e.g. ICMP errors after the handshake) are loss to the protocol.
                    Err(_) => break,
                }
            }
        }
        // An ICMP port-unreachable during the handshake: nothing listens there, or a
        // receiver that refused us (its reason, held back against forgeries, then stands).
        if refused > 0 && sender.state() == SenderState::Handshake && !sender.accept_refusal() {
            break Err(KernelError::Refused(peer));
        }
        if sender.poll_timeout().is_some_and(|t| t <= now) {
            sender.handle_timeout(now);
        }
        let transferring = sender.in_session();
        if let Some(point) = sender.resume_point() {
            // Resuming: read (and hash) the input's first bytes, as many as the receiver
            // holds, one slab per iteration; the core decides whether they match.
            let c = check.get_or_insert_with(|| crate::resume::PrefixCheck::new(point));
            let slab = chunk as usize * slab_chunks;
            check_buf.resize(slab, 0);
            limits.note(transferring, clock.now().total_micros(), Limit::Input);
            let read = c.read_some(&mut input.file, &mut check_buf, slab);
            limits.note(transferring, clock.now().total_micros(), Limit::Cpu);
            busy = true;
            match read {
                Ok(false) => {}
                Ok(true) => {
                    let (digest, n) = check.take().map(|c| c.finish()).unwrap_or_else(|| (StreamDigest::None, 0));
                    sender.resume_with(digest, n);
                    if let Some(at) = sender.resumed_from() {
                        progress.resumed_at(at);
                    }
                    check_buf = Vec::new();
                }
                Err(e) => {
                    input_error = Some(KernelError::Input { what: input.name.clone(), source: e });
                    sender.abort();
                    finished = true;
                }
            }
        }
        // Resuming, no byte of the input is data before the receiver's answer placed
        // the stream (its prefix read past, or none held).
        let placed = !resume || (sender.state() != SenderState::Handshake && sender.resume_point().is_none());
        // Hand input to the core until it pushes back, reading at most one slab per
        // iteration: a slow pipe must not keep ACKs waiting behind its reads.
        let mut read_once = false;
        while !finished && placed {
            if pending.is_empty() && !eof {
                if read_once {
                    break;
                }
                read_once = true;
                limits.note(transferring, clock.now().total_micros(), Limit::Input);
                let read = read_slab(&mut input.file, chunk as usize * slab_chunks);
                limits.note(transferring, clock.now().total_micros(), Limit::Cpu);
                match read {
                    Ok(slab) if slab.is_empty() => eof = true,
                    Ok(slab) => {
                        let shared = SharedBytes::from(slab);
                        let len = shared.len();
                        let mut off = 0;
                        while off < len {
                            let end = (off + chunk as usize).min(len);
                            pending.push_back(shared.slice(off..end));
                            off = end;
                        }
                    }
                    Err(e) => {
                        // The peer gets a RESET; the error is reported once the core has sent it.
                        input_error = Some(KernelError::Input { what: input.name.clone(), source: e });
                        sender.abort();
                        finished = true;
                        break;
                    }
                }
                if eof && pending.is_empty() {
                    continue;
                }
            }
            match pending.pop_front() {
                Some(c) => {
                    let len = c.len() as u64;
                    match sender.write(c) {
                        Ok(_) => {
                            written += len;
                            busy = true;
                        }
                        Err(stripecat_proto::PushError::NoCredit(c)) => {
                            pending.push_front(c);
                            credit_blocked = true;
                            break;
                        }
                        Err(stripecat_proto::PushError::QueueFull(c)) => {
                            pending.push_front(c);
                            credit_blocked = false;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                None if eof => {
                    sender.finish();
                    finished = true;
                }
                None => break,
            }
        }
        // Send a burst: one sendmmsg per path socket when not impaired.
        let mut sent = 0;
        batch.clear();
        while sent < BURST {
            let Some(t) = sender.poll_transmit(now) else { break };
            if let Frame::Fin(f) = &t.repr.frame {
                // The core hashed the stream as it was written; report its value.
                fin_digest = Some((f.algorithm, f.digest));
            }
            if impairer.is_some() {
                let Some(bytes) = t.to_vec_keyed(sender.shared().keyring()) else { continue };
                transmit(&socks, &mut impairer, Outgoing { path: t.path, bytes });
            } else {
                batch.push(t);
            }
            sent += 1;
        }
        if !batch.is_empty() {
            if gso {
                gso = send_gso(&socks, &batch, segment as usize, &mut gbuf, sender.shared().keyring());
            } else {
                send_batch(&socks, &batch, &mut headers, sender.shared().keyring());
            }
        }
        busy |= sent > 0;
        if let Some(imp) = impairer.as_mut() {
            if sent == 0 && imp.has_held() {
                imp.flush(|o| send_one(&socks, &o));
            }
        }
        progress.update(sender.shared().acked(), "");
        let live = sender.in_session();
        if let Some(l) = progress.lines_due().filter(|_| live) {
            let port = |id: u16| socks.get(id as usize).and_then(|s| s.local_addr().ok()).map(|a| a.to_string());
            l.write(sender_counters(&sender, |id| port(id).unwrap_or_default(), limits.times()));
        }
        if sender.is_finished() {
            break match sender.state() {
                SenderState::Done => Ok(()),
                SenderState::Failed(e) => Err(sender_error(e, peer)),
                _ => Ok(()),
            };
        }
        if !busy {
            // Idle with the input ended: waiting on the receiver's acknowledgements and verdict.
            let on = if finished || (credit_blocked && !pending.is_empty()) { Limit::Peer } else { Limit::Network };
            limits.note(sender.in_session(), clock.now().total_micros(), on);
            wait(&socks, &clock, sender.poll_timeout(), 2_000);
        }
    };
    let result = match input_error {
        Some(e) => Err(e),
        None => result,
    };
    let stats = sender.stats();
    let mut rep = Report {
        bytes: written,
        resends: stats.paths.resends,
        digest: fin_digest.and_then(|(a, d)| digest_report(a, &d)),
        verified: Some(result.is_ok()),
        authenticated: sender.keyed(),
        limited_by: LimitReport::of(&limits.times(), "send", &input.name),
        resumed_from: sender.resumed_from(),
        resume_declined: sender.resume_declined(),
        ..Default::default()
    };
    crate::report::add_drops(&mut rep.drops, &stats.drops);
    if let Some(imp) = &impairer {
        let s = imp.stats();
        rep.drops.insert("impair_loss".into(), s.dropped);
        rep.drops.insert("impair_corrupt".into(), s.corrupted);
    }
    for (i, sock) in socks.iter().enumerate().take(sender.path_count()) {
        let port = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
        rep.paths.push(PathReport::of_sender(sender.path(i), port));
    }
    match result {
        Ok(()) => Ok(rep),
        Err(e) => {
            rep.verified = None;
            Err(Box::new((e, rep)))
        }
    }
}

/// Reads up to `want` bytes (fewer only at end of input).
fn read_slab(r: &mut std::fs::File, want: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0u8; want];
    let mut filled = 0;
    while filled < want {
        match r.read(&mut v[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    v.truncate(filled);
    Ok(v)
}

fn send_one(socks: &[UdpSocket], o: &Outgoing) {
    // A full socket buffer or a transient error is loss to the protocol,
    // which recovers it like any other.
    let _ = socks[o.path as usize % socks.len()].send(&o.bytes);
}

fn transmit(socks: &[UdpSocket], impairer: &mut Option<Impairer<Outgoing>>, out: Outgoing) {
    match impairer {
        Some(imp) => imp.push(out, |o| send_one(socks, &o)),
        None => send_one(socks, &out),
    }
}

fn sender_error(e: SenderError, peer: SocketAddr) -> KernelError {
    match e {
        SenderError::Verdict { verdict: Verdict::DigestMismatch, .. } => {
            KernelError::DigestMismatch { sent: "ours".into(), received: "the receiver's".into() }
        }
        SenderError::GaveUp { .. } => KernelError::Timeout(format!("{e} (peer {peer})")),
        SenderError::PeerReset { .. } => KernelError::PeerClosed { detail: format!(": {e}") },
        SenderError::Auth(a) => KernelError::Auth(a),
        SenderError::ResumeMismatch { held, input } => KernelError::Resume(crate::resume::mismatch(held, input, None)),
        SenderError::ResumeRequired => KernelError::Resume(crate::resume::required(None, None)),
        _ => KernelError::Protocol(e.to_string()),
    }
}
