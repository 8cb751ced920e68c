//! End-to-end transfers over memif links between two processes: random
//! data, compared byte for byte (and by the protocol's digest, exit 0).

mod common;

use std::time::Duration;

use common::transfer::{assert_both_ok, assert_same_file, file_transfer, memif_pair, random_file};
use common::DpdkTest;

const LIMIT: Duration = Duration::from_secs(120);

fn memif_links(name: &str, links: usize, len: usize, extra: &[&str]) {
    memif_links_send(name, links, len, extra, &[])
}

fn memif_links_send(name: &str, links: usize, len: usize, extra: &[&str], send_only: &[&str]) {
    let Some(t) = DpdkTest::start(name, LIMIT + Duration::from_secs(30)) else { return };
    let jumbo = extra.windows(2).any(|w| w == ["--mtu", "9000"]);
    let (server, client) = memif_pair(&t, links, jumbo.then_some(16384));
    let input = t.path("in.bin");
    let output = t.path("out.bin");
    random_file(&input, len, links as u64 * 7919 + len as u64);
    let (s, r) = file_transfer(&t, &server, &client, extra, send_only, &input, &output, LIMIT);
    assert_both_ok(&s, &r);
    assert_same_file(&input, &output);
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
