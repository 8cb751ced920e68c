//! `--tcp --streams N`: one byte stream striped over N TCP connections to one
//! listening port, the way mpnc does it, plus an end-to-end digest.
//!
//! # Wire format (all integers little-endian)
//! Every connection opens with a 24-byte **hello** from the connecting end:
//! ```text
//! 0  magic    "SCT1"
//! 4  index    u16   this connection's number, 0..count
//! 6  count    u16   connections in the session
//! 8  role     u8    0: the connecting end sends data; 1: it receives
//! 9  reserved [u8; 7] zero
//! 16 session  u64   random, the same on every connection of a session
//! ```
//! Then the sending end writes **frames**, each a 16-byte header and a body:
//! ```text
//! 0  offset   u64   DATA: stream offset of the body; END: total stream length
//! 8  len      u32   body length
//! 12 kind     u32   0 DATA, 1 END
//! ```
//! A DATA body is `len` bytes of the stream at `offset`. Chunks are handed to
//! whichever connection is ready next (work-stealing, so a slow connection
//! carries less), and offsets increase along each connection. Every
//! connection ends with one END frame whose 33-byte body is the digest
//! algorithm (0 none, 1 XXH3-128) and the 32-byte digest of the whole stream
//! (XXH3-128 big-endian in the first 16 bytes, zero after), then the sender shuts down its write side.
//!
//! The receiver reassembles in order. A chunk more than the reorder window
//! ahead of the delivered offset is not read off its connection until the
//! window moves, so a slow connection can hold the others up by at most the
//! window (and TCP flow control carries that back to the sender), and memory
//! stays bounded. When every connection has sent END and every byte up to
//! the total is written, the receiver answers on connection 0 with a
//! 33-byte **verdict**: 1 (digest matched) or 0, then its own 32-byte digest.
//! A connection that ends or resets before its END fails the transfer.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use stripecat_proto::wire::DigestAlgorithm;
use stripecat_proto::StreamDigest;

use super::addr::{self, Endpoint, SocketOptions};
use super::error::{KernelError, Result};
use super::io::{End, Kind};
use crate::report::Progress;

const MAGIC: &[u8; 4] = b"SCT1";
const HELLO_LEN: usize = 24;
const HEADER_LEN: usize = 16;
const KIND_DATA: u32 = 0;
const KIND_END: u32 = 1;
const END_BODY: usize = 33;
const VERDICT_LEN: usize = 33;
/// Largest DATA body a receiver accepts (`--block-size` is capped at 64 MiB).
const MAX_CHUNK: u32 = 64 << 20;
/// How long the other connections of a session may trail the first one.
const GATHER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a receiver waits without a single new byte before giving up.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Which way the data flows, from this end's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Send,
    Recv,
}

/// The reorder window for `streams` connections and `block`-byte chunks:
/// four chunks per connection in flight, and at least 32 MiB so that
/// loopback-speed bursts do not stall on it.
pub fn reorder_window(streams: usize, block: usize) -> u64 {
    ((4 * streams * block) as u64).max(32 << 20)
}

/// A session identifier that differs between runs (no RNG crate needed:
/// std's hasher keys are random per process).
pub fn session_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos() ^ std::process::id() as u128);
    h.finish()
}

fn hello(index: u16, count: u16, role: Role, session: u64) -> [u8; HELLO_LEN] {
    let mut b = [0u8; HELLO_LEN];
    b[0..4].copy_from_slice(MAGIC);
    b[4..6].copy_from_slice(&index.to_le_bytes());
    b[6..8].copy_from_slice(&count.to_le_bytes());
    b[8] = match role {
        Role::Send => 0,
        Role::Recv => 1,
    };
    b[16..24].copy_from_slice(&session.to_le_bytes());
    b
}

/// A parsed hello: (index, count, the connecting end's role, session).
fn parse_hello(b: &[u8; HELLO_LEN]) -> Result<(u16, u16, Role, u64)> {
    if &b[0..4] != MAGIC {
        return Err(KernelError::Protocol(
            "the peer did not open with a stripecat --streams hello (is it nc, or stripecat with --streams 1?)".into(),
        ));
    }
    let index = u16::from_le_bytes([b[4], b[5]]);
    let count = u16::from_le_bytes([b[6], b[7]]);
    let role = match b[8] {
        0 => Role::Send,
        1 => Role::Recv,
        r => return Err(KernelError::Protocol(format!("unknown role {r} in hello"))),
    };
    if count == 0 || index >= count {
        return Err(KernelError::Protocol(format!("hello says connection {index} of {count}")));
    }
    Ok((index, count, role, u64::from_le_bytes(b[16..24].try_into().unwrap_or_default())))
}

