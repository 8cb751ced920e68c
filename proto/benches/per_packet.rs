//! Protocol CPU per packet, sender side and receiver side, excluding I/O, CRC32C and
//! the stream digest; then CRC32C, XXH3-128 and BLAKE3 throughput per core.
//!
//! Not a test: a timed loop. Run with
//! `CARGO_TARGET_DIR=/work/target-proto cargo bench -p stripecat-proto`.
//!
//! The packet loop uses the per-lcore pieces directly (what the DPDK driver calls):
//! sender = `SenderShared::push` (reader) + `PathSender::poll_transmit` + header emit +
//! `PathSender::handle_ack` (one ACK per 16 packets); receiver = header parse (no CRC) +
//! `PathReceiver::handle_chunk` + `Reassembler` hand-off and in-order delivery +
//! `PathReceiver::poll_transmit` (ACK generation). Payloads are `SharedBytes` handles,
//! never copied.

use std::hint::black_box;
use std::time::Instant as WallClock;

use stripecat_proto::config::SenderConfig;
use stripecat_proto::congestion::CongestionConfig;
use stripecat_proto::time::{Duration, Instant};
use stripecat_proto::wire::{Frame, HeaderRepr, Packet, HEADER_LEN};
use stripecat_proto::{
    PathReceiver, PathSender, Payload, Piece, Reassembler, ReceiverShared, SenderShared, SharedBytes,
};

const CHUNK: usize = 8192;
/// Packets per phase: long enough (~100 µs) that reading the thread's CPU clock
/// between phases costs well under 1%, short enough to stay in cache.
const BATCH: usize = 1024;

/// Nanoseconds this thread has spent on a CPU (`/proc/thread-self/schedstat`), so
/// preemption by other processes on this shared 2-core machine does not count.
/// Falls back to 0 (wall-clock figures only) where unavailable.
fn cpu_ns() -> u128 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Wall and on-CPU nanoseconds per packet for one side.
#[derive(Clone, Copy)]
struct Cost {
    wall: f64,
    cpu: f64,
}

/// With `zeros`, the session takes ZEROS records: every chunk is checked for zeros
/// before it goes (the data is not zero, so every check fails, on its first bytes).
fn per_packet(packets: u64, zeros: bool) -> (Cost, Cost) {
    let cfg = SenderConfig {
        chunk_size: CHUNK as u16,
        congestion: CongestionConfig::Fixed { window: 1 << 40 },
        ..SenderConfig::default()
    };
    let tx_shared: SenderShared<SharedBytes> = SenderShared::new(7, CHUNK as u16, 2 * BATCH);
    tx_shared.set_established();
    tx_shared.set_zeros(zeros);
    tx_shared.on_feedback(0, u64::MAX / 2);
    let mut path = PathSender::new(0, &cfg);
    let rx_shared: ReceiverShared<SharedBytes> = ReceiverShared::new(2 * BATCH);
    let window = 4 * BATCH as u64 * CHUNK as u64;
    rx_shared.serve(7, CHUNK as u64, window, None);
    let mut rx_path = PathReceiver::new(0, 16, Duration::from_micros(250));
    let mut reasm: Reassembler<SharedBytes> = Reassembler::new(CHUNK as u64, window);

    let data = SharedBytes::from(
        (0..CHUNK).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] | 1).collect::<Vec<u8>>(),
    );
    // Received datagrams are contiguous (header + payload) in the driver's mbuf.
    let mut wire = vec![vec![0u8; HEADER_LEN + CHUNK]; BATCH];
    let mut payloads: Vec<Option<SharedBytes>> = vec![None; BATCH];
    let mut now = Instant::from_millis(1);
    let (mut tx_ns, mut rx_ns, mut tx_cpu, mut rx_cpu) = (0u128, 0u128, 0u128, 0u128);
    let mut sent = 0u64;
    let mut delivered = 0u64;
    let mut acks = Vec::with_capacity(BATCH / 8);
    while sent < packets {
        // ---- sender: reader push, poll_transmit, header emit, ACK processing
        let (t, c) = (WallClock::now(), cpu_ns());
        for (k, buf) in wire.iter_mut().enumerate() {
            tx_shared.push(data.clone()).expect("credit and queue room");
            let tr = path.poll_transmit(now, &tx_shared).expect("window open");
            tr.repr.header.emit(&mut Packet::new_unchecked(&mut buf[..]));
            payloads[k] = tr.payload;
            now += Duration::from_micros(1);
        }
        for (h, a) in acks.drain(..) {
            path.handle_ack(now, &h, &a, &tx_shared);
        }
        tx_ns += t.elapsed().as_nanos();
        tx_cpu += cpu_ns() - c;
        sent += BATCH as u64;

        // ---- receiver: parse, per-path accept, hand-off, in-order delivery, ACKs
        let (t, c) = (WallClock::now(), cpu_ns());
        for (k, buf) in wire.iter().enumerate() {
            let h = HeaderRepr::parse(&Packet::new_unchecked(&buf[..])).expect("valid header");
            let payload = payloads[k].take().unwrap_or_else(|| unreachable!());
            let _ = rx_path.handle_chunk(now, &h, Piece::Bytes(payload.narrow(0..CHUNK)), &rx_shared);
            if let Some(ack) = rx_path.poll_transmit::<SharedBytes>(now, &rx_shared, 7) {
                if let Frame::Ack(a) = ack.repr.frame {
                    acks.push((ack.repr.header, *a));
                }
            }
        }
        reasm.drain_inbox(&rx_shared);
        while let Some(b) = reasm.poll_deliver(&rx_shared) {
            delivered += black_box(b).as_ref().len() as u64;
        }
        rx_ns += t.elapsed().as_nanos();
        rx_cpu += cpu_ns() - c;
    }
    assert_eq!(delivered, sent * CHUNK as u64, "every packet delivered in order");
    let n = sent as f64;
    (Cost { wall: tx_ns as f64 / n, cpu: tx_cpu as f64 / n }, Cost { wall: rx_ns as f64 / n, cpu: rx_cpu as f64 / n })
}

