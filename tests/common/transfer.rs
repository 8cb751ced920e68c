//! Two-process transfers for the end-to-end tests: a receiver and a sender
//! `stripecat` process, each with its own EAL file prefix, hard timeouts,
//! and cleanup of everything they leave; the member ports they run on
//! (memif pairs, af_packet on veth pairs); and a paced feeder for transfers
//! that must still be running when a test does something to them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::data::{assert_same_file, random_file, stream_chunk};
use super::dpdk::{netns_with, register, sh, veth_pair, Cleanup, DpdkTest};
use super::{file_len, read_json, wait_for};

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

/// af_packet member specs on `ifaces` (`qdisc_bypass=0`: the frames go
/// through the kernel's qdisc, as on a shaped link).
pub fn af_packet_ports(ifaces: &[String]) -> Vec<String> {
    ifaces.iter().enumerate().map(|(i, dev)| format!("net_af_packet{i},iface={dev},qdisc_bypass=0")).collect()
}

/// Veth pairs for `n` links: sender ends in this namespace, receiver ends
/// in their own (two af_packet processes need separate namespaces, see
/// [`netns_with`]). Everything is removed at cleanup.
pub struct Links {
    pub send_if: Vec<String>,
    pub recv_if: Vec<String>,
    pub ns: String,
}

impl Links {
    /// `tag` (three letters) keeps names distinct between tests; names stay
    /// within 15 bytes (tag + 5 digits + "s0"); the namespace is tag + digits.
    pub fn new(tag: &str, n: usize) -> Links {
        let id = std::process::id() % 100_000;
        let send_if: Vec<String> = (0..n).map(|i| format!("{tag}{id}s{i}")).collect();
        let recv_if: Vec<String> = (0..n).map(|i| format!("{tag}{id}r{i}")).collect();
        for (s, r) in send_if.iter().zip(&recv_if) {
            veth_pair(s, r, 1500);
        }
        let ns = format!("{tag}{id}");
        let devs: Vec<&str> = recv_if.iter().map(String::as_str).collect();
        netns_with(&ns, &devs);
        Links { send_if, recv_if, ns }
    }

    pub fn send_ports(&self) -> Vec<String> {
        af_packet_ports(&self.send_if)
    }

    pub fn recv_ports(&self) -> Vec<String> {
        af_packet_ports(&self.recv_if)
    }

    /// Starts a receiver in the links' namespace writing to `output`, or to
    /// its stdout (as given) when there is none.
    pub fn start_recv(&self, t: &DpdkTest, output: Option<&Path>, extra: &[&str], stdout: Stdio) -> Proc {
        let args = stripecat_args("recv", &self.recv_ports(), extra, output);
        start_in(t, Some(&self.ns), "recv", &args, Stdio::null(), stdout)
    }

    /// Starts a sender on the sender ends reading `input`, or a pipe (in
    /// `child.stdin`) when there is none.
    pub fn start_send(&self, t: &DpdkTest, input: Option<&Path>, extra: &[&str]) -> Proc {
        let stdin = if input.is_some() { Stdio::null() } else { Stdio::piped() };
        start(t, "send", &stripecat_args("send", &self.send_ports(), extra, input), stdin, Stdio::null())
    }

    /// A receiver writing `output` and a sender reading a pipe fed with the
    /// stream for `seed` at `pace`, both running with 4 MiB delivered.
    pub fn running_transfer(&self, t: &DpdkTest, output: &Path, seed: u64, pace: Duration) -> (Proc, Proc, Feeder) {
        let mut r = self.start_recv(t, Some(output), &[], Stdio::null());
        let mut s = self.start_send(t, None, &[]);
        let feeder = Feeder::start(s.child.stdin.take().expect("piped stdin"), seed, pace);
        wait_output(output, 4 << 20, &mut [&mut r, &mut s]);
        (r, s, feeder)
    }

