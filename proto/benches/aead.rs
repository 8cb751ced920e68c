//! AES-256-GCM sealing and opening throughput per core, as the keyed session does it
//! (`DirectionKeys::seal` with a scattered payload, `open` in place), at 1500- and
//! 9000-byte packets; CRC32C over the same bytes for comparison.
//!
//! Not a test: a timed loop. Run with `cargo bench -p stripecat-proto --bench aead`.

use std::hint::black_box;
use std::time::Instant;

use stripecat_proto::crypto::{DirectionKeys, Space, TAG_LEN};

/// On-CPU nanoseconds of this thread (preemption on a shared machine does not count).
fn cpu_ns() -> u128 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn rate(bytes: usize, n: usize, ns: u128) -> f64 {
    (bytes * n) as f64 / ns.max(1) as f64
}

fn main() {
    let keys = DirectionKeys::new(&[1u8; 32], &[2u8; 32], 22);
    let header = [0x5au8; 48];
    for payload_len in [1500 - 20 - 8 - 48 - TAG_LEN, 9000 - 20 - 8 - 48 - TAG_LEN] {
        let payload = vec![0xa5u8; payload_len];
        let mut out = vec![0u8; payload_len + TAG_LEN];
        let n = 200_000_000 / payload_len;
        let mut best = [f64::MAX; 3];
        for _ in 0..5 {
            let (t0, c0) = (Instant::now(), cpu_ns());
            for pn in 0..n as u64 {
                keys.seal((Space::Path, 1, pn), &header, &mut [], &payload, &mut out).unwrap();
                black_box(&out);
            }
            let seal = if cpu_ns() > 0 { cpu_ns() - c0 } else { t0.elapsed().as_nanos() };
            let mut sealed = vec![0u8; payload_len + TAG_LEN];
            keys.seal((Space::Path, 1, 7), &header, &mut [], &payload, &mut sealed).unwrap();
            let mut buf = sealed.clone();
            let (t1, c1) = (Instant::now(), cpu_ns());
            for _ in 0..n {
                buf.copy_from_slice(&sealed);
                black_box(keys.open((Space::Path, 1, 7), &header, &mut buf).unwrap());
            }
            let open = if cpu_ns() > 0 { cpu_ns() - c1 } else { t1.elapsed().as_nanos() };
            let (t2, c2) = (Instant::now(), cpu_ns());
            for _ in 0..n {
                black_box(crc32c::crc32c(black_box(&payload)));
            }
            let crc = if cpu_ns() > 0 { cpu_ns() - c2 } else { t2.elapsed().as_nanos() };
            for (b, v) in best.iter_mut().zip([seal, open, crc]) {
                *b = b.min(v as f64 / n as f64);
            }
        }
        println!(
            "payload {payload_len:>5} B: seal {:.2} GB/s ({:.0} ns/packet), open {:.2} GB/s (incl. a copy back), crc32c {:.2} GB/s per core",
            rate(payload_len, 1, best[0] as u128),
            best[0],
            rate(payload_len, 1, best[1] as u128),
            rate(payload_len, 1, best[2] as u128)
        );
    }
}
