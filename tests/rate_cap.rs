//! `send --rate`: the session's payload cap across every path, end to end over two memif
//! links. Checked loosely (the "within 10%" holds in the simulator, where time is
//! exact; here another process may take the CPU): never more than 10% over the cap, and
//! not under half of it. The cap shows in `--stats-json`.

mod common;

use std::time::Duration;

use common::dpdk::DpdkTest;
use common::transfer::memif_transfer;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_capped_transfer_over_two_memif_links_keeps_to_the_cap() {
    let Some(t) = DpdkTest::start("rate-cap", LIMIT + Duration::from_secs(30)) else { return };
    // 400 Mbit/s = 50 MB/s of payload: 64 MiB take about 1.3 s.
    let [v, _] = memif_transfer(&t, 64 << 20, 0x7a7e, &[], &["--rate", "400M"], LIMIT);
    assert_eq!(v["rate_cap_bps"], 400e6, "{v}");
    let goodput = v["goodput_bps"].as_f64().expect("goodput in the stats");
    assert!(goodput <= 400e6 * 1.10, "{goodput:.0} bit/s over a 400 Mbit/s cap: {v}");
    assert!(goodput >= 400e6 * 0.50, "{goodput:.0} bit/s, under half of the 400 Mbit/s cap: {v}");
    // Both links carried some of it: the cap is shared, not a single path's.
    for p in v["paths"].as_array().expect("paths") {
        assert!(p["bytes"].as_u64().unwrap_or(0) > 4 << 20, "{p}");
    }
}

#[test]
fn a_bad_rate_is_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stripecat"))
        .args(["send", "--rate", "fast", "--port", "net_null0", "/dev/null"])
        .output()
        .expect("run stripecat");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a rate like"), "{err}");
}
