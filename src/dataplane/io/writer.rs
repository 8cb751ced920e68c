//! The writer thread: in-order payloads written with `writev` straight from the
//! mbufs, then freed in bulk; zero runs (ZEROS records) as holes or zeros
//! ([`crate::kernel::sparse::PieceWriter`]).

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam::queue::ArrayQueue;
use stripecat_proto::Piece;

use super::super::payload::MbufPayload;
use crate::dpdk::{spawn_registered, Eal};
use crate::kernel::sparse::PieceWriter;

/// What the writer thread shares with the poll loop.
#[derive(Default)]
pub struct WriterShared {
    /// Bytes written to the output.
    pub written: AtomicU64,
    /// Bytes handed to the writer (by the loop).
    pub queued: AtomicU64,
    /// No more payloads will come: write what is queued, flush, stop.
    pub closing: AtomicBool,
    /// The write error that stopped the output, if any.
    pub error: Mutex<Option<String>>,
    pub failed: AtomicBool,
    /// The writer has finished (flushed or failed).
    pub finished: AtomicBool,
    /// A session is served: a deferred output is opened now (see [`Output::Deferred`]).
    pub open_now: AtomicBool,
    /// Wakes the writer once it parked: after queueing pieces or setting a flag above.
    pub waker: super::Waker,
}

/// The writer's output: open already, or opened (created, truncated) only once a
/// session is served, so a keyed receiver never touches FILE for a sender that did
/// not authenticate.
pub enum Output {
    Open(File),
    /// FILE (stdout when `None`), opened through this when `open_now` is set.
    Deferred(Box<dyn FnOnce() -> Result<File, String> + Send>),
}

/// Most payloads one `writev` carries (IOV_MAX is 1024 on Linux).
const MAX_IOV: usize = 512;

/// Writes queued payloads in order with `writev`, then drops (frees) them. Zero runs
/// become holes in a regular output file when `sparse`, zeros written out otherwise.
pub fn spawn_writer(
    eal: &Eal,
    output: Output,
    queue: Arc<ArrayQueue<Piece<MbufPayload>>>,
    shared: Arc<WriterShared>,
    sparse: bool,
) -> std::io::Result<JoinHandle<()>> {
    spawn_registered(eal, "stripecat-writer", move || {
        let mut batch: Vec<Piece<MbufPayload>> = Vec::with_capacity(MAX_IOV);
        let mut pieces: Option<PieceWriter> = None;
        let mut written_bufs: Vec<crate::dpdk::SharedMbuf> = Vec::with_capacity(MAX_IOV);
        let (mut opener, mut out) = match output {
            Output::Open(f) => (None, Some(f)),
            Output::Deferred(open) => (Some(open), None),
        };
        shared.waker.register();
        let mut idle = 0;
        loop {
            while batch.len() < MAX_IOV {
                match queue.pop() {
                    Some(p) => batch.push(p),
                    None => break,
                }
            }
            if out.is_none() && (!batch.is_empty() || shared.open_now.load(Ordering::Acquire)) {
                if let Some(open) = opener.take() {
                    match open() {
                        Ok(f) => out = Some(f),
                        Err(e) => {
                            *shared.error.lock().unwrap() = Some(e);
                            shared.failed.store(true, Ordering::Release);
                        }
                    }
                }
            }
            if batch.is_empty() {
                if shared.closing.load(Ordering::Acquire) && queue.is_empty() {
                    break;
                }
                shared.waker.idle_wait(&mut idle);
                continue;
            }
            idle = 0;
            if let (false, Some(output)) = (shared.failed.load(Ordering::Relaxed), out.as_mut()) {
                let w = *pieces.get_or_insert_with(|| PieceWriter::new(output, sparse));
                match w.write(output, &batch) {
                    Ok(n) => {
                        shared.written.fetch_add(n, Ordering::Release);
                    }
                    Err((e, partial)) => {
                        // What reached the output before the error counts:
                        // the error message reports this length, and it
                        // must match the bytes on disk (a full disk took
                        // part of a batch, and the count was short by it).
                        shared.written.fetch_add(partial, Ordering::Release);
                        *shared.error.lock().unwrap() = Some(describe_write_error(&e));
                        shared.failed.store(true, Ordering::Release);
                    }
                }
            }
            // Free the written mbufs in one bulk call (this thread is
            // EAL-registered, so the pool's per-lcore cache is used).
            written_bufs.extend(batch.drain(..).filter_map(|p| match p {
                Piece::Bytes(b) => Some(b.into_mbuf()),
                Piece::Zeros(_) => None,
            }));
            crate::dpdk::SharedMbuf::free_bulk(&mut written_bufs);
        }
        if let (false, Some(output)) = (shared.failed.load(Ordering::Relaxed), out.as_mut()) {
            if let Err(e) = output.flush() {
                *shared.error.lock().unwrap() = Some(describe_write_error(&e));
                shared.failed.store(true, Ordering::Release);
            }
        }
        shared.finished.store(true, Ordering::Release);
    })
}

fn describe_write_error(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::BrokenPipe => "writing output: the reading end of the pipe was closed".into(),
        _ if e.raw_os_error() == Some(libc::ENOSPC) => "writing output: no space left on the device".into(),
        _ => format!("writing output: {e}"),
    }
}