/// Opens the session's connections, in index order. The connecting end opens
/// `streams`; the listening end accepts as many as the first hello announces.
pub fn establish(ep: &Endpoint, opts: &SocketOptions, streams: u16, role: Role) -> Result<Vec<TcpStream>> {
    match ep {
        Endpoint::Connect { addrs, .. } => {
            let session = session_id();
            (0..streams)
                .map(|i| {
                    let mut s = addr::tcp_connect(addrs, opts)?;
                    s.write_all(&hello(i, streams, role, session)).map_err(KernelError::socket)?;
                    Ok(s)
                })
                .collect()
        }
        Endpoint::Listen(a) => gather(&addr::tcp_listen(*a, opts)?, opts, role),
    }
}

fn read_hello(s: &mut TcpStream) -> Result<[u8; HELLO_LEN]> {
    s.set_read_timeout(Some(GATHER_TIMEOUT)).map_err(KernelError::Socket)?;
    let mut b = [0u8; HELLO_LEN];
    s.read_exact(&mut b).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            KernelError::Timeout("a connection sent no stripecat hello within 10 s".into())
        }
        io::ErrorKind::UnexpectedEof => {
            KernelError::Protocol("a connection closed before its hello (is the peer nc?)".into())
        }
        _ => KernelError::socket(e),
    })?;
    s.set_read_timeout(None).map_err(KernelError::Socket)?;
    Ok(b)
}

