//! End-to-end transfers over memif links between two processes: random
//! data, compared byte for byte (and by the protocol's digest, exit 0).

mod common;

use std::time::Duration;

use common::dpdk::DpdkTest;
use common::transfer::{assert_every_path_used, assert_file_transfer, input_output, memif_pair};

const LIMIT: Duration = Duration::from_secs(120);

fn memif_links(name: &str, links: usize, len: usize, extra: &[&str]) {
    memif_links_send(name, links, len, extra, &[])
}

fn memif_links_send(name: &str, links: usize, len: usize, extra: &[&str], send_only: &[&str]) {
    let Some(t) = DpdkTest::start(name, LIMIT + Duration::from_secs(30)) else { return };
    let jumbo = extra.windows(2).any(|w| w == ["--mtu", "9000"]);
    let (server, client) = memif_pair(&t, links, jumbo.then_some(16384));
    let (input, output) = input_output(&t, len, links as u64 * 7919 + len as u64);
    assert_file_transfer(&t, None, &server, &client, extra, send_only, &input, &output, LIMIT);
}

#[test]
fn memif_two_links_64mib() {
    memif_links("memif2", 2, 64 << 20, &[]);
}

#[test]
fn memif_four_links_64mib() {
    memif_links("memif4", 4, 64 << 20, &[]);
}

#[test]
fn length_not_a_multiple_of_the_chunk() {
    // 1500-byte MTU: chunk 1424; 1424 * 5000 + 77.
    memif_links("memif-odd", 2, 1424 * 5000 + 77, &[]);
}

#[test]
fn one_byte_and_one_chunk_exactly() {
    memif_links("memif-1b", 1, 1, &[]);
    memif_links("memif-1c", 1, 1424, &[]);
}

#[test]
fn empty_input() {
    memif_links("memif-empty", 2, 0, &[]);
}

#[test]
fn jumbo_frames_and_blake3() {
    memif_links_send("memif-jumbo", 2, 32 << 20, &["--mtu", "9000"], &["--digest", "blake3"]);
}

#[test]
fn file_far_larger_than_the_memory_budget() {
    // The budget is a 32 MiB window; 512 MiB is 16 times that.
    memif_links("memif-big", 2, 512 << 20, &["--mtu", "9000"]);
}

#[test]
fn two_lcores_two_queues_64mib() {
    // One lane per lcore; lane k owns queue k of both members (and the paths
    // on them); lane 0 also runs session control, the reassembler hand-off
    // and ARP. On this 2-core machine the two lanes of each end share the
    // CPUs with the other end: the point is correctness, not speed.
    let Some(t) = DpdkTest::start("memif-lanes", LIMIT + Duration::from_secs(30)) else { return };
    let (server, client) = memif_pair(&t, 2, None);
    let (input, output) = input_output(&t, 64 << 20, 0x1a9e5);
    let stats = t.path("send.json");
    let stats_arg = stats.display().to_string();
    let extra = ["--queues", "2", "--lcores", "0-1"];
    assert_file_transfer(&t, None, &server, &client, &extra, &["--stats-json", &stats_arg], &input, &output, LIMIT);
    assert_every_path_used(&stats, 4);
}

#[test]
fn lanes_on_one_end_only() {
    // Two lanes sending to one receiving loop, then one sending loop to two
    // receiving lanes: the ends choose their lanes independently.
    for (name, send_lanes, recv_lanes) in [("memif-lanes-s", true, false), ("memif-lanes-r", false, true)] {
        let Some(t) = DpdkTest::start(name, LIMIT + Duration::from_secs(30)) else { return };
        let (server, client) = memif_pair(&t, 1, None);
        let (input, output) = input_output(&t, 16 << 20, 77);
        let mut recv_extra: Vec<&str> = vec!["--queues", "2"];
        let mut send_only: Vec<&str> = vec![];
        if recv_lanes {
            recv_extra.extend(["--lcores", "0-1"]);
        }
        if send_lanes {
            send_only.extend(["--lcores", "0-1"]);
        }
        assert_file_transfer(&t, None, &server, &client, &recv_extra, &send_only, &input, &output, LIMIT);
    }
}

#[test]
fn more_lcores_than_queues_is_a_usage_error() {
    let out = std::process::Command::new(common::bin())
        .args(["send", "--port", "net_null0", "--lcores", "0-1", "--queues", "1", "/dev/null"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--queues 2"), "the hint names the fix: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
}
