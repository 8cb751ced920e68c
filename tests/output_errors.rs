//! The receiver's output fails mid-transfer (a full filesystem, a reader
//! that closes the pipe): on the real data plane (net_af_packet on a veth
//! pair, the receiver in its own network namespace), the receiver says what
//! failed and how much was written, and tells the sender, which leaves at
//! once instead of after its give-up bound. Both exit 4.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::data::random_file;
use common::dpdk::{register, sh, Cleanup, DpdkTest};
use common::transfer::{finish, stderr, Links};
use common::{file_len, number_before};

/// Hard limit for one two-process run.
const LIMIT: Duration = Duration::from_secs(60);

/// A small tmpfs at a fresh directory, unmounted at cleanup.
fn small_tmpfs(t: &DpdkTest, size: &str) -> PathBuf {
    let dir = t.path("tmpfs");
    std::fs::create_dir_all(&dir).unwrap();
    sh(&["mount", "-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", &dir.display().to_string()]);
    // Cleanups run last-registered first: unmount, then remove the directory.
    register(Cleanup::Unmount(dir.clone()));
    dir
}

#[test]
fn full_filesystem_ends_both_ends_with_a_clear_error() {
    let Some(t) = DpdkTest::start("rel-enospc", LIMIT + Duration::from_secs(30)) else { return };
    let l = Links::new("rlf", 1);
    let dir = small_tmpfs(&t, "8m");
    let input = t.path("in.bin");
    random_file(&input, 32 << 20, 0xf011);
    let output = dir.join("out.bin");
    let began = Instant::now();
    let r = l.start_recv(&t, Some(&output), &[], Stdio::null());
    let s = l.start_send(&t, Some(&input), &[]);
    let so = finish(s, Duration::from_secs(40));
    let ro = finish(r, Duration::from_secs(40));
    let took = began.elapsed();
    let (se, re) = (stderr(&so), stderr(&ro));
    eprintln!("full filesystem: {took:?}\nsender: {se}receiver: {re}");
    assert_eq!(ro.status.code(), Some(4), "receiver: {re}");
    assert!(re.contains("no space left"), "receiver: {re}");
    assert_eq!(so.status.code(), Some(4), "sender: {se}");
    assert!(
        se.contains("reset") && se.contains("OutputError"),
        "the sender does not say the receiver's output failed: {se}"
    );
    // The RESET ends the sender at once, not after its 10 s give-up.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let written = number_before(&re, "bytes were written").unwrap_or_else(|| panic!("no written length: {re}"));
    assert_eq!(file_len(&output), written, "{re}");
}

#[test]
fn closed_output_pipe_ends_both_ends_with_a_clear_error() {
    let Some(t) = DpdkTest::start("rel-epipe", LIMIT + Duration::from_secs(30)) else { return };
    let l = Links::new("rlp", 1);
    let input = t.path("in.bin");
    random_file(&input, 32 << 20, 0xc105ed);
    let began = Instant::now();
    let mut r = l.start_recv(&t, None, &[], Stdio::piped());
    let s = l.start_send(&t, Some(&input), &[]);
    // The reader takes a few bytes and goes away.
    let mut stdout = r.child.stdout.take().unwrap();
    let mut few = [0u8; 4096];
    stdout.read_exact(&mut few).expect("the first bytes of the output");
    drop(stdout);
    let so = finish(s, Duration::from_secs(40));
    let ro = finish(r, Duration::from_secs(40));
    let took = began.elapsed();
    let (se, re) = (stderr(&so), stderr(&ro));
    eprintln!("closed pipe: {took:?}\nsender: {se}receiver: {re}");
    assert_eq!(ro.status.code(), Some(4), "receiver: {re}");
    assert!(re.contains("pipe was closed"), "receiver: {re}");
    assert_eq!(so.status.code(), Some(4), "sender: {se}");
    assert!(se.contains("reset") && se.contains("OutputError"), "sender: {se}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}
