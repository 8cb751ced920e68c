//! A driver that digests the stream itself (`Sender::write_digested` and
//! `Sender::finish_digested`, as the DPDK reader thread does while the bytes are in its
//! cache): the FIN carries its digest, and the receiver verifies it as it verifies the
//! protocol's own, for every algorithm, under loss, with keys and when resuming.

use stripecat_proto::sim::{LinkConfig, Report, Scenario};
use stripecat_proto::time::Duration;
use stripecat_proto::wire::DigestAlgorithm;
use stripecat_proto::Psk;

const MB: u64 = 1 << 20;

fn scenario(seed: u64, alg: DigestAlgorithm) -> Scenario {
    let mut sc = Scenario::new(seed, 3, LinkConfig::clean(1000, Duration::from_micros(300), 1), 3 * MB + 77);
    sc.sender.digest = alg;
    sc.driver_digest = true;
    sc
}

fn run(sc: &Scenario) -> Report {
    let r = sc.build().run();
    println!("{}", r.summary());
    r
}

#[test]
fn a_driver_digest_is_verified_like_the_protocols_own() {
    for (seed, alg) in [(1, DigestAlgorithm::Xxh3_128), (2, DigestAlgorithm::Blake3), (3, DigestAlgorithm::None)] {
        let r = run(&scenario(seed, alg));
        r.assert_intact();
        // The same stream digested by the protocol ends the same way.
        let mut own = scenario(seed, alg);
        own.driver_digest = false;
        run(&own).assert_intact();
    }
}

#[test]
fn a_driver_digest_survives_loss_keys_and_zero_runs() {
    let mut sc = scenario(4, DigestAlgorithm::Xxh3_128);
    for l in &mut sc.forward {
        l.loss = 0.02;
    }
    sc.zero_runs = vec![(MB, 2 * MB)];
    sc.sender.zeros = true;
    let psk = Psk::from_bytes([9; 32]);
    sc.sender.key = Some(psk.clone());
    sc.receiver.key = Some(psk);
    let r = run(&sc);
    r.assert_intact();
    assert!(r.sender.paths.resends > 0, "seed 4: no loss happened: {}", r.summary());
}

#[test]
fn a_resumed_driver_digest_covers_the_prefix_too() {
    for (seed, held, alg) in
        [(5, MB + 3, DigestAlgorithm::Xxh3_128), (6, 2 * MB, DigestAlgorithm::Blake3), (7, MB, DigestAlgorithm::None)]
    {
        let sc = scenario(seed, alg).resume_after(held);
        let mut sim = sc.build();
        while sim.step() && !sim.is_done() {}
        let r = sim.report();
        r.assert_intact();
        assert_eq!(sim.receiver.resumed_from(), Some(held), "seed {seed}");
        assert_eq!(r.receiver.delivered, 3 * MB + 77 - held, "seed {seed}");
    }
}
