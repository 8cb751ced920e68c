//! `--udp`: the striping protocol (`stripecat_proto`) over kernel UDP sockets.
//!
//! The same sans-IO [`Sender`]/[`Receiver`] the DPDK data plane drives, here
//! driven by one thread over ordinary sockets:
//! * the sender opens one socket per path (`--paths N` distinct source ports,
//!   or one per `--bind ADDR`), each connected to the receiver's address, so
//!   the kernel's flow hashing and routing treat the paths as distinct flows;
//! * the receiver listens on one socket and answers each path at the source
//!   address that path's packets come from.
//!
//! Each loop iteration follows the core's documented order: read the clock
//! once, feed received datagrams, run expired timers, hand over input (sender)
//! or take delivered chunks (receiver), then send what `poll_transmit` offers,
//! at most a burst per iteration so ACKs are read between bursts. When there is
//! nothing to do the thread sleeps in `poll(2)` until a socket is readable or
//! the core's next timer. `--impair` applies to every datagram this end sends.
//!
//! The sender connects and the receiver listens; the protocol's HELLO goes
//! from sender to receiver, so the reverse arrangement is not offered.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant as StdInstant;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::IoSlice;
use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags};
use stripecat_proto::wire::{DigestAlgorithm, Frame, Packet, Repr, ResetReason, Verdict, HEADER_LEN};
use stripecat_proto::{
    DropReason, Instant, Receiver, Transmit, ReceiverConfig, ReceiverError, ReceiverState, Sender, SenderConfig, SenderError,
    SenderState, SharedBytes,
};

use super::addr::{self, Endpoint, SocketOptions};
use super::args::KernelArgs;
use super::error::KernelError;
use super::io::End;
use super::{Attempt, Report};
use crate::impair::Impairer;
use crate::report::{PathReport, Progress};

/// Datagrams sent per loop iteration before received ACKs are read again.
const BURST: usize = 64;
/// Largest datagram we read.
const MAX_DATAGRAM: usize = 65_536;
/// Largest chunk a receiver accepts and `--block-size` may ask for: a
/// datagram of it plus headers still fits the 65,535-byte IP limit.
const MAX_CHUNK: u16 = 65_000;
/// Chunk size on loopback, whose MTU is 64 KiB: fewer, larger datagrams
/// mean fewer system calls and ACKs per byte.
const LOOPBACK_CHUNK: u16 = 8192;
/// Chunk size elsewhere: a 1500-byte MTU minus IPv4, UDP and our header.
fn ethernet_chunk() -> u16 {
    (1500 - 20 - 8 - HEADER_LEN) as u16
}
/// Socket buffers when `--window` is not given. The kernel's UDP default
/// (about 208 KiB) overflows within a fraction of a millisecond at loopback
/// rates, and every overflow is a loss the protocol must repair and back off
/// for; the kernel caps this at net.core.rmem_max/wmem_max.
const DEFAULT_UDP_BUFFER: usize = 4 << 20;

fn udp_options(opts: &SocketOptions) -> SocketOptions {
    SocketOptions { window: Some(opts.window.unwrap_or(DEFAULT_UDP_BUFFER)), ..*opts }
}

/// How long a finished receiver keeps answering a retransmitted FIN (its
/// FIN-ACK may have been lost) before it exits.
const LINGER: std::time::Duration = std::time::Duration::from_millis(300);

/// A datagram on its way out, with the path whose socket sends it (so the
/// impairer can hold it back and release it on the same path).
#[derive(Clone)]
struct Outgoing {
    path: u16,
    bytes: Vec<u8>,
}

impl AsMut<[u8]> for Outgoing {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

/// The protocol clock: microseconds since the driver started.
struct Clock(StdInstant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.elapsed().as_micros() as u64)
    }
}

