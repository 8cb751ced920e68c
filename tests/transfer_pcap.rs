//! End-to-end transfer over net_pcap on a veth pair (`iface=`, the mode CI
//! users ask for: no hugepage-hungry driver, no NIC): sender on one end,
//! receiver on the other, two processes, random data compared byte for
//! byte (and by the protocol's digest: both ends exit 0).

mod common;

use std::time::{Duration, Instant};

use common::dpdk::{veth_pair, DpdkTest};
use common::transfer::{assert_file_transfer, input_output};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn pcap_on_a_veth_pair_64mib() {
    let Some(t) = DpdkTest::start("pcap64", LIMIT + Duration::from_secs(30)) else { return };
    let id = std::process::id() % 100_000;
    let (a, b) = (format!("scc{id}s"), format!("scc{id}r"));
    veth_pair(&a, &b, 1500);
    let (input, output) = input_output(&t, 64 << 20, 0x9ca9_0001);
    let (recv_ports, send_ports) = ([format!("net_pcap0,iface={b}")], [format!("net_pcap0,iface={a}")]);
    let began = Instant::now();
    assert_file_transfer(&t, None, &recv_ports, &send_ports, &[], &[], &input, &output, LIMIT);
    eprintln!("pcap, 64 MiB: {:.1} s", began.elapsed().as_secs_f64());
}
