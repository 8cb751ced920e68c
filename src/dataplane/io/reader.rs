//! The reader thread: the input read straight into mbuf data rooms, a burst of
//! rooms per `readv`, handed to the poll loop in stream order.

use std::collections::VecDeque;
use std::io::{ErrorKind, IoSliceMut, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam::queue::ArrayQueue;
use stripecat_proto::wire::{DigestAlgorithm, ResumeRepr};
use stripecat_proto::StreamDigest;

use super::super::payload::MbufPayload;
use crate::dpdk::{spawn_registered, Eal, Mbuf, Mempool};
use crate::resume::{PrefixCheck, HASH_BLOCK};

/// What the reader thread shares with the poll loop.
#[derive(Default)]
pub struct ReaderShared {
    /// Bytes read so far.
    pub bytes: AtomicU64,
    /// End of input reached (or an error): nothing more will be queued.
    pub done: AtomicBool,
    /// The read error, if one ended the input.
    pub error: Mutex<Option<String>>,
    /// Set by the loop to make the reader stop early.
    pub stop: AtomicBool,
    /// The chunk size to cut, once the handshake settled it (0 until then: the reader
    /// waits, so no chunk is cut at a size the receiver refused).
    pub chunk: AtomicUsize,
    /// `--resume`: the receiver's prefix, set by the loop before `chunk`; the reader
    /// reads that many bytes into its digest before it cuts any chunk.
    pub resume: Mutex<Option<ResumeRepr>>,
    /// The prefix's digest and the bytes read (fewer at the input's end), for the loop.
    pub prefix: Mutex<Option<(StreamDigest, u64)>>,
    /// The digest of the whole input (a resumed prefix included), set at its end
    /// before `done`: the reader digests each room right after its read, while the
    /// bytes are in this core's cache (`Sender::finish_digested`).
    pub digest: Mutex<Option<StreamDigest>>,
    /// Wakes the reader once it parked (waiting for the chunk size, queue room or data
    /// rooms): the loop calls it when it made progress.
    pub waker: super::Waker,
}

/// Most mbuf data rooms one read call fills (one `readv` over this many
/// iovecs: 91 KiB of 1424-byte chunks, more than a pipe's default buffer).
const READ_BURST: usize = 64;

/// Reads `input` in `chunk`-byte pieces straight into mbufs from `pool` and
/// queues them for the poll loop. Only the last chunk may be short. Every byte
/// queued is digested first, in the session's algorithm `digest`
/// ([`ReaderShared::digest`]).
///
/// Each read call (`readv` for files and pipes) fills up to [`READ_BURST`]
/// data rooms at once; a short read only ends the call, and the next one
/// completes the partly filled room, so every chunk queued is full except
/// the last one at end of input.
pub fn spawn_reader(
    eal: &Eal,
    mut input: Box<dyn Read + Send>,
    pool: Arc<Mempool>,
    chunk: usize,
    digest: DigestAlgorithm,
    queue: Arc<ArrayQueue<MbufPayload>>,
    shared: Arc<ReaderShared>,
) -> std::io::Result<JoinHandle<()>> {
    spawn_registered(eal, "stripecat-reader", move || {
        shared.waker.register();
        let stopping = || shared.stop.load(Ordering::Relaxed);
        // Idle rounds since the last progress (short sleeps, then parked until woken).
        let waits = std::cell::Cell::new(0u32);
        let wait = || {
            let mut n = waits.get();
            shared.waker.idle_wait(&mut n);
            waits.set(n);
        };
        // The session's chunk size: at most the planned one (the pool's rooms hold that).
        let chunk = loop {
            match shared.chunk.load(Ordering::Acquire) {
                0 if stopping() => {
                    shared.done.store(true, Ordering::Release);
                    return;
                }
                0 => wait(),
                c => break c.min(chunk),
            }
        };
        let mut stream = StreamDigest::new(digest);
        let asked = shared.resume.lock().unwrap().take();
        if let Some(point) = asked {
            // Read past (and hash) what the receiver holds; checked every MiB for a stop.
            let mut check = PrefixCheck::new(point);
            let mut buf = vec![0u8; HASH_BLOCK];
            loop {
                if stopping() {
                    shared.done.store(true, Ordering::Release);
                    return;
                }
                match check.read_some(&mut *input, &mut buf, HASH_BLOCK) {
                    Ok(false) => {}
                    Ok(true) => break,
                    Err(e) => {
                        *shared.error.lock().unwrap() = Some(format!("reading the input: {e}"));
                        shared.done.store(true, Ordering::Release);
                        return;
                    }
                }
            }
            let (prefix, read) = check.finish();
            // The stream digest covers the prefix too (when the session digests in
            // the prefix's algorithm; without a digest there is nothing to seed).
            if prefix.algorithm() == digest {
                stream = prefix.clone();
            }
            *shared.prefix.lock().unwrap() = Some((prefix, read));
        }
        let mut rooms = MbufRooms { pool: &pool, chunk, fresh: Vec::with_capacity(READ_BURST) };
        let deliver = |mut room: MbufRoom, n: usize| -> bool {
            if n < chunk {
                room.0.trim(chunk - n);
            }
            stream.update(room.0.data());
            let zero = stripecat_proto::is_zero(room.0.data());
            let mut item = MbufPayload::new(room.0.into_shared().expect("single segment")).with_zero(zero);
            loop {
                match queue.push(item) {
                    Ok(()) => break,
                    Err(back) => {
                        if stopping() {
                            return false;
                        }
                        item = back;
                        wait();
                    }
                }
            }
            shared.bytes.fetch_add(n as u64, Ordering::Relaxed);
            waits.set(0);
            true
        };
        let end = read_chunks(&mut *input, &mut rooms, chunk, READ_BURST, &stopping, &mut || wait(), deliver);
        match end {
            ReadEnd::Eof => *shared.digest.lock().unwrap() = Some(stream),
            ReadEnd::Stopped => {}
            ReadEnd::Error(e) => *shared.error.lock().unwrap() = Some(e),
        }
        shared.done.store(true, Ordering::Release);
    })
}

/// An mbuf with `chunk` bytes appended: a data room for the reader.
struct MbufRoom(Mbuf);

impl AsMut<[u8]> for MbufRoom {
    fn as_mut(&mut self) -> &mut [u8] {
        self.0.data_mut().expect("a fresh mbuf is unshared")
    }
}

/// Data rooms from the data pool, taken in bulk.
struct MbufRooms<'a> {
    pool: &'a Mempool,
    chunk: usize,
    fresh: Vec<Mbuf>,
}