/// Whether to use UDP GSO/GRO: yes unless `STRIPECAT_UDP_NO_OFFLOAD` is set
/// (a diagnostic switch for offload trouble; it also lets the tests drive the
/// plain `sendmmsg` path on kernels that have GSO).
fn offload_wanted() -> bool {
    std::env::var_os("STRIPECAT_UDP_NO_OFFLOAD").is_none()
}

/// Datagrams shorter than this may be control packets worth a full parse
/// (the receiver looks for the FIN's digest); DATA is longer.
const CONTROL_MAX: usize = 256;

/// Most delivered chunks gathered into one write (the kernel's IOV_MAX is 1024).
const DELIVER_BATCH: usize = 256;

/// Writes every chunk, in order, with as few `writev` calls as the kernel allows.
fn write_all_vectored(out: &mut std::fs::File, chunks: &[SharedBytes]) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice> = chunks.iter().map(|c| io::IoSlice::new(c.as_ref())).collect();
    let mut bufs: &mut [io::IoSlice] = &mut slices;
    while !bufs.is_empty() {
        match out.write_vectored(bufs) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "the output took no bytes")),
            Ok(n) => io::IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Waits shorter than this yield instead of sleeping.
const SPIN_BELOW_US: u64 = 200;

/// Sleeps until one of `socks` is readable or `until` (protocol time) passes,
/// at most `cap` microseconds.
fn wait(socks: &[UdpSocket], clock: &Clock, until: Option<Instant>, cap_us: u64) {
    let now = clock.now().total_micros();
    let us = until.map_or(cap_us, |t| t.total_micros().saturating_sub(now).min(cap_us));
    if us == 0 {
        return;
    }
    if us < SPIN_BELOW_US {
        // A sleep this short would overshoot by the timer slack (50 us by
        // default), which at loopback rates is several datagrams of pacing.
        std::thread::yield_now();
        return;
    }
    let mut fds: Vec<PollFd> = socks.iter().map(|s| PollFd::new(s, PollFlags::IN)).collect();
    let ts = Timespec { tv_sec: (us / 1_000_000) as i64, tv_nsec: ((us % 1_000_000) * 1000) as i64 };
    let _ = poll(&mut fds, Some(&ts));
}

fn drop_name(r: DropReason) -> String {
    let mut s = String::new();
    for (i, c) in format!("{r:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            s.push('_');
        }
        s.push(c.to_ascii_lowercase());
    }
    s
}

fn alg_name(a: DigestAlgorithm) -> &'static str {
    if a == DigestAlgorithm::Blake3 {
        "blake3"
    } else {
        "xxh3-128"
    }
}

fn hex(alg: DigestAlgorithm, d: &[u8; 32]) -> String {
    let len = if alg == DigestAlgorithm::Blake3 { 32 } else { 16 };
    d[..len].iter().map(|b| format!("{b:02x}")).collect()
}

