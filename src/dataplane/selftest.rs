//! `stripecat selftest`: the main job with no NIC. Both ends run in one
//! process over crossed pairs of in-memory ring ports, through the real
//! poll loops, protocol, reader and writer threads; the end-to-end digest
//! is checked and the rate printed.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam::queue::ArrayQueue;
use stripecat_proto::{ReceiverConfig, ReceiverState, SenderConfig, SenderState};

use super::addr::{DEFAULT_RECEIVER_IP, DEFAULT_SENDER_IP};
use super::clock::TscClock;
use super::io::{self, ReaderShared, WriterShared};
use super::members::{self, FrameCounters};
use super::neighbor::Neighbors;
use super::receiver_loop::{RecvEnd, RecvLoop};
use super::run::{self, Signals, HEADROOM, INTAKE_CHUNKS, WINDOW_BYTES, WRITER_QUEUE};
use super::sender_loop::{SendEnd, SendLoop};
use crate::cli::{DigestArg, SelftestArgs, DEFAULT_UDP_PORT};
use crate::dpdk::{Mempool, ThreadRegistration};
use crate::exit::{ExitCode, Failure};
use crate::report::{bytes_text, rate_text, Progress};
use crate::startup::Startup;

/// Generated input: a random 4 MiB block, with the block number stamped
/// into every 4 KiB page so no two pages of the stream are alike (a
/// misplaced chunk changes the digest). A `Read`, so the reader thread fills
/// mbufs straight from it with no pipe in between.
pub struct Generator {
    block: Vec<u8>,
    pos: u64,
    size: u64,
}

const BLOCK: usize = 4 << 20;
const PAGE: usize = 4096;

impl Generator {
    pub fn new(size: u64) -> Generator {
        let mut block = vec![0u8; BLOCK];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for w in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        Generator { block, pos: 0, size }
    }

    /// The byte at stream offset `off` (what the output must hold).
    pub fn byte_at(&self, off: u64) -> u8 {
        let page = off / PAGE as u64;
        let in_page = (off % PAGE as u64) as usize;
        if in_page < 8 {
            page.to_le_bytes()[in_page]
        } else {
            self.block[(off % BLOCK as u64) as usize]
        }
    }
}