    /// The MAC address of receiver member `i`.
    pub fn recv_mac(&self, i: usize) -> String {
        sh(&["ip", "netns", "exec", &self.ns, "cat", &format!("/sys/class/net/{}/address", self.recv_if[i])])
            .trim()
            .to_string()
    }
}

/// `CMD --quiet --port P... EXTRA... [FILE]`.
pub fn stripecat_args(cmd: &str, ports: &[String], extra: &[&str], file: Option<&Path>) -> Vec<String> {
    let mut a: Vec<String> = vec![cmd.into(), "--quiet".into()];
    for p in ports {
        a.extend(["--port".into(), p.clone()]);
    }
    a.extend(extra.iter().map(|e| e.to_string()));
    if let Some(f) = file {
        a.push(f.display().to_string());
    }
    a
}

/// The input and output paths of a test, with `len` bytes of seeded data
/// written to the input.
pub fn input_output(t: &DpdkTest, len: usize, seed: u64) -> (PathBuf, PathBuf) {
    let (input, output) = (t.path("in.bin"), t.path("out.bin"));
    random_file(&input, len, seed);
    (input, output)
}

pub struct Proc {
    pub child: Child,
    pub name: &'static str,
}

impl Proc {
    /// Sends signal `sig` (e.g. "KILL", "TERM") to the process.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([&format!("-{sig}"), &pid]).status().unwrap().success(), "kill -{sig} {pid}");
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }
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
    let eal = t.child_eal(&format!("{}-{name}", t.prefix));
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, super::bin()]);
            c
        }
        None => Command::new(super::bin()),
    };
    cmd.args(args).arg("--eal").arg(eal);
    cmd.stdin(stdin).stdout(stdout).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    register(Cleanup::Kill(child.id()));
    Proc { child, name }
}

