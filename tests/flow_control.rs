//! Flow control on the real data plane: a slow reader of the receiver's
//! output holds the sender back, through a pause longer than the sender's
//! give-up bound, and neither end grows past the memory budget of
//! docs/DATAPLANE.md. Two `stripecat` processes over net_af_packet on veth
//! pairs, the receiver in its own network namespace.

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::data::{stream_chunk, FEED_CHUNK};
use common::dpdk::DpdkTest;
use common::transfer::{assert_both_ok, finish, Links};

/// A "kB" field of /proc/PID/status, 0 when the process is gone.
fn status_kib(pid: u32, field: &str) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    s.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')
                .map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

#[test]
fn slow_reader_holds_the_sender_back_within_the_memory_budget() {
    let Some(t) = DpdkTest::start("rel-slowread", Duration::from_secs(120)) else { return };
    let l = Links::new("rlw", 2);
    const TOTAL: u64 = 64 << 20;
    // Bytes per second the reader takes.
    const RATE: u64 = 8 << 20;
    // After this much, the reader stops for PAUSE: longer than the sender's
    // 10 s give-up bound, which must not end a transfer whose receiver is
    // alive and merely not read.
    const PAUSE_AT: u64 = 16 << 20;
    const PAUSE: Duration = Duration::from_secs(12);
    let seed = 0x510e;
    let mut r = l.start_recv(&t, None, &[], Stdio::piped());
    let mut s = l.start_send(&t, None, &[]);
    let (rpid, spid) = (r.child.id(), s.child.id());

    // The sender's input: as fast as the sender takes it.
    let fed = Arc::new(AtomicU64::new(0));
    let mut stdin = s.child.stdin.take().unwrap();
    let f = fed.clone();
    let feeder = std::thread::spawn(move || {
        for k in 0..TOTAL / FEED_CHUNK as u64 {
            if stdin.write_all(&stream_chunk(seed, k)).is_err() {
                return;
            }
            f.fetch_add(FEED_CHUNK as u64, Ordering::Relaxed);
        }
    });
    // The receiver's output: RATE bytes per second, checked as it comes.
    let read = Arc::new(AtomicU64::new(0));
    let mut stdout = r.child.stdout.take().unwrap();
    let rd = read.clone();
    let reader = std::thread::spawn(move || -> Result<(), String> {
        let mut began = Instant::now();
        let mut paused = false;
        let mut buf = vec![0u8; 64 << 10];
        let mut n = 0u64;
        let mut want = stream_chunk(seed, 0);
        loop {
            let got = stdout.read(&mut buf).map_err(|e| e.to_string())?;
            if got == 0 {
                return Ok(());
            }
            for &b in &buf[..got] {
                let k = n / FEED_CHUNK as u64;
                let i = (n % FEED_CHUNK as u64) as usize;
                if i == 0 && k > 0 {
                    want = stream_chunk(seed, k);
                }
                if b != want[i] {
                    return Err(format!("output byte {n} differs from the input"));
                }
                n += 1;
            }
            rd.store(n, Ordering::Relaxed);
            if n >= PAUSE_AT && !paused {
                paused = true;
                std::thread::sleep(PAUSE);
                began += PAUSE;
            }
            let due = Duration::from_secs_f64(n as f64 / RATE as f64);
            if let Some(wait) = due.checked_sub(began.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    });

    // Sample while both run: how far the sender's input is ahead of the
    // reader, and both ends' memory.
    let (mut max_ahead, mut read_when_sender_left) = (0u64, None);
    let (mut hwm, mut huge) = ([0u64; 2], [0u64; 2]);
    let end = Instant::now() + Duration::from_secs(90);
    while Instant::now() < end {
        let (f, rd) = (fed.load(Ordering::Relaxed), read.load(Ordering::Relaxed));
        max_ahead = max_ahead.max(f.saturating_sub(rd));
        for (i, pid) in [spid, rpid].into_iter().enumerate() {
            hwm[i] = hwm[i].max(status_kib(pid, "VmHWM"));
            huge[i] = huge[i].max(status_kib(pid, "HugetlbPages"));
        }
        if read_when_sender_left.is_none() && s.child.try_wait().unwrap().is_some() {
            read_when_sender_left = Some(read.load(Ordering::Relaxed));
        }
        if r.child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    feeder.join().unwrap();
    let checked = reader.join().unwrap();
    let so = finish(s, Duration::from_secs(10));
    let ro = finish(r, Duration::from_secs(10));
    let total_read = read.load(Ordering::Relaxed);
    eprintln!(
        "slow reader: input ahead of the reader by at most {:.1} MiB; sender left with {:?} of {TOTAL} bytes read; \
         peak RSS send/recv {}/{} KiB, hugetlb {}/{} KiB",
        max_ahead as f64 / (1 << 20) as f64,
        read_when_sender_left,
        hwm[0],
        hwm[1],
        huge[0],
        huge[1]
    );
    assert_both_ok(&so, &ro);
    checked.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(total_read, TOTAL, "the reader got the whole stream");
    // Held back: the input runs ahead of the reader by no more than what the
    // receiver's window (32 MiB), its writer queue (8192 chunks, 11 MiB) and
    // the sender's read-ahead (2048 chunks, 3 MiB) hold, with margin; and it
    // did fill them (the reader was the bottleneck, not the network).
    assert!(max_ahead <= 64 << 20, "the input ran {max_ahead} bytes ahead of the reader");
    assert!(
        max_ahead >= 16 << 20,
        "the input was never more than {max_ahead} bytes ahead: the reader was not the bottleneck"
    );
    // The sender could not finish before the reader had nearly everything:
    // the FIN-ACK waits for the receiver's output.
    let left_at = read_when_sender_left.unwrap_or(TOTAL);
    assert!(left_at >= TOTAL - (4 << 20), "the sender left when only {left_at} bytes were read");
    // Memory within the budget of docs/DATAPLANE.md, with margin.
    for (i, who) in ["sender", "receiver"].iter().enumerate() {
        assert!(huge[i] > 0 && huge[i] <= 160 << 10, "{who}: {} KiB of hugepages", huge[i]);
        assert!(hwm[i] > 0 && hwm[i] <= 128 << 10, "{who}: peak RSS {} KiB", hwm[i]);
    }
}
