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
    ifaces.iter().enumerate().map(|(i, dev)| format!("net_af_packet{i},iface={dev},qdisc_bypass=0")).collect()
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
    let (s, r) = file_transfer_in(
        &t,
        Some(&ns),
        &af_packet_ports(&recv_if),
        &af_packet_ports(&send_if),
        &[],
        &[],
        &input,
        &output,
        LIMIT,
    );
    eprintln!("af_packet 2 links, 64 MiB: {:.1} s", began.elapsed().as_secs_f64());
    assert_both_ok(&s, &r);
    assert_same_file(&input, &output);
}

#[test]
fn af_packet_two_lcores_with_fanout_queues() {
    // `qpairs=2`: the kernel's fanout spreads flows over the two queues by
    // hash, so a path's frames can land on the other lane's queue and must
    // be moved to the lane that owns the path. Every path still carries
    // data and the output is exact.
    let Some(t) = DpdkTest::start("afp-lanes", LIMIT + Duration::from_secs(30)) else { return };
    let id = std::process::id() % 100_000;
    let send_if: Vec<String> = (0..2).map(|i| format!("scl{id}s{i}")).collect();
    let recv_if: Vec<String> = (0..2).map(|i| format!("scl{id}r{i}")).collect();
    for (s, r) in send_if.iter().zip(&recv_if) {
        veth_pair(s, r, 1500);
    }
    let ns = format!("scl{id}");
    netns_with(&ns, &[&recv_if[0], &recv_if[1]]);
    let input = t.path("in.bin");
    let output = t.path("out.bin");
    let stats = t.path("send.json");
    random_file(&input, 32 << 20, 0x1a9e);
    let ports = |ifs: &[String]| -> Vec<String> { af_packet_ports(ifs).into_iter().map(|p| p + ",qpairs=2").collect() };
    let stats_arg = stats.display().to_string();
    let extra = ["--queues", "2", "--lcores", "0-1"];
    let (s, r) = file_transfer_in(
        &t,
        Some(&ns),
        &ports(&recv_if),
        &ports(&send_if),
        &extra,
        &["--stats-json", &stats_arg],
        &input,
        &output,
        LIMIT,
    );
    assert_both_ok(&s, &r);
    assert_same_file(&input, &output);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    let paths = v["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 4, "{v}");
    for p in paths {
        assert!(p["packets"].as_u64().unwrap_or(0) > 100, "a path carried (almost) nothing: {p}");
    }
}
