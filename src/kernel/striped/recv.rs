//! The striped receiver: one reader per connection, the reorder window, one writer in order.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use stripecat_proto::wire::DigestAlgorithm;
use stripecat_proto::StreamDigest;

use stripecat_proto::crypto::{SessionKeys, Space, TAG_LEN};

use super::{
    digest_algorithm, digest_text, open_frame, refuse_key, Abort, Outcome, END_BODY, HEADER_LEN, IDLE_TIMEOUT,
    KIND_DATA, KIND_END, MAX_CHUNK, VERDICT_LEN,
};
use crate::kernel::error::{KernelError, Result};
use crate::kernel::io::End;
use crate::report::Progress;

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
pub fn recv(
    socks: &[TcpStream],
    output: &mut End,
    window: u64,
    keys: Option<&SessionKeys>,
    progress: &mut Progress,
) -> Result<Outcome> {
    let abort = Abort { stop: AtomicBool::new(false), error: Mutex::new(None), socks };
    let state = Mutex::new(Reorder {
        delivered: 0,
        pending: BTreeMap::new(),
        ended: 0,
        end: None,
        arrived: 0,
        free: Vec::new(),
    });
    let moved = Condvar::new();
    let n_socks = socks.len();

    let written = std::thread::scope(|scope| -> Option<(u64, u8, [u8; 32], [u8; 32])> {
        for (i, sock) in socks.iter().enumerate() {
            let (abort, state, moved) = (&abort, &state, &moved);
            scope.spawn(move || {
                if let Err(e) = read_stream((i, n_socks), sock, window, keys, abort, state, moved) {
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
    match keys {
        Some(keys) => {
            let mut tag = [0u8; TAG_LEN];
            if keys.tx.seal((Space::Control, 0, 0), &[], &mut verdict, &[], &mut tag).is_ok() {
                let _ = w.write_all(&verdict).and_then(|_| w.write_all(&tag));
            }
        }
        None => {
            let _ = w.write_all(&verdict);
        }
    }
    for s in socks {
        let _ = s.shutdown(Shutdown::Both);
    }
    if let (Some(a), false) = (alg, ok) {
        return Err(KernelError::DigestMismatch { sent: digest_text(a, &theirs).1, received: digest_text(a, &ours).1 });
    }
    Ok(Outcome { bytes: total, digest: alg.map(|a| (a, ours)), verified: alg.map(|_| ok) })
}

fn read_stream(
    (i, count): (usize, usize),
    sock: &TcpStream,
    window: u64,
    keys: Option<&SessionKeys>,
    abort: &Abort,
    state: &Mutex<Reorder>,
    moved: &Condvar,
) -> Result<()> {
    let mut r: &TcpStream = sock;
    let early = |e: io::Error| -> KernelError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            KernelError::PeerClosed {
                detail: format!(": connection {i} of {count} ended before the end of the transfer"),
            }
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
    // Frames read on this connection: a sealed frame's nonce.
    let mut seq = 0u64;
    let tag = if keys.is_some() { TAG_LEN } else { 0 };
    loop {
        let mut h = [0u8; HEADER_LEN];
        r.read_exact(&mut h).map_err(early)?;
        if i == 0 && seq == 0 && keys.is_none() {
            if let Some(e) = refuse_key(sock, &h) {
                return Err(e);
            }
        }
        let frame = seq;
        seq += 1;
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
                let mut data = take_buffer(state, len as usize + tag);
                r.read_exact(&mut data).map_err(early)?;
                if let Some(keys) = keys {
                    open_frame(keys, (i, frame), &h, &mut data)?;
                    data.truncate(len as usize);
                }
                last_end = offset + len as u64;
                let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                let overlaps_next = st.pending.range(offset..).next().is_some_and(|(&o, _)| o < last_end);
                let overlaps_prev =
                    st.pending.range(..offset).next_back().is_some_and(|(&o, d)| o + d.len() as u64 > offset);
                if offset < st.delivered || overlaps_next || overlaps_prev {
                    return Err(KernelError::Protocol(format!(
                        "connection {i}: chunk at offset {offset} overlaps another"
                    )));
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
                let mut sealed = [0u8; END_BODY + TAG_LEN];
                r.read_exact(&mut sealed[..END_BODY + tag]).map_err(early)?;
                if let Some(keys) = keys {
                    open_frame(keys, (i, frame), &h, &mut sealed)?;
                }
                let mut body = [0u8; END_BODY];
                body.copy_from_slice(&sealed[..END_BODY]);
                let digest: [u8; 32] = body[1..].try_into().unwrap_or([0; 32]);
                let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                match st.end {
                    Some(e) if e != (offset, body[0], digest) => {
                        return Err(KernelError::Protocol("connections disagree on the stream's end".into()))
                    }
                    _ => st.end = Some((offset, body[0], digest)),
                }
                if last_end > offset {
                    return Err(KernelError::Protocol(format!(
                        "connection {i}: data past the end ({last_end} > {offset})"
                    )));
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
            let ours =
                hasher.map(|h| h.finish()).unwrap_or_else(|| StreamDigest::new(DigestAlgorithm::Xxh3_128).finish());
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