fn gather(listener: &TcpListener, opts: &SocketOptions, role: Role) -> Result<Vec<TcpStream>> {
    let (mut first, _) = listener.accept().map_err(KernelError::Socket)?;
    let (index, count, peer_role, session) = parse_hello(&read_hello(&mut first)?)?;
    if peer_role == role {
        let both = if role == Role::Send { "sending" } else { "receiving" };
        return Err(KernelError::Protocol(format!("both ends are {both}: run send on one end and recv on the other")));
    }
    let mut slots: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
    slots[index as usize] = Some(first);
    let mut have = 1;
    listener.set_nonblocking(true).map_err(KernelError::Socket)?;
    let deadline = Instant::now() + GATHER_TIMEOUT;
    while have < count {
        match listener.accept() {
            Ok((mut s, _)) => {
                s.set_nonblocking(false).map_err(KernelError::Socket)?;
                let (i, c, r, sess) = parse_hello(&read_hello(&mut s)?)?;
                // A connection from another session (a stale retry) is
                // turned away rather than mixed into this stream.
                if sess != session || c != count || r != peer_role {
                    let _ = s.shutdown(Shutdown::Both);
                    continue;
                }
                if slots[i as usize].replace(s).is_some() {
                    return Err(KernelError::Protocol(format!("connection {i} opened twice")));
                }
                have += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(KernelError::Timeout(format!(
                        "only {have} of {count} connections arrived within {} s",
                        GATHER_TIMEOUT.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(KernelError::Socket(e)),
        }
    }
    let streams: Vec<TcpStream> = slots.into_iter().flatten().collect();
    for s in &streams {
        addr::tune(s, opts)?;
    }
    Ok(streams)
}

fn header(offset: u64, len: u32, kind: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&offset.to_le_bytes());
    h[8..12].copy_from_slice(&len.to_le_bytes());
    h[12..16].copy_from_slice(&kind.to_le_bytes());
    h
}

fn digest_algorithm(code: u8) -> Result<Option<DigestAlgorithm>> {
    match code {
        0 => Ok(None),
        1 => Ok(Some(DigestAlgorithm::Xxh3_128)),
        c => Err(KernelError::Protocol(format!("unknown digest algorithm {c}"))),
    }
}

fn digest_code(alg: Option<DigestAlgorithm>) -> u8 {
    // Comparisons, not an exhaustive match: the protocol crate may grow
    // algorithms, and only XXH3-128 is carried here (the caller refuses others).
    if alg == Some(DigestAlgorithm::Xxh3_128) {
        1
    } else {
        0
    }
}

/// The digest's name and hex value as the summary shows them.
pub fn digest_text(alg: DigestAlgorithm, d: &[u8; 32]) -> (String, String) {
    let (name, len) = if alg == DigestAlgorithm::Xxh3_128 {
        ("xxh3-128", 16)
    } else if alg == DigestAlgorithm::Blake3 {
        ("blake3", 32)
    } else {
        ("none", 0)
    };
    (name.to_string(), d[..len].iter().map(|b| format!("{b:02x}")).collect())
}

/// The outcome of a striped transfer, for the summary.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub bytes: u64,
    pub digest: Option<(DigestAlgorithm, [u8; 32])>,
    pub verified: Option<bool>,
}

/// First error wins; every other thread sees `stop` and winds down, and the
/// sockets are shut down so nobody stays blocked in the kernel.
struct Abort<'a> {
    stop: AtomicBool,
    error: Mutex<Option<KernelError>>,
    socks: &'a [TcpStream],
}

impl Abort<'_> {
    fn fail(&self, e: KernelError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
        drop(slot);
        if !self.stop.swap(true, Ordering::SeqCst) {
            for s in self.socks {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn take(&self) -> Option<KernelError> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

fn sendfile_exact(sock: &TcpStream, file: &std::fs::File, mut pos: u64, len: usize) -> io::Result<()> {
    let mut left = len;
    while left > 0 {
        match rustix::fs::sendfile(sock, file, Some(&mut pos), left) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the input file shrank while being sent")),
            Ok(n) => left -= n,
            Err(e) if e == Errno::INTR => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A chunk read from a non-seekable input, queued for whichever connection
/// is free first.
struct Chunk {
    offset: u64,
    data: Vec<u8>,
}

/// Sends `input` striped over `socks`. Regular files go out with positional
/// `sendfile` from every connection at once (and are hashed by a separate
/// pass over the page cache); other inputs are read in chunks here and handed
/// to the connections through a small queue.
pub fn send(
    socks: &[TcpStream],
    input: &mut End,
    block: usize,
    alg: Option<DigestAlgorithm>,
    progress: &mut Progress,
) -> Result<Outcome> {
    let abort = Abort { stop: AtomicBool::new(false), error: Mutex::new(None), socks };
    let sent = AtomicU64::new(0);
    let next = AtomicU64::new(0);
    let base = match input.kind {
        Kind::Regular { .. } => {
            use std::io::Seek;
            input.file.stream_position().map_err(|e| KernelError::Input { what: input.name.clone(), source: e })?
        }
        _ => 0,
    };
    let (tx, rx) = crossbeam::channel::bounded::<Chunk>(socks.len() * 2);
    let input_name = input.name.clone();
    let file = &input.file;
    let kind = input.kind;

    let (total, digest) = std::thread::scope(|scope| -> Result<(u64, Option<[u8; 32]>)> {
        let mut workers = Vec::new();
        for sock in socks {
            let (abort, sent, next, rx) = (&abort, &sent, &next, rx.clone());
            workers.push(scope.spawn(move || {
                let mut w: &TcpStream = sock;
                let result: io::Result<()> = (|| {
                    if let Kind::Regular { len } = kind {
                        loop {
                            if abort.stopped() {
                                return Ok(());
                            }
                            let off = next.fetch_add(block as u64, Ordering::Relaxed);
                            if off >= len {
                                return Ok(());
                            }
                            let n = (len - off).min(block as u64) as usize;
                            w.write_all(&header(off, n as u32, KIND_DATA))?;
                            sendfile_exact(sock, file, base + off, n)?;
                            sent.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    } else {
                        for c in rx.iter() {
                            if abort.stopped() {
                                return Ok(());
                            }
                            w.write_all(&header(c.offset, c.data.len() as u32, KIND_DATA))?;
                            w.write_all(&c.data)?;
                            sent.fetch_add(c.data.len() as u64, Ordering::Relaxed);
                        }
                        Ok(())
                    }
                })();
                if let Err(e) = result {
                    if e.kind() == io::ErrorKind::UnexpectedEof {
                        abort.fail(KernelError::Input { what: "input".into(), source: e });
                    } else {
                        abort.fail(KernelError::socket(e));
                    }
                }
            }));
        }
        drop(rx);

        // This thread produces: the digest pass for a file, the chunks otherwise.
        let mut hasher = alg.map(StreamDigest::new);
        let mut total = 0u64;
        let mut buf = vec![0u8; block];
        let produce: Result<()> = (|| {
            loop {
                if abort.stopped() {
                    return Ok(());
                }
                let n = match kind {
                    Kind::Regular { len } => {
                        if total >= len || hasher.is_none() {
                            total = len;
                            return Ok(());
                        }
                        let want = (len - total).min(block as u64) as usize;
                        file.read_exact_at(&mut buf[..want], base + total)
                            .map_err(|e| KernelError::Input { what: input_name.clone(), source: e })?;
                        want
                    }
                    _ => {
                        let mut filled = 0;
                        let mut r: &std::fs::File = file;
                        while filled < block {
                            match r.read(&mut buf[filled..]) {
                                Ok(0) => break,
                                Ok(k) => filled += k,
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                                Err(e) => return Err(KernelError::Input { what: input_name.clone(), source: e }),
                            }
                        }
                        if filled == 0 {
                            return Ok(());
                        }
                        let data = buf[..filled].to_vec();
                        if tx.send(Chunk { offset: total, data }).is_err() {
                            return Ok(()); // every worker is gone: they recorded why
                        }
                        filled
                    }
                };
                if let Some(h) = hasher.as_mut() {
                    h.update(&buf[..n]);
                }
                total += n as u64;
                progress.update(sent.load(Ordering::Relaxed), "");
            }
        })();
        drop(tx);
        if let Err(e) = produce {
            abort.fail(e);
        }
        // Wait for the connections, keeping the progress line alive.
        while !workers.iter().all(|w| w.is_finished()) {
            progress.update(sent.load(Ordering::Relaxed), "");
            std::thread::sleep(Duration::from_millis(20));
        }
        for w in workers {
            if w.join().is_err() {
                abort.fail(KernelError::Protocol("a sending thread panicked".into()));
            }
        }
        Ok((total, hasher.map(|h| h.finish())))
    })?;
    if let Some(e) = abort.take() {
        return Err(e);
    }
    progress.update(sent.load(Ordering::Relaxed), "");

    // END on every connection, then wait for the verdict on connection 0.
    let mut end = Vec::with_capacity(HEADER_LEN + END_BODY);
    end.extend_from_slice(&header(total, END_BODY as u32, KIND_END));
    end.push(digest_code(alg));
    end.extend_from_slice(&digest.unwrap_or([0; 32]));
    for s in socks {
        let mut w: &TcpStream = s;
        w.write_all(&end).map_err(KernelError::socket)?;
        w.shutdown(Shutdown::Write).map_err(KernelError::socket)?;
    }
    let mut r: &TcpStream = &socks[0];
    r.set_read_timeout(Some(IDLE_TIMEOUT)).map_err(KernelError::Socket)?;
    let mut verdict = [0u8; VERDICT_LEN];
    r.read_exact(&mut verdict).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => KernelError::PeerClosed {
            detail: " before confirming the transfer (see the receiver's error)".into(),
        },
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            KernelError::Timeout("the receiver did not confirm the transfer".into())
        }
        _ => KernelError::socket(e),
    })?;
    let outcome = Outcome { bytes: total, digest: alg.zip(digest), verified: alg.map(|_| verdict[0] == 1) };
    if let (Some(a), Some(d), 0) = (alg, digest, verdict[0]) {
        let theirs: [u8; 32] = verdict[1..].try_into().unwrap_or([0; 32]);
        return Err(KernelError::DigestMismatch { sent: digest_text(a, &d).1, received: digest_text(a, &theirs).1 });
    }
    Ok(outcome)
}

/// Reassembly state shared by the reading threads and the writer.
struct Reorder {
    /// Everything before this offset is written.
    delivered: u64,
    /// Chunks that arrived ahead of `delivered`, by offset.
    pending: BTreeMap<u64, Vec<u8>>,
    /// Connections that have sent END.
    ended: usize,
    /// Total length and digest from the END frames.
    end: Option<(u64, u8, [u8; 32])>,
    /// Bytes read off the sockets (the progress figure).
    arrived: u64,
    /// Written buffers kept for reuse: a fresh 1 MiB vector per chunk costs
    /// a zeroing pass and page faults, which on loopback is a large share of
    /// the receiver's time.
    free: Vec<Vec<u8>>,
}

/// Most buffers kept for reuse (the window bounds how many are in use).
const POOL_MAX: usize = 64;

/// A buffer of exactly `len` bytes, reused when one is free. Its contents
/// are stale bytes from an earlier chunk, about to be overwritten by `read_exact`.
fn take_buffer(state: &Mutex<Reorder>, len: usize) -> Vec<u8> {
    let reused = state.lock().unwrap_or_else(|p| p.into_inner()).free.pop();
    match reused {
        Some(mut v) => {
            v.resize(len, 0);
            v
        }
        None => vec![0u8; len],
    }
}

/// Receives a striped stream from `socks` into `output`; returns what was
/// delivered and whether the digest matched.
pub fn recv(socks: &[TcpStream], output: &mut End, window: u64, progress: &mut Progress) -> Result<Outcome> {
    let abort = Abort { stop: AtomicBool::new(false), error: Mutex::new(None), socks };
    let state = Mutex::new(Reorder { delivered: 0, pending: BTreeMap::new(), ended: 0, end: None, arrived: 0, free: Vec::new() });
    let moved = Condvar::new();
    let n_socks = socks.len();

    let written = std::thread::scope(|scope| -> Option<(u64, u8, [u8; 32], [u8; 32])> {
        for (i, sock) in socks.iter().enumerate() {
            let (abort, state, moved) = (&abort, &state, &moved);
            scope.spawn(move || {
                if let Err(e) = read_stream(i, n_socks, sock, window, abort, state, moved) {
                    abort.fail(e);
                }
                moved.notify_all();
            });
        }
        let r = write_in_order(output, &abort, &state, &moved, n_socks, progress);
        moved.notify_all();
        match r {
            Ok(w) => Some(w),
            Err(e) => {
                // First error wins: if the readers failed first, theirs is kept.
                abort.fail(e);
                None
            }
        }
    });
    let first_error = abort.take();
    let (total, code, theirs, ours) = match (written, first_error) {
        (Some(w), None) => w,
        (_, Some(e)) => return Err(e),
        (None, None) => return Err(KernelError::Protocol("the transfer stopped without a reason".into())),
    };
    let alg = digest_algorithm(code)?;
    let ok = alg.is_none() || theirs == ours;
    let mut verdict = [0u8; VERDICT_LEN];
    verdict[0] = ok as u8;
    verdict[1..].copy_from_slice(&ours);
    let mut w: &TcpStream = &socks[0];
    // The sender may already have given up; the local verdict still stands.
    let _ = w.write_all(&verdict);
    for s in socks {
        let _ = s.shutdown(Shutdown::Both);
    }
    if let (Some(a), false) = (alg, ok) {
        return Err(KernelError::DigestMismatch { sent: digest_text(a, &theirs).1, received: digest_text(a, &ours).1 });
    }
    Ok(Outcome { bytes: total, digest: alg.map(|a| (a, ours)), verified: alg.map(|_| ok) })
}

fn read_stream(
    i: usize,
    count: usize,
    sock: &TcpStream,
    window: u64,
    abort: &Abort,
    state: &Mutex<Reorder>,
    moved: &Condvar,
) -> Result<()> {
    let mut r: &TcpStream = sock;
    let early = |e: io::Error| -> KernelError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            KernelError::PeerClosed { detail: format!(": connection {i} of {count} ended before the end of the transfer") }
        } else {
            match KernelError::socket(e) {
                KernelError::PeerClosed { detail } => {
                    KernelError::PeerClosed { detail: format!(": connection {i} of {count} failed{detail}") }
                }
                other => other,
            }
        }
    };
    let mut last_end = 0u64;
    loop {
        let mut h = [0u8; HEADER_LEN];
        r.read_exact(&mut h).map_err(early)?;
        let offset = u64::from_le_bytes(h[0..8].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(h[8..12].try_into().unwrap_or_default());
        let kind = u32::from_le_bytes(h[12..16].try_into().unwrap_or_default());
        match kind {
            KIND_DATA => {
                if len == 0 || len > MAX_CHUNK || offset < last_end || offset.checked_add(len as u64).is_none() {
                    return Err(KernelError::Protocol(format!(
                        "connection {i}: bad chunk of {len} bytes at offset {offset}"
                    )));
                }
                // Hold this connection until the chunk fits in the window.
                {
                    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                    while offset >= st.delivered + window && !abort.stopped() {
                        st = moved.wait_timeout(st, Duration::from_millis(100)).unwrap_or_else(|p| p.into_inner()).0;
                    }
                }
                if abort.stopped() {
                    return Ok(());
                }
                let mut data = take_buffer(state, len as usize);
                r.read_exact(&mut data).map_err(early)?;
                last_end = offset + len as u64;
                let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                let overlaps_next = st.pending.range(offset..).next().is_some_and(|(&o, _)| o < last_end);
                let overlaps_prev = st.pending.range(..offset).next_back().is_some_and(|(&o, d)| o + d.len() as u64 > offset);
                if offset < st.delivered || overlaps_next || overlaps_prev {
                    return Err(KernelError::Protocol(format!("connection {i}: chunk at offset {offset} overlaps another")));
                }
                st.arrived += len as u64;
                st.pending.insert(offset, data);
                drop(st);
                moved.notify_all();
            }
            KIND_END => {
                if len as usize != END_BODY {
                    return Err(KernelError::Protocol(format!("connection {i}: END of {len} bytes")));
                }
                let mut body = [0u8; END_BODY];
                r.read_exact(&mut body).map_err(early)?;
                let digest: [u8; 32] = body[1..].try_into().unwrap_or([0; 32]);
                let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                match st.end {
                    Some(e) if e != (offset, body[0], digest) => {
                        return Err(KernelError::Protocol("connections disagree on the stream's end".into()))
                    }
                    _ => st.end = Some((offset, body[0], digest)),
                }
                if last_end > offset {
                    return Err(KernelError::Protocol(format!("connection {i}: data past the end ({last_end} > {offset})")));
                }
                st.ended += 1;
                drop(st);
                moved.notify_all();
                return Ok(());
            }
            k => return Err(KernelError::Protocol(format!("connection {i}: unknown frame kind {k}"))),
        }
    }
}

/// Writes chunks in order as they become contiguous; returns the total, the
/// sender's digest and ours once every connection has ended.
fn write_in_order(
    output: &mut End,
    abort: &Abort,
    state: &Mutex<Reorder>,
    moved: &Condvar,
    count: usize,
    progress: &mut Progress,
) -> Result<(u64, u8, [u8; 32], [u8; 32])> {
    let mut hasher: Option<StreamDigest> = None;
    let mut last_change = Instant::now();
    let mut last_seen = 0u64;
    loop {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        if abort.stopped() {
            return Err(KernelError::Protocol(String::new()));
        }
        let first = st.pending.first_key_value().map(|(&o, _)| o);
        if first == Some(st.delivered) {
            let (off, data) = st.pending.pop_first().unwrap_or_default();
            drop(st);
            // Striped TCP always uses XXH3-128 (or no digest): the
            // algorithm must be known before the first byte is hashed.
            hasher.get_or_insert_with(|| StreamDigest::new(DigestAlgorithm::Xxh3_128)).update(&data);
            output.file.write_all(&data).map_err(|e| KernelError::Output { what: output.name.clone(), source: e })?;
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            st.delivered = off + data.len() as u64;
            if st.free.len() < POOL_MAX {
                st.free.push(data);
            }
            let arrived = st.arrived;
            drop(st);
            moved.notify_all();
            progress.update(arrived, "");
            continue;
        }
        if st.ended == count {
            let (total, code, theirs) = st.end.unwrap_or((0, 0, [0; 32]));
            if st.delivered != total || !st.pending.is_empty() {
                return Err(KernelError::Protocol(format!(
                    "the stream ended at {total} bytes but {} arrived in order",
                    st.delivered
                )));
            }
            let ours = hasher.map(|h| h.finish()).unwrap_or_else(|| StreamDigest::new(DigestAlgorithm::Xxh3_128).finish());
            return Ok((total, code, theirs, ours));
        }
        if st.arrived != last_seen {
            last_seen = st.arrived;
            last_change = Instant::now();
        } else if last_change.elapsed() > IDLE_TIMEOUT {
            return Err(KernelError::Timeout(format!("nothing arrived for {} s", IDLE_TIMEOUT.as_secs())));
        }
        let arrived = st.arrived;
        drop(moved.wait_timeout(st, Duration::from_millis(250)).unwrap_or_else(|p| p.into_inner()));
        progress.update(arrived, "");
    }
}
