//! End-to-end transfer over two net_af_packet links on two veth pairs
//! (`qdisc_bypass=0`, so the frames go through the kernel's qdisc as a
//! shaped link would): two processes, 64 MiB of random data, compared byte
//! for byte (and by the protocol's digest: both ends exit 0).

mod common;

use std::time::{Duration, Instant};

use common::transfer::{assert_both_ok, assert_same_file, file_transfer_in, random_file};
use common::{netns_with, veth_pair, DpdkTest};

const LIMIT: Duration = Duration::from_secs(120);

/// `n` af_packet member specs on the given interfaces.
fn af_packet_ports(ifaces: &[String]) -> Vec<String> {
    ifaces
        .iter()
        .enumerate()
        .map(|(i, dev)| format!("net_af_packet{i},iface={dev},qdisc_bypass=0"))
        .collect()
}

#[test]
fn af_packet_two_links_64mib() {
    let Some(t) = DpdkTest::start("afp2", LIMIT + Duration::from_secs(30)) else { return };
    // Names unique per test process, at most 15 bytes: "scp" + 5 + "s0" = 10.
    let id = std::process::id() % 100_000;
    let send_if: Vec<String> = (0..2).map(|i| format!("scp{id}s{i}")).collect();
    let recv_if: Vec<String> = (0..2).map(|i| format!("scp{id}r{i}")).collect();
    for (s, r) in send_if.iter().zip(&recv_if) {
        veth_pair(s, r, 1500);
    }
    let ns = format!("scp{id}");
    netns_with(&ns, &[&recv_if[0], &recv_if[1]]);
    let input = t.path("in.bin");
    let output = t.path("out.bin");
    random_file(&input, 64 << 20, 0xaf9a_c4e7);
    let began = Instant::now();
    let (s, r) = file_transfer_in(&t, Some(&ns), &af_packet_ports(&recv_if), &af_packet_ports(&send_if), &[], &[], &input, &output, LIMIT);
    eprintln!("af_packet 2 links, 64 MiB: {:.1} s", began.elapsed().as_secs_f64());
    assert_both_ok(&s, &r);
    assert_same_file(&input, &output);
}
