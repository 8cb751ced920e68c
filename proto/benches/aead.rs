//! AES-256-GCM sealing and opening throughput per core, as the keyed session does it
//! (`DirectionKeys::seal` with a scattered payload, `open` in place), at 1500- and
//! 9000-byte packets; CRC32C over the same bytes for comparison; and the two Rust AEAD
//! libraries side by side on the same call (`seal_in_place_separate_tag`, the API both
//! offer): aws-lc-rs, which the protocol uses, and `ring` (a dev-dependency, here only).
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

/// Best ns per packet over 5 rounds of `n` calls of `f`.
fn best_ns(n: usize, mut f: impl FnMut(u64)) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let (t0, c0) = (Instant::now(), cpu_ns());
        for pn in 0..n as u64 {
            f(pn);
        }
        let ns = if cpu_ns() > 0 { cpu_ns() - c0 } else { t0.elapsed().as_nanos() };
        best = best.min(ns as f64 / n as f64);
    }
    best
}

/// aws-lc-rs against ring, sealing in place (tag apart) with a 48-byte header as AAD.
fn libraries(payload_len: usize) {
    let key = [7u8; 32];
    let aws = aws_lc_rs::aead::LessSafeKey::new(
        aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &key).unwrap(),
    );
    let rng = ring::aead::LessSafeKey::new(ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &key).unwrap());
    let header = [0x5au8; 48];
    let mut buf = vec![0xa5u8; payload_len];
    let n = 200_000_000 / payload_len;
    let nonce = |pn: u64| {
        let mut b = [0u8; 12];
        b[4..].copy_from_slice(&pn.to_be_bytes());
        b
    };
    let aws_ns = best_ns(n, |pn| {
        let nn = aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce(pn));
        let tag = aws.seal_in_place_separate_tag(nn, aws_lc_rs::aead::Aad::from(&header), &mut buf).unwrap();
        black_box(tag.as_ref());
    });
    let ring_ns = best_ns(n, |pn| {
        let nn = ring::aead::Nonce::assume_unique_for_key(nonce(pn));
        let tag = rng.seal_in_place_separate_tag(nn, ring::aead::Aad::from(&header), &mut buf).unwrap();
        black_box(tag.as_ref());
    });
    println!(
        "payload {payload_len:>5} B: seal in place, aws-lc-rs {:.2} GB/s ({:.0} ns), ring {:.2} GB/s ({:.0} ns): aws-lc-rs {:.2}x ring",
        rate(payload_len, 1, aws_ns as u128),
        aws_ns,
        rate(payload_len, 1, ring_ns as u128),
        ring_ns,
        ring_ns / aws_ns
    );
}

fn main() {
    for payload_len in [1500 - 20 - 8 - 48 - TAG_LEN, 9000 - 20 - 8 - 48 - TAG_LEN] {
        libraries(payload_len);
    }
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
