//! End-to-end transfer over two net_af_packet links on two veth pairs
//! (`qdisc_bypass=0`, so the frames go through the kernel's qdisc as a
//! shaped link would): two processes, 64 MiB of random data, compared byte
//! for byte (and by the protocol's digest: both ends exit 0).

mod common;

use std::time::{Duration, Instant};

use common::dpdk::DpdkTest;
use common::transfer::{assert_every_path_used, assert_file_transfer, input_output, Links};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn af_packet_two_links_64mib() {
    let Some(t) = DpdkTest::start("afp2", LIMIT + Duration::from_secs(30)) else { return };
    let l = Links::new("scp", 2);
    let (input, output) = input_output(&t, 64 << 20, 0xaf9a_c4e7);
    let began = Instant::now();
    assert_file_transfer(&t, Some(&l.ns), &l.recv_ports(), &l.send_ports(), &[], &[], &input, &output, LIMIT);
    eprintln!("af_packet 2 links, 64 MiB: {:.1} s", began.elapsed().as_secs_f64());
}

#[test]
fn af_packet_two_lcores_with_fanout_queues() {
    // `qpairs=2`: the kernel's fanout spreads flows over the two queues by
    // hash, so a path's frames can land on the other lane's queue and must
    // be moved to the lane that owns the path. Every path still carries
    // data and the output is exact.
    let Some(t) = DpdkTest::start("afp-lanes", LIMIT + Duration::from_secs(30)) else { return };
    let l = Links::new("scl", 2);
    let (input, output) = input_output(&t, 32 << 20, 0x1a9e);
    let stats = t.path("send.json");
    let ports = |ps: Vec<String>| -> Vec<String> { ps.into_iter().map(|p| p + ",qpairs=2").collect() };
    let stats_arg = stats.display().to_string();
    let extra = ["--queues", "2", "--lcores", "0-1"];
    let send_only = ["--stats-json", stats_arg.as_str()];
    let (recv_ports, send_ports) = (ports(l.recv_ports()), ports(l.send_ports()));
    assert_file_transfer(&t, Some(&l.ns), &recv_ports, &send_ports, &extra, &send_only, &input, &output, LIMIT);
    assert_every_path_used(&stats, 4);
}
