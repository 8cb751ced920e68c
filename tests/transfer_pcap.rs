//! End-to-end transfer over net_pcap on a veth pair (`iface=`, the mode CI
//! users ask for: no hugepage-hungry driver, no NIC): sender on one end,
//! receiver on the other, two processes, random data compared byte for
//! byte (and by the protocol's digest: both ends exit 0).

mod common;

use std::time::{Duration, Instant};

use common::transfer::{assert_both_ok, assert_same_file, file_transfer, random_file};
use common::{veth_pair, DpdkTest};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn pcap_on_a_veth_pair_64mib() {
    let Some(t) = DpdkTest::start("pcap64", LIMIT + Duration::from_secs(30)) else { return };
    let id = std::process::id() % 100_000;
    let (a, b) = (format!("scc{id}s"), format!("scc{id}r"));
    veth_pair(&a, &b, 1500);
    let input = t.path("in.bin");
    let output = t.path("out.bin");
    random_file(&input, 64 << 20, 0x9ca9_0001);
    let began = Instant::now();
    let (s, r) = file_transfer(
        &t,
        &[format!("net_pcap0,iface={b}")],
        &[format!("net_pcap0,iface={a}")],
        &[],
        &[],
        &input,
        &output,
        LIMIT,
    );
    eprintln!("pcap, 64 MiB: {:.1} s", began.elapsed().as_secs_f64());
    assert_both_ok(&s, &r);
    assert_same_file(&input, &output);
}