/// Waits for a process with a hard limit; kills it and panics on expiry.
pub fn finish(mut p: Proc, limit: Duration) -> Output {
    let end = std::time::Instant::now() + limit;
    loop {
        if p.child.try_wait().unwrap().is_some() {
            return p.child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > end {
            let _ = p.child.kill();
            let out = p.child.wait_with_output().unwrap();
            panic!("{} did not finish within {limit:?}; stderr: {}", p.name, String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A finished process's stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Panics with both ends' stderr unless both exited 0.
pub fn assert_both_ok(send: &Output, recv: &Output) {
    assert!(
        send.status.success() && recv.status.success(),
        "sender {:?}: {}\nreceiver {:?}: {}",
        send.status.code(),
        stderr(send),
        recv.status.code(),
        stderr(recv)
    );
}

/// Runs a receiver (started first, in network namespace `recv_netns` when
/// given) and a sender with the given member specs and extra arguments
/// (`extra` on both ends, `send_only` on the sender), file to file; asserts
/// both ends exited 0 and the output is the input, byte for byte.
#[allow(clippy::too_many_arguments)]
pub fn assert_file_transfer(
    t: &DpdkTest,
    recv_netns: Option<&str>,
    recv_ports: &[String],
    send_ports: &[String],
    extra: &[&str],
    send_only: &[&str],
    input: &Path,
    output: &Path,
    limit: Duration,
) {
    let rargs = stripecat_args("recv", recv_ports, extra, Some(output));
    let send_extra: Vec<&str> = extra.iter().chain(send_only).copied().collect();
    let sargs = stripecat_args("send", send_ports, &send_extra, Some(input));
    let r = start_in(t, recv_netns, "recv", &rargs, Stdio::null(), Stdio::null());
    let s = start(t, "send", &sargs, Stdio::null(), Stdio::null());
    let so = finish(s, limit);
    let ro = finish(r, limit);
    assert_both_ok(&so, &ro);
    assert_same_file(input, output);
}

/// Asserts the sender's `--stats-json` has `paths` paths, each of which
/// carried data.
pub fn assert_every_path_used(stats: &Path, paths: usize) {
    let v = read_json(stats);
    let list = v["paths"].as_array().expect("paths in the stats");
    assert_eq!(list.len(), paths, "{v}");
    for p in list {
        assert!(p["packets"].as_u64().unwrap_or(0) > 100, "a path carried (almost) nothing: {p}");
    }
}

/// Writes the stream ([`stream_chunk`]) into a sender's stdin, one chunk
/// per `pace`, until stopped (then closes the pipe: end of input) or the
/// pipe breaks. Paced, so "mid-transfer" does not depend on how fast the
/// machine is.
pub struct Feeder {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<u64>,
}

impl Feeder {
    pub fn start(mut stdin: ChildStdin, seed: u64, pace: Duration) -> Feeder {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            // Counted as the pipe takes them, so when the sender dies in the
            // middle of a chunk, the part it already read is counted too.
            let mut fed = 0u64;
            let mut k = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let chunk = stream_chunk(seed, k);
                let mut off = 0;
                while off < chunk.len() {
                    match stdin.write(&chunk[off..]) {
                        Ok(0) => return fed,
                        Ok(n) => {
                            off += n;
                            fed += n as u64;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => return fed,
                    }
                }
                k += 1;
                std::thread::sleep(pace);
            }
            fed
        });
        Feeder { stop, handle }
    }

    /// Stops feeding, closes the pipe, returns the bytes fed.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// Waits until `out` holds at least `bytes`, panicking with the processes'
/// state otherwise: which one left and how, and what every one of them printed
/// (the others are stopped first, so reading their stderr cannot block).
pub fn wait_output(out: &Path, bytes: u64, procs: &mut [&mut Proc]) {
    let ok = wait_for(Duration::from_secs(30), || {
        file_len(out) >= bytes || procs.iter_mut().any(|p| p.child.try_wait().ok().flatten().is_some())
    });
    let left: Vec<String> = procs
        .iter_mut()
        .filter_map(|p| p.child.try_wait().unwrap().map(|st| format!("{} left early ({st})", p.name)))
        .collect();
    if ok && left.is_empty() {
        return;
    }
    let len = file_len(out);
    let mut printed = String::new();
    for p in procs.iter_mut() {
        let _ = p.child.kill();
        let _ = p.child.wait();
        let mut e = String::new();
        if let Some(mut s) = p.child.stderr.take() {
            let _ = s.read_to_string(&mut e);
        }
        printed.push_str(&format!("\n--- {} stderr:\n{}", p.name, e.trim_end()));
    }
    let what = if left.is_empty() { format!("the output never reached {bytes} bytes") } else { left.join(", ") };
    panic!("{what}, with {len} bytes written{printed}");
}

/// A whole transfer of `len` seeded bytes over two memif links, each end with its
/// extra options and `--stats-json`: both ends must exit 0 and the output must equal
/// the input. Returns the sender's and the receiver's reports.
pub fn memif_transfer(
    t: &DpdkTest,
    len: usize,
    seed: u64,
    recv_extra: &[&str],
    send_extra: &[&str],
    limit: Duration,
) -> [serde_json::Value; 2] {
    let (server, client) = memif_pair(t, 2, None);
    let (input, output) = input_output(t, len, seed);
    let (sj, rj) = (t.path("send.json"), t.path("recv.json"));
    let (sj_arg, rj_arg) = (sj.display().to_string(), rj.display().to_string());
    let r = stripecat_args("recv", &server, &[recv_extra, &["--stats-json", rj_arg.as_str()]].concat(), Some(&output));
    let s = stripecat_args("send", &client, &[send_extra, &["--stats-json", sj_arg.as_str()]].concat(), Some(&input));
    let rp = start(t, "recv", &r, Stdio::null(), Stdio::null());
    let sp = start(t, "send", &s, Stdio::null(), Stdio::null());
    let so = finish(sp, limit);
    let ro = finish(rp, limit);
    assert_both_ok(&so, &ro);
    assert_same_file(&input, &output);
    [read_json(&sj), read_json(&rj)]
}