impl RoomSource for MbufRooms<'_> {
    type Room = MbufRoom;

    fn take(&mut self, want: usize, out: &mut VecDeque<MbufRoom>) -> Result<(), String> {
        // All at once when the pool has them; near the bottom of the pool
        // (everything in flight), one at a time for what is left.
        if !self.pool.alloc_bulk(want, &mut self.fresh) {
            while self.fresh.len() < want {
                match self.pool.alloc() {
                    Some(m) => self.fresh.push(m),
                    None => break,
                }
            }
        }
        for mut m in self.fresh.drain(..) {
            if m.append(self.chunk).is_none() {
                return Err(format!("mbuf data room too small for {}-byte chunks", self.chunk));
            }
            out.push_back(MbufRoom(m));
        }
        Ok(())
    }
}

/// Where the reader's data rooms come from (the data pool; plain buffers in
/// the tests).
trait RoomSource {
    /// A room of exactly `chunk` bytes.
    type Room: AsMut<[u8]>;
    /// Adds up to `want` rooms to `out`; none when there are none to be had
    /// (the caller waits and asks again).
    fn take(&mut self, want: usize, out: &mut VecDeque<Self::Room>) -> Result<(), String>;
}

/// How the input ended.
#[derive(Debug, PartialEq, Eq)]
enum ReadEnd {
    /// End of input; everything read was delivered.
    Eof,
    /// `deliver` said stop, or `stopping` did.
    Stopped,
    /// A read (or room) error; the message says which.
    Error(String),
}