/// The local address of path `i`: `--bind` (ADDR or ADDR:PORT) or any.
fn local_addr(k: &KernelArgs, i: usize, peer: &SocketAddr) -> Result<SocketAddr, KernelError> {
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

fn sock_err(e: io::Error) -> KernelError {
    KernelError::Socket(e)
}

/// `send --udp HOST:PORT`.
pub fn send(
    k: &KernelArgs,
    ep: &Endpoint,
    opts: &SocketOptions,
    input: &mut End,
    alg: Option<DigestAlgorithm>,
    progress: &mut Progress,
    started: &mut StdInstant,
) -> Attempt {
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
        None => ethernet_chunk(),
    };
    // GSO: one send carries up to GSO_SEGMENTS same-size datagrams of a path.
    let segment = HEADER_LEN as u16 + chunk;
    let mut gso = offload_wanted() && socks.iter().all(|s| super::sys::set_udp_segment(s, segment).is_ok());
    let mut gbuf: Vec<u8> = Vec::with_capacity(65_536);
    // The FIN always carries a digest on UDP; `--digest none` falls back to XXH3-128.
    let alg = alg.unwrap_or(DigestAlgorithm::Xxh3_128);
    let config = SenderConfig {
        paths: n_paths as u16,
        chunk_size: chunk,
        digest: alg,
        total_len: input.size(),
        ..SenderConfig::default()
    };
    let clock = Clock(StdInstant::now());
    *started = StdInstant::now();
    let mut sender: Sender<SharedBytes> = Sender::new(config, super::striped::session_id(), clock.now());
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

    let result: Result<(), KernelError> = loop {
        let now = clock.now();
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
        // An ICMP port-unreachable during the handshake: nothing listens there.
        if refused > 0 && sender.state() == SenderState::Handshake {
            break Err(KernelError::Refused(peer));
        }
        if sender.poll_timeout().is_some_and(|t| t <= now) {
            sender.handle_timeout(now);
        }
        // Hand input to the core until it pushes back.
        while !finished {
            if pending.is_empty() && !eof {
                match read_slab(&mut input.file, chunk as usize * slab_chunks) {
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
                        Err(stripecat_proto::PushError::NoCredit(c) | stripecat_proto::PushError::QueueFull(c)) => {
                            pending.push_front(c);
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
                transmit(&socks, &mut impairer, Outgoing { path: t.path, bytes: t.to_vec() });
            } else {
                batch.push(t);
            }
            sent += 1;
        }
        if !batch.is_empty() {
            if gso {
                gso = send_gso(&socks, &batch, segment as usize, &mut gbuf);
            } else {
                send_batch(&socks, &batch, &mut headers);
            }
        }
        busy |= sent > 0;
        if let Some(imp) = impairer.as_mut() {
            if sent == 0 && imp.has_held() {
                imp.flush(|o| send_one(&socks, &o));
            }
        }
        progress.update(sender.shared().acked(), "");
        if sender.is_finished() {
            break match sender.state() {
                SenderState::Done => Ok(()),
                SenderState::Failed(e) => Err(sender_error(e, peer)),
                _ => Ok(()),
            };
        }
        if !busy {
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
        digest: fin_digest.map(|(a, d)| (alg_name(a).to_string(), hex(a, &d))),
        verified: Some(result.is_ok()),
        ..Default::default()
    };
    for r in DropReason::ALL {
        let n = stats.drops.get(r);
        if n > 0 {
            rep.drops.insert(drop_name(r), n);
        }
    }
    if let Some(imp) = &impairer {
        let s = imp.stats();
        rep.drops.insert("impair_loss".into(), s.dropped);
        rep.drops.insert("impair_corrupt".into(), s.corrupted);
    }
    for (i, sock) in socks.iter().enumerate().take(sender.path_count()) {
        let p = sender.path(i);
        let (st, snap) = (p.stats(), p.snapshot());
        rep.paths.push(PathReport {
            id: i as u16,
            port: sock.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            packets: st.packets,
            bytes: st.bytes,
            resends: st.resends,
            lost: st.lost,
            ptos: st.ptos,
            downs: st.downs,
            srtt_us: Some(snap.srtt.total_micros()),
            min_rtt_us: Some(snap.min_rtt.total_micros()),
            health: format!("{:?}", snap.health).to_lowercase(),
        });
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

/// Most datagrams glued into one GSO send (the kernel allows 64; the
/// total must also stay under the 64 KiB UDP limit).
const GSO_SEGMENTS: usize = 64;

/// Sends a burst with UDP GSO: per path, runs of full-size datagrams (and
/// one shorter one ending a run) are copied back to back into one buffer and
/// handed to the kernel in one send, which cuts them at `segment` bytes.
/// Returns false when the kernel refuses GSO sends, so the caller falls back
/// to `sendmmsg` (the refused datagrams are loss to the protocol).
fn send_gso(socks: &[UdpSocket], batch: &[Transmit<SharedBytes>], segment: usize, gbuf: &mut Vec<u8>) -> bool {
    let max = GSO_SEGMENTS.min(65_000 / segment).max(1);
    for (p, sock) in socks.iter().enumerate() {
        let mut n = 0;
        gbuf.clear();
        let flush = |gbuf: &mut Vec<u8>, n: &mut usize| -> bool {
            let ok = match sock.send(gbuf) {
                Ok(_) => true,
                // A full socket buffer: loss, repaired by the protocol.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
                Err(e) => !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EIO | libc::EOPNOTSUPP)),
            };
            gbuf.clear();
            *n = 0;
            ok
        };
        for t in batch.iter().filter(|t| t.path as usize % socks.len() == p) {
            let len = t.wire_len();
            if len > segment && !flush(gbuf, &mut n) {
                return false;
            }
            let at = gbuf.len();
            gbuf.resize(at + len, 0);
            let h = t.emit(&mut gbuf[at..]);
            if let Some(payload) = &t.payload {
                gbuf[at + h..at + len].copy_from_slice(payload.as_ref());
            }
            n += 1;
            // A short datagram can only end a GSO run; so can a full buffer.
            if (len != segment || n == max) && !flush(gbuf, &mut n) {
                return false;
            }
        }
        if n > 0 && !flush(gbuf, &mut n) {
            return false;
        }
    }
    true
}

/// Sends a burst with one `sendmmsg` per path socket: headers from
/// `headers` (reused between bursts), payloads gathered straight from their
/// handles, so no chunk is copied in user space. What the kernel does not
/// take (a full socket buffer) is loss to the protocol, which repairs it.
fn send_batch(socks: &[UdpSocket], batch: &[Transmit<SharedBytes>], headers: &mut Vec<Vec<u8>>) {
    let mut lens = Vec::with_capacity(batch.len());
    for (i, t) in batch.iter().enumerate() {
        if headers.len() <= i {
            headers.push(Vec::new());
        }
        let need = t.header_len();
        if headers[i].len() < need {
            headers[i].resize(need, 0);
        }
        lens.push(t.emit(&mut headers[i]));
    }
    for (p, sock) in socks.iter().enumerate() {
        let mine: Vec<usize> = (0..batch.len()).filter(|&i| batch[i].path as usize % socks.len() == p).collect();
        if mine.is_empty() {
            continue;
        }
        let iovs: Vec<[IoSlice; 2]> = mine
            .iter()
            .map(|&i| {
                let payload: &[u8] = batch[i].payload.as_ref().map_or(&[], |b| b.as_ref());
                [IoSlice::new(&headers[i][..lens[i]]), IoSlice::new(payload)]
            })
            .collect();
        let mut controls: Vec<SendAncillaryBuffer> = mine.iter().map(|_| SendAncillaryBuffer::default()).collect();
        let mut msgs: Vec<MMsgHdr> = iovs.iter().zip(controls.iter_mut()).map(|(iov, c)| MMsgHdr::new(iov, c)).collect();
        let mut done = 0;
        while done < msgs.len() {
            match sendmmsg(sock, &mut msgs[done..], SendFlags::empty()) {
                Ok(n) if n > 0 => done += n,
                Err(e) if e == rustix::io::Errno::INTR => {}
                _ => break,
            }
        }
    }
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
        _ => KernelError::Protocol(e.to_string()),
    }
}

fn receiver_error(e: ReceiverError) -> KernelError {
    match e {
        ReceiverError::Verdict { verdict: Verdict::DigestMismatch, .. } => {
            KernelError::DigestMismatch { sent: "the sender's".into(), received: "ours".into() }
        }
        ReceiverError::IdleTimeout { .. } => KernelError::Timeout(e.to_string()),
        ReceiverError::PeerReset { .. } => KernelError::PeerClosed { detail: format!(": {e}") },
        _ => KernelError::Protocol(e.to_string()),
    }
}

/// `recv --udp --listen [ADDR:]PORT`.
pub fn recv(
    k: &KernelArgs,
    ep: &Endpoint,
    opts: &SocketOptions,
    output: &mut End,
    progress: &mut Progress,
    started: &mut StdInstant,
) -> Attempt {
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
        let _ = super::sys::set_udp_gro(&sock, true);
    }
    sock.set_nonblocking(true).map_err(|e| bare(sock_err(e)))?;
    let socks = [sock];
    let paths = k.paths.unwrap_or(16);
    let config = ReceiverConfig { paths, max_chunk_size: MAX_CHUNK, ..ReceiverConfig::default() };
    let clock = Clock(StdInstant::now());
    let mut receiver: Receiver<SharedBytes> = Receiver::new(config);
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
    let mut delivered_now: Vec<SharedBytes> = Vec::with_capacity(DELIVER_BATCH);
    let mut last_rx = StdInstant::now();

    let result: Result<(), KernelError> = 'run: loop {
        let now = clock.now();
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
                    let whole = SharedBytes::new(Arc::from(&rbuf[..n]));
                    let mut off = 0;
                    while off < n {
                        let end = match Packet::new_checked(&rbuf[off..n]) {
                            Ok(p) => {
                                if let Some(slot) = path_addr.get_mut(p.path_id() as usize) {
                                    *slot = Some(from);
                                }
                                off + HEADER_LEN + p.length() as usize
                            }
                            // Unparseable: hand the rest in as one datagram, to be counted and dropped.
                            Err(_) => n,
                        };
                        if end - off < CONTROL_MAX {
                            if let Ok(Repr { frame: Frame::Fin(f), .. }) =
                                Packet::new_checked(&rbuf[off..end]).and_then(|p| Repr::parse(&p))
                            {
                                fin_digest = Some((f.algorithm, f.digest));
                            }
                        }
                        let _ = receiver.handle_datagram(now, whole.slice(off..end));
                        off = end;
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
            if let Err(e) = write_all_vectored(&mut output.file, &delivered_now) {
                // Tell the sender at once (a RESET), rather than leave it to give up.
                receiver.abort(ResetReason::OutputError);
                while let Some(t) = receiver.poll_transmit(now) {
                    if let Some(to) = path_addr.get(t.path as usize).copied().flatten().or(last_from) {
                        let _ = socks[0].send_to(&t.to_vec(), to);
                    }
                }
                break 'run Err(KernelError::Output { what: output.name.clone(), source: e });
            }
            delivered += bytes;
            // The FIN verdict then means "written", not merely "delivered".
            receiver.set_written(delivered);
        }
        let mut sent = 0;
        while let Some(t) = receiver.poll_transmit(now) {
            let to = path_addr.get(t.path as usize).copied().flatten().or(last_from);
            if let Some(to) = to {
                let out = Outgoing { path: 0, bytes: t.to_vec() };
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
        match receiver.state() {
            ReceiverState::Complete => {
                let t = *done_at.get_or_insert_with(|| {
                    finish_elapsed = Some(started.elapsed());
                    StdInstant::now()
                });
                // Linger so a retransmitted FIN (our FIN-ACK lost) is answered.
                if t.elapsed() > LINGER && last_rx.elapsed() > LINGER / 2 {
                    break Ok(());
                }
            }
            ReceiverState::Failed(e) => break Err(receiver_error(e)),
            _ => {}
        }
        if !busy {
            wait(&socks, &clock, receiver.poll_timeout(), 2_000);
        }
    };
    let _ = output.file.flush();
    let stats = receiver.stats();
    let mut rep = Report {
        bytes: delivered,
        digest: fin_digest.filter(|_| result.is_ok()).map(|(a, d)| (alg_name(a).to_string(), hex(a, &d))),
        verified: Some(result.is_ok()),
        elapsed: finish_elapsed,
        ..Default::default()
    };
    for r in DropReason::ALL {
        let n = stats.drops.get(r);
        if n > 0 {
            rep.drops.insert(drop_name(r), n);
        }
    }
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
