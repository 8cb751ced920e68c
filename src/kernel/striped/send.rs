//! The striped sender: chunks to whichever connection is free, END with the digest, then the verdict.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rustix::io::Errno;
use stripecat_proto::wire::DigestAlgorithm;
use stripecat_proto::StreamDigest;

use stripecat_proto::crypto::{SessionKeys, Space, TAG_LEN};

use super::{
    digest_code, digest_text, header, seal_frame, Abort, Outcome, END_BODY, HEADER_LEN, IDLE_TIMEOUT, KEY_MAGIC,
    KIND_DATA, KIND_END, VERDICT_LEN,
};
use crate::kernel::error::{KernelError, Result};
use crate::kernel::io::{End, Kind};
use crate::report::Progress;

fn sendfile_exact(sock: &TcpStream, file: &std::fs::File, mut pos: u64, len: usize) -> io::Result<()> {
    let mut left = len;
    while left > 0 {
        match rustix::fs::sendfile(sock, file, Some(&mut pos), left) {
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the input file shrank while being sent"))
            }
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
    keys: Option<&SessionKeys>,
    progress: &mut Progress,
) -> Result<Outcome> {
    // Frames sent per connection: a sealed frame's nonce.
    let seqs: Vec<AtomicU64> = socks.iter().map(|_| AtomicU64::new(0)).collect();
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
        for (index, sock) in socks.iter().enumerate() {
            let (abort, sent, next, rx, seq) = (&abort, &sent, &next, rx.clone(), &seqs[index]);
            workers.push(scope.spawn(move || {
                let mut w: &TcpStream = sock;
                let result: io::Result<()> = (|| {
                    let sealed = |w: &mut &TcpStream, h: [u8; HEADER_LEN], body: &mut [u8]| -> io::Result<()> {
                        let Some(keys) = keys else { return Err(io::Error::other("no session keys")) };
                        let tag = seal_frame(keys, (index, seq.fetch_add(1, Ordering::Relaxed)), &h, body)
                            .map_err(|e| io::Error::other(e.to_string()))?;
                        w.write_all(&h)?;
                        w.write_all(body)?;
                        w.write_all(&tag)
                    };
                    if let Kind::Regular { len } = kind {
                        // Streams claim blocks of the file in turn: (offset, length), until
                        // the end or an abort.
                        let claim = || {
                            let off = next.fetch_add(block as u64, Ordering::Relaxed);
                            (!abort.stopped() && off < len).then(|| (off, (len - off).min(block as u64) as usize))
                        };
                        if keys.is_some() {
                            // Sealed: read, encrypt in place, write (no sendfile: the bytes change).
                            let mut buf = vec![0u8; block];
                            while let Some((off, n)) = claim() {
                                file.read_exact_at(&mut buf[..n], base + off)?;
                                sealed(&mut w, header(off, n as u32, KIND_DATA), &mut buf[..n])?;
                                sent.fetch_add(n as u64, Ordering::Relaxed);
                            }
                        } else {
                            while let Some((off, n)) = claim() {
                                w.write_all(&header(off, n as u32, KIND_DATA))?;
                                sendfile_exact(sock, file, base + off, n)?;
                                sent.fetch_add(n as u64, Ordering::Relaxed);
                            }
                        }
                        Ok(())
                    } else {
                        for mut c in rx.iter() {
                            if abort.stopped() {
                                return Ok(());
                            }
                            let h = header(c.offset, c.data.len() as u32, KIND_DATA);
                            if keys.is_some() {
                                sealed(&mut w, h, &mut c.data)?;
                            } else {
                                w.write_all(&h)?;
                                w.write_all(&c.data)?;
                            }
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
    let h = header(total, END_BODY as u32, KIND_END);
    let mut body = Vec::with_capacity(END_BODY);
    body.push(digest_code(alg));
    body.extend_from_slice(&digest.unwrap_or([0; 32]));
    for (index, s) in socks.iter().enumerate() {
        let mut end = h.to_vec();
        let mut b = body.clone();
        if let Some(keys) = keys {
            let tag = seal_frame(keys, (index, seqs[index].fetch_add(1, Ordering::Relaxed)), &h, &mut b)?;
            b.extend_from_slice(&tag);
        }
        end.extend_from_slice(&b);
        let mut w: &TcpStream = s;
        w.write_all(&end).map_err(KernelError::socket)?;
        w.shutdown(Shutdown::Write).map_err(KernelError::socket)?;
    }
    let mut r: &TcpStream = &socks[0];
    r.set_read_timeout(Some(IDLE_TIMEOUT)).map_err(KernelError::Socket)?;
    let mut verdict = [0u8; VERDICT_LEN + TAG_LEN];
    let want = if keys.is_some() { VERDICT_LEN + TAG_LEN } else { VERDICT_LEN };
    r.read_exact(&mut verdict[..want]).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            KernelError::PeerClosed { detail: " before confirming the transfer (see the receiver's error)".into() }
        }
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            KernelError::Timeout("the receiver did not confirm the transfer".into())
        }
        _ => KernelError::socket(e),
    })?;
    if keys.is_none() && verdict[..4] == KEY_MAGIC[..] {
        // A keyed receiver refused our unkeyed handshake-less stream.
        return Err(KernelError::Auth(stripecat_proto::AuthError::NoKeyHere));
    }
    if let Some(keys) = keys {
        keys.rx
            .open((Space::Control, 0, 0), &[], &mut verdict)
            .map_err(|_| KernelError::Protocol("the receiver's verdict failed authentication".into()))?;
    }
    let outcome = Outcome { bytes: total, digest: alg.zip(digest), verified: alg.map(|_| verdict[0] == 1) };
    if let (Some(a), Some(d), 0) = (alg, digest, verdict[0]) {
        let theirs: [u8; 32] = verdict[1..].try_into().unwrap_or([0; 32]);
        return Err(KernelError::DigestMismatch { sent: digest_text(a, &d).1, received: digest_text(a, &theirs).1 });
    }
    Ok(outcome)
}