/// The reader's loop: fills rooms of `chunk` bytes from `input`, up to
/// `burst` of them per read call, and hands each full room to `deliver`
/// with its length, in order. A short read ends the call, not the stream:
/// the partly filled room is completed by the next call, so every room
/// delivered holds `chunk` bytes except the last one at end of input
/// (shorter, never empty). On an error the partly filled room is dropped
/// (what was delivered stands), as before batching. `deliver` returns false
/// to stop; `idle` is called when no room can be had.
fn read_chunks<S: RoomSource>(
    input: &mut dyn Read,
    src: &mut S,
    chunk: usize,
    burst: usize,
    stopping: &dyn Fn() -> bool,
    idle: &mut dyn FnMut(),
    mut deliver: impl FnMut(S::Room, usize) -> bool,
) -> ReadEnd {
    let mut rooms: VecDeque<S::Room> = VecDeque::with_capacity(burst);
    let mut front = 0; // bytes already in rooms[0]
    loop {
        if stopping() {
            return ReadEnd::Stopped;
        }
        if rooms.len() < burst {
            if let Err(e) = src.take(burst - rooms.len(), &mut rooms) {
                return ReadEnd::Error(e);
            }
            if rooms.is_empty() {
                idle(); // every buffer in flight: back-pressure
                continue;
            }
        }
        let n = match read_into(input, &mut rooms, front) {
            Ok(0) => {
                if front > 0 {
                    let last = rooms.pop_front().expect("a partly filled room");
                    deliver(last, front);
                }
                return ReadEnd::Eof;
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return ReadEnd::Error(format!("reading input: {e}")),
        };
        let total = front + n;
        front = total % chunk;
        for _ in 0..total / chunk {
            let full = rooms.pop_front().expect("the read filled this room");
            if !deliver(full, chunk) {
                return ReadEnd::Stopped;
            }
        }
    }
}

/// One vectored read into the free space of `rooms`: the rest of the first
/// (from `front`), then the others whole. Returns the bytes read.
fn read_into<R: AsMut<[u8]>>(input: &mut dyn Read, rooms: &mut VecDeque<R>, front: usize) -> std::io::Result<usize> {
    let mut iov: Vec<IoSliceMut<'_>> = Vec::with_capacity(rooms.len());
    for (i, r) in rooms.iter_mut().enumerate() {
        let r = r.as_mut();
        iov.push(IoSliceMut::new(if i == 0 { &mut r[front..] } else { r }));
    }
    input.read_vectored(&mut iov)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::io::Write;

    /// Plain rooms, at most `budget` of them out (a pool): `read_chunks`
    /// hands them to `deliver`, which gives the budget back.
    struct VecRooms<'a> {
        chunk: usize,
        budget: &'a Cell<usize>,
    }

    impl RoomSource for VecRooms<'_> {
        type Room = Vec<u8>;
        fn take(&mut self, want: usize, out: &mut VecDeque<Vec<u8>>) -> Result<(), String> {
            let n = want.min(self.budget.get());
            self.budget.set(self.budget.get() - n);
            out.extend((0..n).map(|_| vec![0xEE; self.chunk]));
            Ok(())
        }
    }

    /// A reader over `data` that counts its calls and returns at most
    /// `limits[i]` bytes on call i (then everything asked for), filling the
    /// iovecs in order as readv does. `fail_at`: an error once this many
    /// bytes are read. `eintr`: calls that fail with EINTR first.
    struct Scripted {
        data: Vec<u8>,
        pos: usize,
        limits: VecDeque<usize>,
        calls: usize,
        fail_at: Option<usize>,
        eintr: usize,
    }

    impl Scripted {
        fn new(data: Vec<u8>, limits: &[usize]) -> Scripted {
            Scripted { data, pos: 0, limits: limits.iter().copied().collect(), calls: 0, fail_at: None, eintr: 0 }
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.read_vectored(&mut [IoSliceMut::new(buf)])
        }
        fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.eintr > 0 {
                self.eintr -= 1;
                return Err(ErrorKind::Interrupted.into());
            }
            if self.fail_at.is_some_and(|f| self.pos >= f) {
                return Err(std::io::Error::other("disk on fire"));
            }
            let mut left = self.limits.pop_front().unwrap_or(usize::MAX).min(self.data.len() - self.pos);
            if let Some(f) = self.fail_at {
                left = left.min(f - self.pos);
            }
            let mut got = 0;
            for b in bufs.iter_mut() {
                let n = b.len().min(left);
                b[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
                self.pos += n;
                got += n;
                left -= n;
                if left == 0 {
                    break;
                }
            }
            Ok(got)
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// Runs the reader loop over `input`; returns the delivered rooms and
    /// how it ended.
    fn run(input: &mut dyn Read, chunk: usize, burst: usize, budget: usize) -> (Vec<Vec<u8>>, ReadEnd) {
        let budget = Cell::new(budget);
        let mut src = VecRooms { chunk, budget: &budget };
        let mut out = Vec::new();
        let end = read_chunks(input, &mut src, chunk, burst, &|| false, &mut || panic!("no room"), |mut r, n| {
            assert_eq!(r.len(), chunk, "rooms are chunk-sized");
            r.truncate(n);
            out.push(r);
            budget.set(budget.get() + 1);
            true
        });
        (out, end)
    }

    /// Every chunk full but the last, which is short and not empty; the
    /// bytes are the input's, in order.
    fn assert_chunks(out: &[Vec<u8>], data: &[u8], chunk: usize) {
        let (last, full) = out.split_last().map_or((None, &[][..]), |(l, f)| (Some(l), f));
        assert!(full.iter().all(|c| c.len() == chunk), "sizes {:?}", out.iter().map(Vec::len).collect::<Vec<_>>());
        if let Some(l) = last {
            assert!(!l.is_empty() && l.len() <= chunk, "last chunk {}", l.len());
        }
        assert_eq!(out.len(), data.len().div_ceil(chunk));
        assert!(out.concat() == data, "bytes differ");
    }

    #[test]
    fn one_call_fills_a_whole_burst_of_rooms() {
        let data = pattern(10 * 100 + 50);
        let mut input = Scripted::new(data.clone(), &[]);
        let (out, end) = run(&mut input, 100, 4, 1000);
        assert_eq!(end, ReadEnd::Eof);
        assert_chunks(&out, &data, 100);
        // 4 + 4 + 2.5 rooms, then the call that sees the end.
        assert_eq!(input.calls, 4);
    }

    #[test]
    fn short_reads_mid_stream_are_completed_by_the_next_call() {
        let data = pattern(2000);
        // Odd sizes: inside a room, across rooms, one byte, exactly one room.
        let mut input = Scripted::new(data.clone(), &[150, 37, 1, 500, 12, 100, 3, 999, 1, 1]);
        let (out, end) = run(&mut input, 100, 8, 1000);
        assert_eq!(end, ReadEnd::Eof);
        assert_chunks(&out, &data, 100);
        assert_eq!(out.len(), 20);
    }

    #[test]
    fn eof_exactly_at_a_chunk_boundary_adds_no_empty_chunk() {
        for limits in [&[][..], &[100, 100, 100, 100][..], &[399, 1][..]] {
            let data = pattern(400);
            let mut input = Scripted::new(data.clone(), limits);
            let (out, end) = run(&mut input, 100, 3, 1000);
            assert_eq!(end, ReadEnd::Eof);
            assert_chunks(&out, &data, 100);
            assert_eq!(out.len(), 4, "{limits:?}");
        }
    }

    #[test]
    fn eof_mid_chunk_gives_one_short_last_chunk() {
        let data = pattern(455);
        let mut input = Scripted::new(data.clone(), &[420]);
        let (out, end) = run(&mut input, 100, 64, 1000);
        assert_eq!(end, ReadEnd::Eof);
        assert_chunks(&out, &data, 100);
        assert_eq!(out.last().unwrap().len(), 55);
        assert_eq!(input.calls, 3); // 420, then 35 (short: not yet the end), then 0
    }

    #[test]
    fn empty_input_delivers_nothing() {
        let mut input = Scripted::new(Vec::new(), &[]);
        let (out, end) = run(&mut input, 100, 4, 1000);
        assert_eq!((out.len(), end, input.calls), (0, ReadEnd::Eof, 1));
    }

    #[test]
    fn an_error_keeps_what_was_delivered_and_drops_the_partial_room() {
        let data = pattern(1000);
        let mut input = Scripted::new(data.clone(), &[250]);
        input.fail_at = Some(530);
        let (out, end) = run(&mut input, 100, 4, 1000);
        assert_eq!(end, ReadEnd::Error("reading input: disk on fire".into()));
        assert_eq!(out.len(), 5);
        assert!(out.concat() == data[..500], "delivered prefix");
    }

    #[test]
    fn interrupted_reads_are_retried() {
        let data = pattern(300);
        let mut input = Scripted::new(data.clone(), &[]);
        input.eintr = 2;
        let (out, end) = run(&mut input, 100, 4, 1000);
        assert_eq!(end, ReadEnd::Eof);
        assert_chunks(&out, &data, 100);
    }

    #[test]
    fn a_nearly_empty_pool_shrinks_the_burst_and_an_empty_one_waits() {
        let data = pattern(1000);
        let mut input = Scripted::new(data.clone(), &[]);
        let budget = Cell::new(0); // empty at first: idle() refills 3
        let mut src = VecRooms { chunk: 100, budget: &budget };
        let idles = Cell::new(0);
        let mut out = Vec::new();
        let end = read_chunks(
            &mut input,
            &mut src,
            100,
            64,
            &|| false,
            &mut || {
                idles.set(idles.get() + 1);
                budget.set(3);
            },
            |r, n| {
                out.push(r[..n].to_vec());
                true // not given back: the pool drains
            },
        );
        assert_eq!(end, ReadEnd::Eof);
        assert_chunks(&out, &data, 100);
        assert_eq!(idles.get(), 4, "waited each time the rooms ran out");
        assert_eq!(input.calls, 4 + 1, "three rooms per call, then the end");
    }

    #[test]
    fn deliver_or_stop_flag_stops_the_reader() {
        let data = pattern(1000);
        let mut input = Scripted::new(data.clone(), &[]);
        let budget = Cell::new(1000);
        let mut src = VecRooms { chunk: 100, budget: &budget };
        let mut n = 0;
        let end = read_chunks(&mut input, &mut src, 100, 4, &|| false, &mut || {}, |_, _| {
            n += 1;
            n < 2
        });
        assert_eq!((end, n, input.calls), (ReadEnd::Stopped, 2, 1));
        let mut input = Scripted::new(data, &[]);
        let end = read_chunks(&mut input, &mut src, 100, 4, &|| true, &mut || {}, |_, _| true);
        assert_eq!((end, input.calls), (ReadEnd::Stopped, 0));
    }

    /// Counts read calls on a real descriptor.
    struct Counted<R>(R, usize);

    impl<R: Read> Read for Counted<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 += 1;
            self.0.read(buf)
        }
        fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> std::io::Result<usize> {
            self.1 += 1;
            self.0.read_vectored(bufs)
        }
    }

    #[test]
    fn a_file_is_read_a_burst_per_readv() {
        let data = pattern(64 * 1424 * 3 + 1000);
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        std::io::Seek::rewind(&mut f).unwrap();
        let mut input = Counted(f, 0);
        let (out, end) = run(&mut input, 1424, 64, 10_000);
        assert_eq!(end, ReadEnd::Eof);
        assert_chunks(&out, &data, 1424);
        assert_eq!(out.len(), 193);
        assert_eq!(input.1, 5, "three full bursts, the tail, the end");
    }

    #[test]
    fn a_pipe_written_in_odd_pieces_gives_full_chunks() {
        let data = pattern(1424 * 200 + 77);
        let (r, mut w) = std::io::pipe().unwrap();
        let to_write = data.clone();
        let writer = std::thread::spawn(move || {
            let sizes = [1usize, 7, 1423, 1425, 3333, 65536, 2, 999, 100_000];
            let mut pos = 0;
            for s in sizes.iter().cycle() {
                if pos == to_write.len() {
                    break;
                }
                let end = (pos + s).min(to_write.len());
                w.write_all(&to_write[pos..end]).unwrap();
                pos = end;
            }
        });
        let mut input = Counted(r, 0);
        let (out, end) = run(&mut input, 1424, 64, 10_000);
        writer.join().unwrap();
        assert_eq!(end, ReadEnd::Eof);
        assert_chunks(&out, &data, 1424);
    }
}
