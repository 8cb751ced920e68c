//! Reliability on the real data plane (issue 6): two real `stripecat`
//! processes over net_af_packet on veth pairs (the receiver in its own
//! network namespace), random data, hard timeouts, and cleanup of every
//! veth, namespace, mount, file and process.
//!
//! Peer-death cases use af_packet, not memif: DPDK 22.11's memif PMD can
//! crash the survivor when its peer dies under a running burst.
//!
//! Transfers that must still be running when something goes wrong read a
//! pipe the test feeds at a set pace ([`Feeder`]), so "mid-transfer" does
//! not depend on how fast the machine is; the fed stream is a function of
//! (seed, chunk index), so any prefix of it can be checked afterwards.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::transfer::{assert_both_ok, assert_same_file, finish, random_file, start, start_in, Proc};
use common::{netns_with, register, run_stripecat, sh, veth_pair, wait_for, Cleanup, DpdkTest};

/// Hard limit for one two-process run.
const LIMIT: Duration = Duration::from_secs(60);

/// Veth pairs for `n` links: sender ends in this namespace, receiver ends
/// in their own (two af_packet processes need separate namespaces, see
/// `common::netns_with`).
struct Links {
    send_if: Vec<String>,
    recv_if: Vec<String>,
    ns: String,
}

impl Links {
    /// `tag` (one letter) keeps names distinct between the tests of this
    /// file; names stay within 15 bytes ("rl" + tag + 5 digits + "s0").
    fn new(tag: &str, n: usize) -> Links {
        let id = std::process::id() % 100_000;
        let send_if: Vec<String> = (0..n).map(|i| format!("rl{tag}{id}s{i}")).collect();
        let recv_if: Vec<String> = (0..n).map(|i| format!("rl{tag}{id}r{i}")).collect();
        for (s, r) in send_if.iter().zip(&recv_if) {
            veth_pair(s, r, 1500);
        }
        let ns = format!("rl{tag}{id}");
        let devs: Vec<&str> = recv_if.iter().map(String::as_str).collect();
        netns_with(&ns, &devs);
        Links { send_if, recv_if, ns }
    }

    fn send_ports(&self) -> Vec<String> {
        afp(&self.send_if)
    }

    fn recv_ports(&self) -> Vec<String> {
        afp(&self.recv_if)
    }

    /// The MAC address of receiver member `i`.
    fn recv_mac(&self, i: usize) -> String {
        sh(&["ip", "netns", "exec", &self.ns, "cat", &format!("/sys/class/net/{}/address", self.recv_if[i])])
            .trim()
            .to_string()
    }
}

/// af_packet member specs on `ifaces`.
fn afp(ifaces: &[String]) -> Vec<String> {
    ifaces.iter().enumerate().map(|(i, dev)| format!("net_af_packet{i},iface={dev},qdisc_bypass=0")).collect()
}

fn args(cmd: &str, ports: &[String], extra: &[String], file: Option<&Path>) -> Vec<String> {
    let mut a: Vec<String> = vec![cmd.into(), "--quiet".into()];
    for p in ports {
        a.extend(["--port".into(), p.clone()]);
    }
    a.extend(extra.iter().cloned());
    if let Some(f) = file {
        a.push(f.display().to_string());
    }
    a
}

/// Starts a receiver in the links' namespace writing to `output`.
fn start_recv(t: &DpdkTest, l: &Links, output: &Path, extra: &[String], stdout: Stdio) -> Proc {
    start_in(t, Some(&l.ns), "recv", &args("recv", &l.recv_ports(), extra, Some(output)), Stdio::null(), stdout)
}