fn throughput(name: &str, total: usize, chunk: usize, mut f: impl FnMut(&[u8])) {
    let buf: Vec<u8> = (0..chunk).map(|i| (i * 31 + 7) as u8).collect();
    f(&buf); // warm up
    let t = WallClock::now();
    for _ in 0..total / chunk {
        f(black_box(&buf));
    }
    let s = t.elapsed().as_secs_f64();
    println!("{name:<28} {:>7.2} GB/s  ({} KiB blocks)", total as f64 / s / 1e9, chunk / 1024);
}

fn main() {
    // Warm up, then measure, alternating runs without and with the zero check.
    per_packet(200_000, false);
    let mut runs = vec![];
    let mut checked = vec![];
    for _ in 0..7 {
        for (zeros, into) in [(false, &mut runs), (true, &mut checked)] {
            let (tx, rx) = per_packet(2_000_000, zeros);
            println!(
                "per packet{}: sender {:6.1} ns wall {:6.1} ns on-CPU   receiver {:6.1} ns wall {:6.1} ns on-CPU",
                if zeros { " (zero check)" } else { "" },
                tx.wall,
                tx.cpu,
                rx.wall,
                rx.cpu
            );
            into.push((tx, rx));
        }
    }
    let median = |runs: &[(Cost, Cost)], f: &dyn Fn(&(Cost, Cost)) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!(
        "median of 7: sender {:6.1} ns wall {:6.1} ns on-CPU   receiver {:6.1} ns wall {:6.1} ns on-CPU   (target <= 100 ns/side)",
        median(&runs, &|r| r.0.wall),
        median(&runs, &|r| r.0.cpu),
        median(&runs, &|r| r.1.wall),
        median(&runs, &|r| r.1.cpu)
    );
    println!(
        "median of 7 with the zero check (data not zero): sender {:6.1} ns wall {:6.1} ns on-CPU",
        median(&checked, &|r| r.0.wall),
        median(&checked, &|r| r.0.cpu),
    );
    // The check on data that is zero: it reads the whole chunk (instead of a copy and a CRC).
    let zero = vec![0u8; CHUNK];
    let t = WallClock::now();
    let n = 2_000_000;
    for _ in 0..n {
        assert!(stripecat_proto::is_zero(black_box(&zero)));
    }
    println!("zero check of an all-zero 8 KiB chunk: {:6.1} ns", t.elapsed().as_nanos() as f64 / n as f64);

    let total = 2 << 30;
    throughput("CRC32C (crc32c, HW)", total, 8192, |b| {
        black_box(crc32c::crc32c(b));
    });
    throughput("CRC32C (crc32c, HW)", total, 64 * 1024, |b| {
        black_box(crc32c::crc32c(b));
    });
    let mut x = xxhash_rust::xxh3::Xxh3::new();
    throughput("XXH3-128 streaming", total, 8192, |b| x.update(b));
    black_box(x.digest128());
    let mut h = blake3::Hasher::new();
    throughput("BLAKE3 streaming (1 core)", total / 2, 8192, |b| {
        h.update(b);
    });
    black_box(h.finalize());
}
