//! Two-process transfers for the end-to-end tests: a receiver and a sender
//! `stripecat` process, each with its own EAL file prefix, hard timeouts,
//! and cleanup of everything they leave.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{register, Cleanup, DpdkTest};

/// `len` bytes of seeded pseudo-random data (xorshift64): the same seed
/// gives the same bytes, so any prefix can be checked.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut data = vec![0u8; len];
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    data
}

/// Writes `len` bytes of [`random_bytes`] to `path`.
pub fn random_file(path: &Path, len: usize, seed: u64) {
    std::fs::write(path, random_bytes(len, seed)).unwrap();
}

/// Asserts two files are byte-identical, naming the first difference.
pub fn assert_same_file(a: &Path, b: &Path) {
    let x = std::fs::read(a).unwrap();
    let y = std::fs::read(b).unwrap();
    if x != y {
        let first = x.iter().zip(&y).position(|(p, q)| p != q);
        panic!(
            "{} ({} bytes) and {} ({} bytes) differ; first difference at {first:?}",
            a.display(),
            x.len(),
            b.display(),
            y.len()
        );
    }
}

/// memif member specs for `n` links: (server side, client side). `bsize`
/// is memif's buffer size: jumbo frames need buffers that hold a whole
/// frame (DPDK 22.11's memif crashes on multi-buffer frames under load).
pub fn memif_pair(t: &DpdkTest, n: usize, bsize: Option<u32>) -> (Vec<String>, Vec<String>) {
    let mut server = Vec::new();
    let mut client = Vec::new();
    let extra = bsize.map(|b| format!(",bsize={b}")).unwrap_or_default();
    for i in 0..n {
        let sock = t.path(&format!("memif{i}.sock"));
        server.push(format!("net_memif{i},role=server,socket={},socket-abstract=no{extra}", sock.display()));
        client.push(format!("net_memif{i},role=client,socket={},socket-abstract=no{extra}", sock.display()));
    }
    (server, client)
}

pub struct Proc {
    pub child: Child,
    pub name: &'static str,
}

/// Starts `stripecat` with `args`, its own `--file-prefix`, stdio as given.
pub fn start(t: &DpdkTest, name: &'static str, args: &[String], stdin: Stdio, stdout: Stdio) -> Proc {
    start_in(t, None, name, args, stdin, stdout)
}

/// [`start`] inside network namespace `netns` when given (`ip netns exec`
/// execs stripecat in place, so the child's pid is stripecat's).
pub fn start_in(
    t: &DpdkTest,
    netns: Option<&str>,
    name: &'static str,
    args: &[String],
    stdin: Stdio,
    stdout: Stdio,
) -> Proc {
    let prefix = format!("{}-{name}", t.prefix);
    register(Cleanup::RemovePath(PathBuf::from(format!("/var/run/dpdk/{prefix}"))));
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_stripecat")]);
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_stripecat")),
    };
    cmd.args(args).arg("--eal").arg(format!("--file-prefix {prefix}"));
    cmd.stdin(stdin).stdout(stdout).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    register(Cleanup::Kill(child.id()));
    Proc { child, name }
}

/// Waits for a process with a hard limit; kills it and panics on expiry.
pub fn finish(mut p: Proc, limit: Duration) -> Output {
    let end = Instant::now() + limit;
    loop {
        if p.child.try_wait().unwrap().is_some() {
            return p.child.wait_with_output().unwrap();
        }
        if Instant::now() > end {
            let _ = p.child.kill();
            let out = p.child.wait_with_output().unwrap();
            panic!("{} did not finish within {limit:?}; stderr: {}", p.name, String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Panics with both ends' stderr unless both exited 0.
pub fn assert_both_ok(send: &Output, recv: &Output) {
    let s = String::from_utf8_lossy(&send.stderr);
    let r = String::from_utf8_lossy(&recv.stderr);
    assert!(
        send.status.success() && recv.status.success(),
        "sender {:?}: {s}\nreceiver {:?}: {r}",
        send.status.code(),
        recv.status.code()
    );
}

/// Runs a receiver (started first) and a sender with the given member
/// specs and extra arguments, file to file; returns both outputs.
#[allow(clippy::too_many_arguments)]
pub fn file_transfer(
    t: &DpdkTest,
    recv_ports: &[String],
    send_ports: &[String],
    extra: &[&str],
    send_only: &[&str],
    input: &Path,
    output: &Path,
    limit: Duration,
) -> (Output, Output) {
    file_transfer_in(t, None, recv_ports, send_ports, extra, send_only, input, output, limit)
}

/// [`file_transfer`] with the receiver in network namespace `recv_netns`.
#[allow(clippy::too_many_arguments)]
pub fn file_transfer_in(
    t: &DpdkTest,
    recv_netns: Option<&str>,
    recv_ports: &[String],
    send_ports: &[String],
    extra: &[&str],
    send_only: &[&str],
    input: &Path,
    output: &Path,
    limit: Duration,
) -> (Output, Output) {
    let mut rargs: Vec<String> = vec!["recv".into(), "--quiet".into()];
    let mut sargs: Vec<String> = vec!["send".into(), "--quiet".into()];
    for p in recv_ports {
        rargs.push("--port".into());
        rargs.push(p.clone());
    }
    for p in send_ports {
        sargs.push("--port".into());
        sargs.push(p.clone());
    }
    for e in extra {
        rargs.push((*e).into());
        sargs.push((*e).into());
    }
    for e in send_only {
        sargs.push((*e).into());
    }
    rargs.push(output.display().to_string());
    sargs.push(input.display().to_string());
    let r = start_in(t, recv_netns, "recv", &rargs, Stdio::null(), Stdio::null());
    let s = start(t, "send", &sargs, Stdio::null(), Stdio::null());
    let so = finish(s, limit);
    let ro = finish(r, limit);
    (so, ro)
}