/// Starts a sender reading a pipe (returned) on the links' sender ends.
fn start_piped_send(t: &DpdkTest, name: &'static str, ports: &[String]) -> (Proc, ChildStdin) {
    let mut p = start(t, name, &args("send", ports, &[], None), Stdio::piped(), Stdio::null());
    let stdin = p.child.stdin.take().expect("piped stdin");
    (p, stdin)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn signal(p: &Proc, sig: &str) {
    let pid = p.child.id().to_string();
    assert!(Command::new("kill").args([&format!("-{sig}"), &pid]).status().unwrap().success(), "kill -{sig} {pid}");
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The number just before `what` in `s` ("... 1234 bytes were written").
fn number_before(s: &str, what: &str) -> Option<u64> {
    let at = s.find(what)?;
    s[..at].trim_end().rsplit(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

// ---------------------------------------------------------------------
// The fed stream.

const FEED_CHUNK: usize = 1 << 20;

/// Chunk `k` of the stream for `seed` (xorshift, distinct per chunk).
fn stream_chunk(seed: u64, k: u64) -> Vec<u8> {
    let mut x = (seed ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
    let mut v = vec![0u8; FEED_CHUNK];
    for c in v.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.copy_from_slice(&x.to_le_bytes());
    }
    v
}

/// Asserts `out` holds exactly the first `len(out)` bytes of the stream.
fn assert_stream_prefix(out: &Path, seed: u64) {
    let got = std::fs::read(out).unwrap();
    for (k, part) in got.chunks(FEED_CHUNK).enumerate() {
        let want = stream_chunk(seed, k as u64);
        if part != &want[..part.len()] {
            let first = part.iter().zip(&want).position(|(a, b)| a != b);
            panic!(
                "{} ({} bytes) is not a prefix of the input: chunk {k} differs at {first:?}",
                out.display(),
                got.len()
            );
        }
    }
}

/// Writes the stream into a sender's stdin, one chunk per `pace`, until
/// stopped (then closes the pipe: end of input) or the pipe breaks.
struct Feeder {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<u64>,
}

impl Feeder {
    fn start(mut stdin: ChildStdin, seed: u64, pace: Duration) -> Feeder {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut fed = 0u64;
            let mut k = 0u64;
            while !flag.load(Ordering::Relaxed) {
                if stdin.write_all(&stream_chunk(seed, k)).is_err() {
                    break;
                }
                fed += FEED_CHUNK as u64;
                k += 1;
                std::thread::sleep(pace);
            }
            fed
        });
        Feeder { stop, handle }
    }

    /// Stops feeding, closes the pipe, returns the bytes fed.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// Waits until `out` holds at least `bytes`, panicking with the processes'
/// state otherwise.
fn wait_output(out: &Path, bytes: u64, procs: &mut [&mut Proc]) {
    let ok = wait_for(Duration::from_secs(30), || {
        file_len(out) >= bytes || procs.iter_mut().any(|p| p.child.try_wait().ok().flatten().is_some())
    });
    for p in procs.iter_mut() {
        if let Some(st) = p.child.try_wait().unwrap() {
            let mut e = String::new();
            if let Some(mut s) = p.child.stderr.take() {
                let _ = s.read_to_string(&mut e);
            }
            panic!("{} left early ({st}) with {} bytes written: {e}", p.name, file_len(out));
        }
    }
    assert!(ok, "the output never reached {bytes} bytes (has {})", file_len(out));
}

/// DPDK hugepage files under /dev/hugepages left by EAL prefix `prefix`.
fn hugepage_files(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/dev/hugepages")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------
// 1. Hostile packets.

/// Sends foreign frames to the receiver from a third party until killed:
/// argv: iface dst_mac src_ip dst_ip udp_port.
const INJECTOR: &str = r#"
import random, socket, struct, sys, time
iface, dst_mac, src_ip, dst_ip, port = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
DST = bytes.fromhex(dst_mac.replace(':', ''))
SRC = bytes.fromhex('02ee00000001')
rng = random.Random(7)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))

T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
def rnd(n):
    return bytes(rng.getrandbits(8) for _ in range(n))
def csum(b):
    if len(b) % 2: b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF
def eth(p, et=0x0800):
    return DST + SRC + struct.pack('!H', et) + p
def ipv4(p, total=None):
    tl = 20 + len(p) if total is None else total
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, tl, rng.getrandbits(16), 0x4000, 64, 17, 0,
                    socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + p
def udp(p, length=None):
    return struct.pack('!HHHH', 47101, port, 8 + len(p) if length is None else length, 0) + p
def stripe(session, body, length=None, good_crc=True, ptype=3):
    # magic, version (proto/src/wire/mod.rs), type, flags, reserved, path,
    # session, packet number, offset, length, reserved, timestamp, echo
    h = struct.pack('!HBBBBHQQQHHII', 0x5354, 1, ptype, 0, 0, 0, session, rng.getrandbits(32), 0,
                    len(body) if length is None else length, 0, 0, 0)
    crc = crc32c(h + b'\0\0\0\0' + body)
    if not good_crc: crc ^= 0x5A5A5A5A
    return h + struct.pack('!I', crc) + body
def garbage():
    b = rnd(100)
    return (b'\x12\x34' + b[2:]) if b[:2] == b'\x53\x54' else b

frames = [
    lambda: rnd(rng.randrange(60, 1500)),                       # random bytes
    lambda: rnd(10),                                            # shorter than Ethernet
    lambda: eth(rnd(12)),                                       # truncated IPv4 header
    lambda: eth(ipv4(rnd(3))),                                  # truncated UDP header
    lambda: eth(ipv4(udp(garbage()))),                          # our port, not our protocol
    lambda: eth(ipv4(udp(stripe(rng.getrandbits(64), rnd(1024))))),            # wrong session
    lambda: eth(ipv4(udp(stripe(rng.getrandbits(64), rnd(100), length=60000)))), # oversized length
    lambda: eth(ipv4(udp(stripe(rng.getrandbits(64), rnd(200), good_crc=False)))), # bad CRC
    lambda: eth(ipv4(udp(rnd(64)), total=9000)),                # oversized IPv4 length
    lambda: eth(ipv4(udp(rnd(64), length=4000))),               # oversized UDP length
]
while True:
    for f in frames:
        try:
            s.send(f())
        except OSError:
            pass
    time.sleep(0.002)
"#;

#[test]
fn hostile_frames_during_a_transfer_are_dropped_and_counted() {
    let Some(t) = DpdkTest::start("rel-hostile", LIMIT + Duration::from_secs(30)) else { return };
    let l = Links::new("h", 2);
    let (input, output, rj) = (t.path("in.bin"), t.path("out.bin"), t.path("recv.json"));
    random_file(&input, 64 << 20, 0x6057_11e5);
    let script = t.path("inject.py");
    std::fs::write(&script, INJECTOR).unwrap();
    let began = Instant::now();
    let r = start_recv(&t, &l, &output, &["--stats-json".into(), rj.display().to_string()], Stdio::null());
    // The third party: a raw socket on the sender's end of link 0, aimed at
    // the receiver's MAC, IP and UDP port.
    let mut inj = common::spawn(
        Command::new("python3")
            .arg(&script)
            .args([l.send_if[0].as_str(), &l.recv_mac(0), "198.18.0.1", "198.18.0.2", "47100"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        inj.try_wait().unwrap().is_none(),
        "the injector died: {:?}",
        inj.wait_with_output().map(|o| stderr_of(&o.stderr))
    );
    let s = start(&t, "send", &args("send", &l.send_ports(), &[], Some(&input)), Stdio::null(), Stdio::null());
    let so = finish(s, LIMIT);
    let ro = finish(r, LIMIT);
    let _ = inj.kill();
    let _ = inj.wait();
    eprintln!("hostile frames, 2 links, 64 MiB: {:.1} s", began.elapsed().as_secs_f64());
    assert_both_ok(&so, &ro);
    assert_same_file(&input, &output);
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&rj).unwrap()).unwrap();
    let drops = &report["drops"];
    for k in ["malformed_frame", "bad_magic", "wrong_session", "truncated", "bad_checksum"] {
        assert!(drops[k].as_u64().unwrap_or(0) > 0, "no {k} drops counted: {report}");
    }
}

fn stderr_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------
// 2. A second sender while a transfer runs.

#[test]
fn second_sender_is_rejected_and_the_running_transfer_is_unharmed() {
    let Some(t) = DpdkTest::start("rel-second", LIMIT + Duration::from_secs(30)) else { return };
    // The receiver serves two links; sender A uses link 0, sender B (a
    // second process, as a second host would be) link 1.
    let l = Links::new("b", 2);
    let output = t.path("out.bin");
    let other = t.path("other.bin");
    random_file(&other, 1 << 20, 99);
    let seed = 0x05ec_011d;
    let mut r = start_recv(&t, &l, &output, &[], Stdio::null());
    // A reads a pipe fed at ~50 MiB/s, so it is still running when B comes.
    let (mut a, stdin) = start_piped_send(&t, "send-a", &l.send_ports()[..1]);
    let feeder = Feeder::start(stdin, seed, Duration::from_millis(20));
    wait_output(&output, 4 << 20, &mut [&mut r, &mut a]);
    let b_port = format!("net_af_packet0,iface={},qdisc_bypass=0", l.send_if[1]);
    let began = Instant::now();
    let b = start(&t, "send-b", &args("send", &[b_port], &[], Some(&other)), Stdio::null(), Stdio::null());
    let bo = finish(b, Duration::from_secs(30));
    let b_took = began.elapsed();
    assert!(a.child.try_wait().unwrap().is_none(), "sender A ended while B ran");
    let fed = feeder.stop();
    let ao = finish(a, LIMIT);
    let ro = finish(r, LIMIT);
    let be = stderr(&bo);
    eprintln!("second sender: exit {:?} after {b_took:?}: {be}", bo.status.code());
    assert_eq!(bo.status.code(), Some(4), "sender B: {be}");
    assert!(be.contains("rejected") && be.contains("Busy"), "B's message does not say it was rejected as busy: {be}");
    // Told, not left to give up (10 s without progress).
    assert!(b_took < Duration::from_secs(8), "B took {b_took:?}: {be}");
    assert_both_ok(&ao, &ro);
    assert_eq!(file_len(&output), fed, "A fed {fed} bytes");
    assert_stream_prefix(&output, seed);
}

// ---------------------------------------------------------------------
// 3, 4. A peer killed mid-transfer.

#[test]
fn receiver_killed_mid_transfer_sender_gives_up_with_acknowledged_bytes() {
    let Some(t) = DpdkTest::start("rel-rkill", LIMIT + Duration::from_secs(30)) else { return };
    let l = Links::new("k", 1);
    let output = t.path("out.bin");
    let mut r = start_recv(&t, &l, &output, &[], Stdio::null());
    let (mut s, stdin) = start_piped_send(&t, "send", &l.send_ports());
    let feeder = Feeder::start(stdin, 31, Duration::from_millis(20));
    wait_output(&output, 4 << 20, &mut [&mut r, &mut s]);
    signal(&r, "KILL");
    let killed = Instant::now();
    let so = finish(s, Duration::from_secs(40));
    let took = killed.elapsed();
    let fed = feeder.stop();
    let _ = finish(r, Duration::from_secs(10));
    let e = stderr(&so);
    eprintln!("receiver killed: sender left after {took:?}: {e}");
    assert_eq!(so.status.code(), Some(4), "{e}");
    // It gives up after 10 s without progress; CI machines are slow.
    assert!(took >= Duration::from_secs(8) && took <= Duration::from_secs(20), "sender left {took:?} after the kill");
    let acked = number_before(&e, "bytes acknowledged").unwrap_or_else(|| panic!("no acknowledged byte count: {e}"));
    assert!(acked > 0 && acked <= fed, "acknowledged {acked} of {fed} fed: {e}");
}

#[test]
fn sender_killed_mid_transfer_receiver_keeps_the_written_prefix() {
    let Some(t) = DpdkTest::start("rel-skill", LIMIT + Duration::from_secs(30)) else { return };
    let l = Links::new("j", 1);
    let output = t.path("out.bin");
    let seed = 0x5e4d;
    let mut r = start_recv(&t, &l, &output, &[], Stdio::null());
    let (mut s, stdin) = start_piped_send(&t, "send", &l.send_ports());
    let feeder = Feeder::start(stdin, seed, Duration::from_millis(20));
    wait_output(&output, 4 << 20, &mut [&mut r, &mut s]);
    signal(&s, "KILL");
    let killed = Instant::now();
    let ro = finish(r, Duration::from_secs(40));
    let took = killed.elapsed();
    let fed = feeder.stop();
    let _ = finish(s, Duration::from_secs(10));
    let e = stderr(&ro);
    eprintln!("sender killed: receiver left after {took:?}: {e}");
    assert_eq!(ro.status.code(), Some(4), "{e}");
    // The idle timeout is 5 s.
    assert!(took >= Duration::from_secs(4) && took <= Duration::from_secs(15), "receiver left {took:?} after the kill");
    let written = number_before(&e, "bytes were written").unwrap_or_else(|| panic!("no written length in: {e}"));
    assert_eq!(file_len(&output), written, "the output holds what the message says: {e}");
    assert!(written >= 4 << 20 && written <= fed, "written {written}, fed {fed}");
    assert_stream_prefix(&output, seed);
}

// ---------------------------------------------------------------------
// 5. Signals, then a clean next run on the same links and prefixes.

#[test]
fn sigterm_and_sigint_mid_transfer_then_the_next_run_is_clean() {
    let Some(t) = DpdkTest::start("rel-signal", Duration::from_secs(150)) else { return };
    let l = Links::new("g", 1);
    let recv_prefix = format!("{}-recv", t.prefix);

    // SIGTERM to the receiver: 143, its hugepage files gone; the sender is
    // told (RESET) or gives up: 4.
    let output = t.path("out1.bin");
    let mut r = start_recv(&t, &l, &output, &[], Stdio::null());
    let (mut s, stdin) = start_piped_send(&t, "send", &l.send_ports());
    let feeder = Feeder::start(stdin, 5, Duration::from_millis(20));
    wait_output(&output, 4 << 20, &mut [&mut r, &mut s]);
    signal(&r, "TERM");
    let at = Instant::now();
    let ro = finish(r, Duration::from_secs(20));
    eprintln!("SIGTERM to the receiver: exit {:?}: {}", ro.status.code(), stderr(&ro));
    assert_eq!(ro.status.code(), Some(143), "receiver: {}", stderr(&ro));
    assert!(at.elapsed() < Duration::from_secs(5), "receiver left {:?} after SIGTERM", at.elapsed());
    let left = hugepage_files(&recv_prefix);
    assert!(left.is_empty(), "hugepage files left after SIGTERM: {left:?}");
    let so = finish(s, Duration::from_secs(30));
    feeder.stop();
    eprintln!("sender after the receiver's SIGTERM: exit {:?}: {}", so.status.code(), stderr(&so));
    assert_eq!(so.status.code(), Some(4), "sender after the receiver's SIGTERM: {}", stderr(&so));
    assert_stream_prefix(&output, 5);

    // SIGINT to the sender: 130; the receiver is told: 4.
    let output = t.path("out2.bin");
    let mut r = start_recv(&t, &l, &output, &[], Stdio::null());
    let (mut s, stdin) = start_piped_send(&t, "send", &l.send_ports());
    let feeder = Feeder::start(stdin, 6, Duration::from_millis(20));
    wait_output(&output, 4 << 20, &mut [&mut r, &mut s]);
    signal(&s, "INT");
    let at = Instant::now();
    let so = finish(s, Duration::from_secs(20));
    eprintln!("SIGINT to the sender: exit {:?}: {}", so.status.code(), stderr(&so));
    assert_eq!(so.status.code(), Some(130), "sender: {}", stderr(&so));
    assert!(at.elapsed() < Duration::from_secs(5), "sender left {:?} after SIGINT", at.elapsed());
    feeder.stop();
    let ro = finish(r, Duration::from_secs(30));
    eprintln!("receiver after the sender's SIGINT: exit {:?}: {}", ro.status.code(), stderr(&ro));
    assert_eq!(ro.status.code(), Some(4), "receiver after the sender's SIGINT: {}", stderr(&ro));
    assert_stream_prefix(&output, 6);

    // The same links and EAL prefixes again: a clean, complete transfer.
    let (input, output) = (t.path("in3.bin"), t.path("out3.bin"));
    random_file(&input, 16 << 20, 77);
    let r = start_recv(&t, &l, &output, &[], Stdio::null());
    let s = start(&t, "send", &args("send", &l.send_ports(), &[], Some(&input)), Stdio::null(), Stdio::null());
    let so = finish(s, LIMIT);
    let ro = finish(r, LIMIT);
    assert_both_ok(&so, &ro);
    assert_same_file(&input, &output);
}

// ---------------------------------------------------------------------
// 6. Output errors.

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
    let l = Links::new("f", 1);
    let dir = small_tmpfs(&t, "8m");
    let input = t.path("in.bin");
    random_file(&input, 32 << 20, 0xf011);
    let output = dir.join("out.bin");
    let began = Instant::now();
    let r = start_recv(&t, &l, &output, &[], Stdio::null());
    let s = start(&t, "send", &args("send", &l.send_ports(), &[], Some(&input)), Stdio::null(), Stdio::null());
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
    let l = Links::new("p", 1);
    let input = t.path("in.bin");
    random_file(&input, 32 << 20, 0xc105ed);
    let began = Instant::now();
    let mut r =
        start_in(&t, Some(&l.ns), "recv", &args("recv", &l.recv_ports(), &[], None), Stdio::null(), Stdio::piped());
    let s = start(&t, "send", &args("send", &l.send_ports(), &[], Some(&input)), Stdio::null(), Stdio::null());
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

// ---------------------------------------------------------------------
// 7. Environment faults.

fn assert_one_error_line(stderr: &str, what: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line: {stderr}");
    assert!(lines[0].starts_with("stripecat: error: ") && lines[0].contains(what), "{stderr}");
}

#[test]
fn port_that_does_not_exist_is_an_environment_error() {
    let Some(t) = DpdkTest::start("rel-noport", Duration::from_secs(60)) else { return };
    let input = t.path("in.bin");
    random_file(&input, 4096, 1);
    let eal = format!("--file-prefix {}", t.prefix);
    let began = Instant::now();
    let (code, _, err) = run_stripecat(
        &["send", "--quiet", "--port", "0000:ff:1f.7", "--eal", &eal, &input.display().to_string()],
        Duration::from_secs(30),
    );
    let took = began.elapsed();
    eprintln!("port that does not exist: exit {code} after {took:?}: {err}");
    assert_eq!(code, 3, "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_one_error_line(&err, "0000:ff:1f.7");
}

#[test]
fn memif_peer_that_never_comes_is_an_environment_error() {
    let Some(t) = DpdkTest::start("rel-nopeer", Duration::from_secs(70)) else { return };
    let (server, _client) = common::transfer::memif_pair(&t, 1, None);
    let output = t.path("out.bin");
    let eal = format!("--file-prefix {}", t.prefix);
    let began = Instant::now();
    let (code, _, err) = run_stripecat(
        &["recv", "--quiet", "--port", &server[0], "--eal", &eal, &output.display().to_string()],
        Duration::from_secs(50),
    );
    let took = began.elapsed();
    eprintln!("memif peer that never comes: exit {code} after {took:?}: {err}");
    assert_eq!(code, 3, "{err}");
    assert!(took >= Duration::from_secs(29) && took <= Duration::from_secs(38), "took {took:?}");
    assert_one_error_line(&err, "did not come up");
}

// ---------------------------------------------------------------------
// 8. A member link taken down mid-transfer, and back.

fn set_link(dev: &str, up: bool) {
    sh(&["ip", "link", "set", dev, if up { "up" } else { "down" }]);
}

/// Frames the kernel sent out of `dev` (in this namespace).
fn tx_packets(dev: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{dev}/statistics/tx_packets")).unwrap().trim().parse().unwrap()
}

fn stats_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn path_stat(report: &serde_json::Value, path: usize, key: &str) -> u64 {
    report["paths"][path][key].as_u64().unwrap_or_else(|| panic!("no paths[{path}].{key}: {report}"))
}

#[test]
fn member_link_down_mid_transfer_then_back_up_is_used_again() {
    let Some(t) = DpdkTest::start("rel-linkdown", Duration::from_secs(150)) else { return };
    let l = Links::new("d", 2);
    let (output, sj, rj) = (t.path("out.bin"), t.path("send.json"), t.path("recv.json"));
    let seed = 0x11d0;
    let json = |p: &Path| vec!["--stats-json".to_string(), p.display().to_string()];
    let mut r = start_recv(&t, &l, &output, &json(&rj), Stdio::null());
    let mut s = start(&t, "send", &args("send", &l.send_ports(), &json(&sj), None), Stdio::piped(), Stdio::null());
    let stdin = s.child.stdin.take().expect("piped stdin");
    // ~20 MiB/s: the stream is still running through every step below.
    let feeder = Feeder::start(stdin, seed, Duration::from_millis(50));
    wait_output(&output, 4 << 20, &mut [&mut r, &mut s]);

    // Link 1 goes down (its sender end: the receiver's end loses carrier):
    // the transfer goes on over link 0 alone.
    set_link(&l.send_if[1], false);
    std::thread::sleep(Duration::from_secs(2));
    let at = file_len(&output);
    wait_output(&output, at + (8 << 20), &mut [&mut r, &mut s]);

    // Link 1 comes back. To show it carries data again, link 0 goes down:
    // from then on link 1 is the only way through.
    set_link(&l.send_if[1], true);
    std::thread::sleep(Duration::from_millis(1500));
    let before = tx_packets(&l.send_if[1]);
    set_link(&l.send_if[0], false);
    std::thread::sleep(Duration::from_secs(2));
    let at = file_len(&output);
    wait_output(&output, at + (8 << 20), &mut [&mut r, &mut s]);
    let carried = tx_packets(&l.send_if[1]) - before;
    set_link(&l.send_if[0], true);
    // Probes find it up within a few of their 20 ms intervals; give the
    // stream time to use both links again before it ends.
    std::thread::sleep(Duration::from_secs(3));

    let fed = feeder.stop();
    let so = finish(s, LIMIT);
    let ro = finish(r, LIMIT);
    let report = std::fs::read_to_string(&sj)
        .ok()
        .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
        .unwrap_or_default();
    eprintln!("link down and up: fed {fed} bytes; link 1 carried {carried} frames alone; paths {}", report["paths"]);
    assert_both_ok(&so, &ro);
    assert_eq!(file_len(&output), fed, "every fed byte arrived");
    assert_stream_prefix(&output, seed);
    // 8 MiB or more went through link 1 alone after it came back: at least
    // 5,000 full-size frames.
    assert!(carried >= 5_000, "link 1 sent {carried} frames while link 0 was down");
    for p in 0..2 {
        assert!(path_stat(&report, p, "downs") >= 1, "path {p} was never marked down: {report}");
        assert!(path_stat(&report, p, "ups") >= 1, "path {p} never came back: {report}");
    }
}

// ---------------------------------------------------------------------
// 9. Replayed packets of an earlier transfer.

/// Captures stripecat frames on an interface: those to UDP port `port`
/// into one file, those from it into another (each frame: u32 length,
/// bytes), until both counts are reached, the link has been quiet for a
/// second after the first capture, or `limit` seconds passed.
/// argv: iface to_file from_file port limit.
const CAPTURE: &str = r#"
import socket, struct, sys, time
iface, to_path, from_path, port, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
s.bind((iface, 0))
s.settimeout(0.1)
to, frm = [], []
print('ready', flush=True)
end = time.time() + limit
last = None
while time.time() < end and (len(to) < 3000 or len(frm) < 300):
    if last is not None and time.time() - last > 1.0:
        break
    try:
        f = s.recv(65535)
    except socket.timeout:
        continue
    if len(f) < 14 + 20 + 8 + 48 or f[12:14] != b'\x08\x00' or f[23] != 17:
        continue
    u = 14 + (f[14] & 15) * 4
    sport, dport = struct.unpack('!HH', f[u:u + 4])
    if f[u + 8:u + 10] != b'\x53\x54':
        continue
    last = time.time()
    if dport == port and len(to) < 3000:
        to.append(f)
    elif sport == port and len(frm) < 300:
        frm.append(f)
for path, frames in ((to_path, to), (from_path, frm)):
    with open(path, 'wb') as o:
        for f in frames:
            o.write(struct.pack('!I', len(f)) + f)
print(len(to), len(frm), flush=True)
"#;

/// Sends every frame of a capture file out of an interface, 50 per 20 ms;
/// prints how many. argv: iface file.
const REPLAY: &str = r#"
import socket, struct, sys, time
iface, path = sys.argv[1], sys.argv[2]
data = open(path, 'rb').read()
frames, off = [], 0
while off < len(data):
    n = struct.unpack('!I', data[off:off + 4])[0]
    frames.append(data[off + 4:off + 4 + n])
    off += 4 + n
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
for i, f in enumerate(frames):
    s.send(f)
    if i % 50 == 49:
        time.sleep(0.02)
print(len(frames), flush=True)
"#;

fn drops(report: &serde_json::Value, key: &str) -> u64 {
    report["drops"][key].as_u64().unwrap_or(0)
}

#[test]
fn replayed_packets_of_an_earlier_transfer_are_dropped_and_counted() {
    let Some(t) = DpdkTest::start("rel-replay", Duration::from_secs(150)) else { return };
    let l = Links::new("y", 2);
    let (capture, replay) = (t.path("capture.py"), t.path("replay.py"));
    std::fs::write(&capture, CAPTURE).unwrap();
    std::fs::write(&replay, REPLAY).unwrap();
    let (to_recv, to_send) = (t.path("to-recv.frames"), t.path("to-send.frames"));

    // The earlier transfer, captured on link 0 (the sender's end sees both
    // directions): its DATA, HELLO and FIN frames and the receiver's ACKs.
    let (input, first_out) = (t.path("in1.bin"), t.path("out1.bin"));
    random_file(&input, 8 << 20, 0x4e91);
    let mut cap = common::spawn(
        Command::new("python3")
            .arg(&capture)
            .args([
                l.send_if[0].as_str(),
                &to_recv.display().to_string(),
                &to_send.display().to_string(),
                "47100",
                "40",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut cap_out = std::io::BufReader::new(cap.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut cap_out, &mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the capture did not start");
    let r = start_recv(&t, &l, &first_out, &[], Stdio::null());
    let s = start(&t, "send", &args("send", &l.send_ports(), &[], Some(&input)), Stdio::null(), Stdio::null());
    let so = finish(s, LIMIT);
    let ro = finish(r, LIMIT);
    assert_both_ok(&so, &ro);
    assert_same_file(&input, &first_out);
    let ok = wait_for(Duration::from_secs(45), || cap.try_wait().ok().flatten().is_some());
    assert!(ok, "the capture did not end");
    line.clear();
    std::io::BufRead::read_line(&mut cap_out, &mut line).unwrap();
    let counts: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    assert!(
        counts.len() == 2 && counts[0] >= 1000 && counts[1] >= 50,
        "captured too little of the first transfer: {line:?}"
    );

    // The new transfer, with the old frames played onto link 0 in both
    // directions while it runs.
    let (output, sj, rj) = (t.path("out2.bin"), t.path("send.json"), t.path("recv.json"));
    let seed = 0x4e92;
    let json = |p: &Path| vec!["--stats-json".to_string(), p.display().to_string()];
    let mut r = start_recv(&t, &l, &output, &json(&rj), Stdio::null());
    let mut s = start(&t, "send", &args("send", &l.send_ports(), &json(&sj), None), Stdio::piped(), Stdio::null());
    let feeder = Feeder::start(s.child.stdin.take().unwrap(), seed, Duration::from_millis(40));
    wait_output(&output, 4 << 20, &mut [&mut r, &mut s]);
    let play = |cmd: &mut Command| -> u64 {
        let (code, out, err) = common::run_with_timeout(cmd, Duration::from_secs(30));
        assert_eq!(code, 0, "replay failed: {err}");
        out.trim().parse().unwrap_or_else(|_| panic!("replay said {out:?}"))
    };
    // Toward the receiver: from the sender's end of link 0.
    let sent_to_recv =
        play(Command::new("python3").arg(&replay).args([l.send_if[0].as_str(), &to_recv.display().to_string()]));
    // Toward the sender: from the receiver's end, inside its namespace.
    let sent_to_send = play(
        Command::new("ip")
            .args(["netns", "exec", &l.ns, "python3"])
            .arg(&replay)
            .args([l.recv_if[0].as_str(), &to_send.display().to_string()]),
    );
    assert!(
        r.child.try_wait().unwrap().is_none() && s.child.try_wait().unwrap().is_none(),
        "an end left during the replay"
    );
    std::thread::sleep(Duration::from_millis(500));
    let fed = feeder.stop();
    let so = finish(s, LIMIT);
    let ro = finish(r, LIMIT);
    assert_both_ok(&so, &ro);
    assert_eq!(file_len(&output), fed, "every fed byte arrived");
    assert_stream_prefix(&output, seed);
    let (rs, ss) = (stats_json(&rj), stats_json(&sj));
    eprintln!(
        "replayed {sent_to_recv} frames to the receiver, {sent_to_send} to the sender; drops: receiver {}, sender {}",
        rs["drops"], ss["drops"]
    );
    // Nothing else on these links carries another session's id, so these
    // counts are the replayed frames (most of them, at least: a raw socket
    // may lose a few).
    assert!(
        drops(&rs, "wrong_session") >= sent_to_recv / 2,
        "receiver: {} of {sent_to_recv} old frames counted: {rs}",
        drops(&rs, "wrong_session")
    );
    assert!(
        drops(&ss, "wrong_session") >= sent_to_send / 2,
        "sender: {} of {sent_to_send} old frames counted: {ss}",
        drops(&ss, "wrong_session")
    );
}

// ---------------------------------------------------------------------
// 10. Hugepages exhausted.

const HP_DIR: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";

fn free_hugepages() -> u64 {
    std::fs::read_to_string(format!("{HP_DIR}/free_hugepages")).unwrap().trim().parse().unwrap()
}

/// Takes all but `leave` free 2 MiB hugepages into a file on a hugetlbfs of
/// our own (another process's pages, as far as stripecat can tell); the
/// file, the mount and its directory go at cleanup, also on failure.
fn hog_hugepages(t: &DpdkTest, leave: u64) -> PathBuf {
    let dir = t.path(&format!("hugetlbfs-{leave}"));
    std::fs::create_dir_all(&dir).unwrap();
    sh(&["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "none", &dir.display().to_string()]);
    register(Cleanup::Unmount(dir.clone()));
    let hog = dir.join("hog");
    register(Cleanup::RemovePath(hog.clone()));
    let take = free_hugepages().saturating_sub(leave);
    sh(&["fallocate", "-l", &format!("{}M", take * 2), &hog.display().to_string()]);
    hog
}

#[test]
fn hugepages_exhausted_is_one_clear_environment_error() {
    let Some(t) = DpdkTest::start("rel-nohuge", Duration::from_secs(90)) else { return };
    let free_before = free_hugepages();
    assert!(free_before >= 64, "only {free_before} free hugepages to start with");
    let input = t.path("in.bin");
    random_file(&input, 1 << 20, 3);
    // None free: the check before EAL starts. A few free: EAL starts, the
    // packet-buffer pools do not fit.
    for (leave, cmd, what) in [
        (0, "send", "hugepages are in use"),
        (4, "recv", "not enough hugepage memory"),
        (4, "send", "not enough hugepage memory"),
    ] {
        let hog = hog_hugepages(&t, leave);
        let prefix = format!("{}-{leave}-{cmd}", t.prefix);
        register(Cleanup::RemovePath(PathBuf::from(format!("/var/run/dpdk/{prefix}"))));
        let eal = format!("--file-prefix {prefix}");
        let file = if cmd == "send" { input.display().to_string() } else { t.path("out.bin").display().to_string() };
        let began = Instant::now();
        let (code, _, err) =
            run_stripecat(&[cmd, "--quiet", "--port", "net_null0", "--eal", &eal, &file], Duration::from_secs(30));
        let took = began.elapsed();
        eprintln!("{leave} hugepages left, {cmd}: exit {code} after {took:?}: {err}");
        assert_eq!(code, 3, "{cmd} with {leave} hugepages left: {err}");
        assert!(took < Duration::from_secs(15), "took {took:?}");
        assert_one_error_line(&err, what);
        assert!(err.contains("scripts/setup-hugepages.sh"), "the hint names the set-up script: {err}");
        std::fs::remove_file(&hog).unwrap();
        // Nothing of the failed run holds pages any more.
        assert!(
            wait_for(Duration::from_secs(5), || free_hugepages() + 8 >= free_before),
            "{} free after, {free_before} before",
            free_hugepages()
        );
    }
}

// ---------------------------------------------------------------------
// 11. Flow control: a slow reader of the receiver's output.

/// A "kB" field of /proc/PID/status, 0 when the process is gone.
fn status_kib(pid: u32, field: &str) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    s.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')
                .map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

#[test]
fn slow_reader_holds_the_sender_back_within_the_memory_budget() {
    let Some(t) = DpdkTest::start("rel-slowread", Duration::from_secs(120)) else { return };
    let l = Links::new("w", 2);
    const TOTAL: u64 = 64 << 20;
    const RATE: u64 = 8 << 20; // bytes per second the reader takes
                               // After this much, the reader stops for PAUSE: longer than the sender's
                               // 10 s give-up bound, which must not end a transfer whose receiver is
                               // alive and merely not read.
    const PAUSE_AT: u64 = 16 << 20;
    const PAUSE: Duration = Duration::from_secs(12);
    let seed = 0x510e;
    let mut r =
        start_in(&t, Some(&l.ns), "recv", &args("recv", &l.recv_ports(), &[], None), Stdio::null(), Stdio::piped());
    let mut s = start(&t, "send", &args("send", &l.send_ports(), &[], None), Stdio::piped(), Stdio::null());
    let (rpid, spid) = (r.child.id(), s.child.id());

    // The sender's input: as fast as the sender takes it.
    let fed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut stdin = s.child.stdin.take().unwrap();
    let f = fed.clone();
    let feeder = std::thread::spawn(move || {
        for k in 0..TOTAL / FEED_CHUNK as u64 {
            if stdin.write_all(&stream_chunk(seed, k)).is_err() {
                return;
            }
            f.fetch_add(FEED_CHUNK as u64, Ordering::Relaxed);
        }
    });
    // The receiver's output: RATE bytes per second, checked as it comes.
    let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut stdout = r.child.stdout.take().unwrap();
    let rd = read.clone();
    let reader = std::thread::spawn(move || -> Result<(), String> {
        let mut began = Instant::now();
        let mut paused = false;
        let mut buf = vec![0u8; 64 << 10];
        let mut n = 0u64;
        let mut want = stream_chunk(seed, 0);
        loop {
            let got = stdout.read(&mut buf).map_err(|e| e.to_string())?;
            if got == 0 {
                return Ok(());
            }
            for &b in &buf[..got] {
                let k = n / FEED_CHUNK as u64;
                let i = (n % FEED_CHUNK as u64) as usize;
                if i == 0 && k > 0 {
                    want = stream_chunk(seed, k);
                }
                if b != want[i] {
                    return Err(format!("output byte {n} differs from the input"));
                }
                n += 1;
            }
            rd.store(n, Ordering::Relaxed);
            if n >= PAUSE_AT && !paused {
                paused = true;
                std::thread::sleep(PAUSE);
                began += PAUSE;
            }
            let due = Duration::from_secs_f64(n as f64 / RATE as f64);
            if let Some(wait) = due.checked_sub(began.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    });

    // Sample while both run: how far the sender's input is ahead of the
    // reader, and both ends' memory.
    let (mut max_ahead, mut read_when_sender_left) = (0u64, None);
    let (mut hwm, mut huge) = ([0u64; 2], [0u64; 2]);
    let end = Instant::now() + Duration::from_secs(90);
    while Instant::now() < end {
        let (f, rd) = (fed.load(Ordering::Relaxed), read.load(Ordering::Relaxed));
        max_ahead = max_ahead.max(f.saturating_sub(rd));
        for (i, pid) in [spid, rpid].into_iter().enumerate() {
            hwm[i] = hwm[i].max(status_kib(pid, "VmHWM"));
            huge[i] = huge[i].max(status_kib(pid, "HugetlbPages"));
        }
        if read_when_sender_left.is_none() && s.child.try_wait().unwrap().is_some() {
            read_when_sender_left = Some(read.load(Ordering::Relaxed));
        }
        if r.child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    feeder.join().unwrap();
    let checked = reader.join().unwrap();
    let so = finish(s, Duration::from_secs(10));
    let ro = finish(r, Duration::from_secs(10));
    let total_read = read.load(Ordering::Relaxed);
    eprintln!(
        "slow reader: input ahead of the reader by at most {:.1} MiB; sender left with {:?} of {TOTAL} bytes read; \
         peak RSS send/recv {}/{} KiB, hugetlb {}/{} KiB",
        max_ahead as f64 / (1 << 20) as f64,
        read_when_sender_left,
        hwm[0],
        hwm[1],
        huge[0],
        huge[1]
    );
    assert_both_ok(&so, &ro);
    checked.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(total_read, TOTAL, "the reader got the whole stream");
    // Held back: the input runs ahead of the reader by no more than what the
    // receiver's window (32 MiB), its writer queue (8192 chunks, 11 MiB) and
    // the sender's read-ahead (2048 chunks, 3 MiB) hold, with margin; and it
    // did fill them (the reader was the bottleneck, not the network).
    assert!(max_ahead <= 64 << 20, "the input ran {max_ahead} bytes ahead of the reader");
    assert!(
        max_ahead >= 16 << 20,
        "the input was never more than {max_ahead} bytes ahead: the reader was not the bottleneck"
    );
    // The sender could not finish before the reader had nearly everything:
    // the FIN-ACK waits for the receiver's output.
    let left_at = read_when_sender_left.unwrap_or(TOTAL);
    assert!(left_at >= TOTAL - (4 << 20), "the sender left when only {left_at} bytes were read");
    // Memory within the budget of docs/DATAPLANE.md, with margin.
    for (i, who) in ["sender", "receiver"].iter().enumerate() {
        assert!(huge[i] > 0 && huge[i] <= 160 << 10, "{who}: {} KiB of hugepages", huge[i]);
        assert!(hwm[i] > 0 && hwm[i] <= 128 << 10, "{who}: peak RSS {} KiB", hwm[i]);
    }
}
