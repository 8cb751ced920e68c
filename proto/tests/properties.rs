//! Property tests over random seeds and fault mixes: the received bytes equal the sent
//! bytes and the digest verifies, every time, and the transfer ends within a stated
//! bound.
//!
//! Each seed derives a whole scenario (paths, rates, delays, faults, chunk size, window,
//! ACK frequency, digest, stream length). `STRIPECAT_SEED=n` replays one seed;
//! `STRIPECAT_SEEDS=n` runs n seeds (default 64).

use stripecat_proto::sim::{GilbertElliott, LinkConfig, Rng, Scenario};
use stripecat_proto::time::{Duration, Instant};
use stripecat_proto::wire::DigestAlgorithm;

/// Virtual-time bound for any generated scenario (at most 1.5 MiB over paths of at
/// least 20 Mbit/s with at most 5% loss each way; the slowest ideal time is ~0.6 s).
const BOUND: Duration = Duration::from_secs(20);

fn link(rng: &mut Rng) -> LinkConfig {
    let mbps = [20, 100, 400, 1000][rng.below(4) as usize];
    let delay = Duration::from_micros(50 + rng.below(3000));
    let mut l = LinkConfig::clean(mbps, delay, 1 + rng.below(4));
    l.jitter = Duration::from_micros(rng.below(300));
    l.loss = rng.below(6) as f64 / 100.0;
    l.reorder = rng.below(6) as f64 / 100.0;
    l.reorder_delay = Duration::from_micros(rng.below(2000));
    l.duplicate = rng.below(4) as f64 / 100.0;
    l.corrupt = rng.below(4) as f64 / 100.0;
    if rng.chance(0.2) {
        l.burst = Some(GilbertElliott { enter_bad: 0.01, leave_bad: 0.3, loss_in_bad: 0.5 });
    }
    l
}

pub fn scenario(seed: u64) -> Scenario {
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9));
    let paths = 1 + rng.below(4) as u16;
    let len = rng.below(1_500_000) + if rng.chance(0.1) { 0 } else { 1 };
    let mut sc = Scenario::new(seed, paths, LinkConfig::clean(1, Duration::ZERO, 1), len);
    sc.forward = (0..paths).map(|_| link(&mut rng)).collect();
    sc.backward = (0..paths).map(|_| link(&mut rng)).collect();
    if paths > 1 && rng.chance(0.3) {
        // One path goes down for a while (maybe for good).
        let p = rng.below(paths as u64) as usize;
        let from = Instant::from_micros(rng.below(100_000));
        let to =
            if rng.chance(0.5) { Instant::from_secs(1000) } else { from + Duration::from_micros(rng.below(300_000)) };
        sc.forward[p].outages.push((from, to));
        sc.backward[p].outages.push((from, to));
    }
    sc.sender.chunk_size = [512, 1024, 1400, 4096, 8192][rng.below(5) as usize];
    sc.sender.digest = if rng.chance(0.3) { DigestAlgorithm::Blake3 } else { DigestAlgorithm::Xxh3_128 };
    sc.receiver.window = sc.sender.chunk_size as u64 * (16 + rng.below(2000));
    sc.receiver.ack_every = 1 + rng.below(32) as u32;
    sc.time_limit = BOUND;
    sc
}

fn seeds() -> Vec<u64> {
    if let Some(s) = std::env::var("STRIPECAT_SEED").ok().and_then(|v| v.parse().ok()) {
        return vec![s];
    }
    let n = std::env::var("STRIPECAT_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    (1..=n).collect()
}

#[test]
fn every_seed_delivers_identical_bytes_with_a_verified_digest_within_the_bound() {
    for seed in seeds() {
        let sc = scenario(seed);
        let r = sc.build().run();
        println!("{}", r.summary());
        assert!(
            r.completed_at.is_some_and(|t| t - Instant::ZERO <= BOUND),
            "not done within {BOUND}; replay with STRIPECAT_SEED={seed}: {}",
            r.summary()
        );
        if r.sender_state != stripecat_proto::SenderState::Done || !r.bytes_match {
            panic!("replay with STRIPECAT_SEED={seed}: {}", r.summary());
        }
        r.assert_intact();
    }
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let a = scenario(77).build().run();
    let b = scenario(77).build().run();
    assert_eq!(a.summary(), b.summary());
    assert_eq!(a.progress, b.progress);
}