impl std::io::Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.size - self.pos;
        let n = (buf.len() as u64).min(left) as usize;
        let mut done = 0;
        while done < n {
            let off = self.pos + done as u64;
            let in_block = (off % BLOCK as u64) as usize;
            let take = (n - done).min(BLOCK - in_block);
            buf[done..done + take].copy_from_slice(&self.block[in_block..in_block + take]);
            // Stamp the page numbers that fall in this piece.
            let first_page = off.div_ceil(PAGE as u64);
            let mut page = first_page;
            while page * (PAGE as u64) < off + take as u64 {
                let at = (page * PAGE as u64 - off) as usize;
                let stamp = page.to_le_bytes();
                let k = (take - at).min(8);
                buf[done + at..done + at + k].copy_from_slice(&stamp[..k]);
                page += 1;
            }
            // A page number cut off at the start of this piece.
            let in_page = (off % PAGE as u64) as usize;
            if in_page != 0 && in_page < 8 {
                let stamp = (off / PAGE as u64).to_le_bytes();
                let k = (8 - in_page).min(take);
                buf[done..done + k].copy_from_slice(&stamp[in_page..in_page + k]);
            }
            done += take;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

pub fn run(args: &SelftestArgs, verbose: u8) -> Result<(), Failure> {
    let signals = Signals::install();
    let started = Startup { ports: Vec::new(), eal: args.eal.clone(), verbose, ..Default::default() }.start()?;
    let eal = started.eal;
    let env = run::alloc_failure;
    let links = args.links;
    let mtu = args.mtu;
    let chunk = run::chunk_for_mtu(mtu);
    let window_chunks = (WINDOW_BYTES / chunk as u64) as u32;

    // Input: a file, or generated data through a pipe.
    let (input, total, generator): (Box<dyn std::io::Read + Send>, u64, Option<std::thread::JoinHandle<()>>) =
        match &args.input {
            Some(p) => {
                let f = File::open(p).map_err(|e| {
                    Failure::new(ExitCode::Other, format!("cannot open input {}: {e}", p.display()))
                        .hint("check the path")
                })?;
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                (Box::new(f), len, None)
            }
            None => (Box::new(Generator::new(args.size)), args.size, None),
        };
    let output = match &args.output {
        Some(p) => File::create(p).map_err(|e| {
            Failure::new(ExitCode::Other, format!("cannot create output {}: {e}", p.display()))
                .hint("check the directory")
        })?,
        None => File::create("/dev/null").map_err(|e| Failure::new(ExitCode::Other, format!("/dev/null: {e}")))?,
    };

    // Crossed ring pairs: link i is port a_i (sender) <-> b_i (receiver).
    let mut a_ids = Vec::new();
    let mut b_ids = Vec::new();
    for i in 0..links {
        let (a, b) = eal.ring_port_pair(&format!("sc_st{i}"), 1, 4096).map_err(env)?;
        a_ids.push(a);
        b_ids.push(b);
    }
    let data_room = HEADROOM + (mtu + 64).max(2048);
    let s_rx = Arc::new(Mempool::new(&eal, "st_s_rx", 8192, 256, data_room, None).map_err(env)?);
    let s_hdr = Arc::new(Mempool::new(&eal, "st_s_hdr", 32768, 256, HEADROOM + 256, None).map_err(env)?);
    let s_data = Arc::new(
        Mempool::new(&eal, "st_s_data", window_chunks + 4096 + INTAKE_CHUNKS as u32 + 2048, 256, data_room, None)
            .map_err(env)?,
    );
    let r_rx = Arc::new(
        Mempool::new(&eal, "st_r_rx", window_chunks + WRITER_QUEUE as u32 + 8192, 256, data_room, None).map_err(env)?,
    );
    let r_hdr = Arc::new(Mempool::new(&eal, "st_r_hdr", 16384, 256, HEADROOM + 256, None).map_err(env)?);
    let mut s_members = members::open(&eal, &a_ids, &[], 1, mtu, &s_rx)?;
    let mut r_members = members::open(&eal, &b_ids, &[], 1, mtu, &r_rx)?;
    super::packet_check::assign(&mut s_members, args.packet_check, None);
    super::packet_check::assign(&mut r_members, args.packet_check, None);
    members::wait_links(&s_members, Duration::from_secs(5))?;
    members::wait_links(&r_members, Duration::from_secs(5))?;
    let r_mac = r_members[0].mac;

    // Receiver side.
    let receiver = stripecat_proto::Receiver::new(ReceiverConfig {
        paths: links,
        max_chunk_size: chunk,
        window: WINDOW_BYTES,
        ..Default::default()
    });
    let out_q = Arc::new(ArrayQueue::new(WRITER_QUEUE));
    let writer = Arc::new(WriterShared::default());
    let writer_thread = io::spawn_writer(&eal, output, out_q.clone(), writer.clone())
        .map_err(|e| Failure::new(ExitCode::Other, format!("writer thread: {e}")))?;
    let clock = TscClock::new(eal.tsc_hz());
    let rlp = RecvLoop::new(
        r_members,
        receiver,
        out_q,
        writer.clone(),
        r_hdr,
        r_rx.clone(),
        DEFAULT_RECEIVER_IP,
        DEFAULT_UDP_PORT,
        clock,
        false,
        Progress::new(None, true),
    );

    // Sender side.
    let digest = run::digest_alg(DigestArg::Xxh3);
    let sender = stripecat_proto::Sender::new(
        SenderConfig { paths: links, chunk_size: chunk, digest, total_len: Some(total), ..Default::default() },
        run::random_u64(),
        clock.now(),
    );
    let intake = Arc::new(ArrayQueue::new(INTAKE_CHUNKS));
    let reader = Arc::new(ReaderShared::default());
    let reader_thread = io::spawn_reader(&eal, input, s_data.clone(), chunk as usize, intake.clone(), reader.clone())
        .map_err(|e| Failure::new(ExitCode::Other, format!("reader thread: {e}")))?;
    let mut slp = SendLoop {
        neighbors: Neighbors::new(s_members.len(), Some(DEFAULT_RECEIVER_IP), Some(r_mac)),
        members: s_members,
        queues: 1,
        sender,
        intake,
        reader: reader.clone(),
        hdr_pool: s_hdr,
        local_ip: DEFAULT_SENDER_IP,
        peer_ip: DEFAULT_RECEIVER_IP,
        udp_port: DEFAULT_UDP_PORT,
        clock,
        busy_poll: false,
        arp_timeout_us: 5_000_000,
        counters: FrameCounters::default(),
        progress: Progress::new(Some(total), args.report.quiet),
        lanes: None,
    };

    let t0 = std::time::Instant::now();
    let eal2 = eal.clone();
    let check = signals.checker();
    let recv_thread = std::thread::Builder::new()
        .name("stripecat-selftest-recv".into())
        .spawn(move || {
            crate::dpdk::unpin_current_thread();
            let _reg = ThreadRegistration::register(&eal2).ok();
            let mut rlp = rlp;
            let end = rlp.run(&check);
            (rlp, end)
        })
        .map_err(|e| Failure::new(ExitCode::Other, format!("receiver thread: {e}")))?;
    let check = signals.checker();
    let send_end = slp.run(&check);
    let send_elapsed = t0.elapsed();
    // A failed sender leaves the receiver waiting for its idle timeout; an
    // interrupted one too. Both are bounded.
    let (mut rlp, recv_end) =
        recv_thread.join().map_err(|_| Failure::new(ExitCode::Other, "receiver loop panicked"))?;
    let elapsed = rlp.completed_at.map_or_else(|| t0.elapsed(), |t| t.duration_since(t0));
    writer.closing.store(true, Ordering::Release);
    let _ = writer_thread.join();
    reader.stop.store(true, Ordering::Relaxed);
    let _ = reader_thread.join();
    if let Some(g) = generator {
        drop(slp.intake.pop());
        let _ = g.join();
    }
    slp.progress.finish();
    rlp.progress.finish();
    while slp.intake.pop().is_some() {}

    let written = writer.written.load(Ordering::Acquire);
    let mut ssum = run::send_summary(&slp, digest, "selftest", send_elapsed);
    let mut rsum = run::recv_summary(&rlp, written, "selftest", elapsed);
    let ok = matches!(slp.sender.state(), SenderState::Done) && matches!(rlp.receiver.state(), ReceiverState::Complete);
    ssum.verified = Some(ok);
    rsum.verified = Some(ok);
    if signals.raised() {
        eprintln!("stripecat: selftest interrupted after {written} bytes");
        std::process::exit(signals.exit_code());
    }
    let result = if ok && written == total {
        if !args.report.quiet {
            eprintln!(
                "stripecat selftest: {} over {links} ring link{} in {:.2} s: {}; xxh3-128 digest verified; {} resends, {} chained datagrams joined",
                bytes_text(written),
                if links == 1 { "" } else { "s" },
                elapsed.as_secs_f64(),
                rate_text(written as f64 * 8.0 / elapsed.as_secs_f64().max(1e-9)),
                ssum.resends,
                rlp.joined,
            );
        }
        Ok(())
    } else {
        let why = match (&send_end, &recv_end, slp.sender.state(), rlp.receiver.state()) {
            (_, _, SenderState::Failed(e), _) => run::sender_failure(e),
            (_, _, _, ReceiverState::Failed(e)) => run::receiver_failure(e, written),
            (SendEnd::Input(e), _, _, _) => Failure::new(ExitCode::Other, e.clone()),
            (_, RecvEnd::Output(e), _, _) => Failure::new(ExitCode::Transfer, e.clone()),
            _ => Failure::new(ExitCode::Transfer, format!("selftest moved {written} of {total} bytes")),
        };
        Err(why)
    };
    if let Some(p) = &args.report.stats_json {
        let both = serde_json::json!({ "send": ssum, "recv": rsum });
        std::fs::write(p, serde_json::to_string_pretty(&both).unwrap_or_default() + "\n")
            .map_err(|e| Failure::new(ExitCode::Other, format!("cannot write {}: {e}", p.display())))?;
    }
    drop(slp);
    drop(rlp);
    drop(eal);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn generator_reads_agree_with_byte_at_whatever_the_piece_sizes() {
        let size = 3 * BLOCK as u64 + 12345;
        let mut g = Generator::new(size);
        let mut all = Vec::new();
        let mut buf = vec![0u8; 8923];
        let mut step = 1;
        loop {
            let want = (step * 977) % buf.len() + 1;
            let n = g.read(&mut buf[..want]).unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            step += 1;
        }
        assert_eq!(all.len() as u64, size);
        let g = Generator::new(size);
        for (i, b) in all.iter().enumerate().step_by(7) {
            assert_eq!(*b, g.byte_at(i as u64), "offset {i}");
        }
        // Pages differ even where the random block repeats.
        assert_ne!(&all[..PAGE], &all[BLOCK..BLOCK + PAGE]);
    }
}
