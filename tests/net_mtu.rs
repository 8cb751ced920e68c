//! Path MTU, checked not assumed (issue 12), end to end over net_af_packet on veth
//! pairs: the handshake settles the smaller end's `--mtu`; a member whose "switch
//! port" (a bridge in its own namespace, one port at MTU 1500) drops jumbo frames is
//! named within 5 s and the transfer completes over the other member, and carries data
//! again once that port takes jumbo frames; with every member so, the sender exits 4
//! with the message naming the member and the sizes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::data::{assert_same_file, assert_stream_prefix};
use common::dpdk::{netns_with, register, sh, veth_pair, Cleanup, DpdkTest};
use common::read_json;
use common::transfer::{af_packet_ports, finish, input_output, start, start_in, stderr, stripecat_args, Feeder, Proc};

const LIMIT: Duration = Duration::from_secs(90);

/// Member links for one test: sender ends here, receiver ends in namespace `ns`, all
/// at MTU `mtu`. Member `i` is a plain veth pair, or, when `narrow[i]`, runs through a
/// bridge in namespace `sw` whose port towards the receiver has MTU 1500 (a switch port
/// without jumbo frames): the bridge drops larger frames on their way out of it. (The
/// drop must not be the veth next to the sender: af_packet's transmit ring stalls on a
/// frame its own device refuses, which no switch further away can do.)
struct Net {
    send_if: Vec<String>,
    recv_if: Vec<String>,
    ns: String,
    /// The switch namespace and, per narrow member, its 1500-byte port.
    sw: String,
    narrow_ports: Vec<String>,
}

impl Net {
    fn new(tag: &str, mtu: u32, narrow: &[bool]) -> Net {
        let id = std::process::id() % 100_000;
        let ns = format!("{tag}{id}");
        let sw = format!("{tag}{id}w");
        let mut send_if = Vec::new();
        let mut recv_if = Vec::new();
        let mut sw_devs = Vec::new();
        for (i, &n) in narrow.iter().enumerate() {
            let (s, r) = (format!("{tag}{id}s{i}"), format!("{tag}{id}r{i}"));
            if n {
                let (a, b) = (format!("{tag}{id}a{i}"), format!("{tag}{id}b{i}"));
                veth_pair(&s, &a, mtu);
                veth_pair(&r, &b, mtu);
                sw_devs.push((a, b));
            } else {
                veth_pair(&s, &r, mtu);
            }
            send_if.push(s);
            recv_if.push(r);
        }
        let devs: Vec<&str> = recv_if.iter().map(String::as_str).collect();
        netns_with(&ns, &devs);
        if !sw_devs.is_empty() {
            let all: Vec<&str> = sw_devs.iter().flat_map(|(a, b)| [a.as_str(), b.as_str()]).collect();
            netns_with(&sw, &all);
            for (k, (a, b)) in sw_devs.iter().enumerate() {
                let br = format!("br{k}");
                sh(&["ip", "-n", &sw, "link", "add", &br, "type", "bridge"]);
                sh(&["ip", "-n", &sw, "link", "set", b, "master", &br]);
                sh(&["ip", "-n", &sw, "link", "set", a, "master", &br]);
                // The port towards the receiver carries 1500-byte frames only.
                sh(&["ip", "-n", &sw, "link", "set", b, "mtu", "1500"]);
                sh(&["ip", "-n", &sw, "link", "set", &br, "up"]);
            }
        }
        let narrow_ports = sw_devs.into_iter().map(|(_, b)| b).collect();
        Net { send_if, recv_if, ns, sw, narrow_ports }
    }

    /// Gives the `k`-th narrow member's switch port jumbo frames (the hint's fix).
    fn enable_jumbo_frames(&self, k: usize) {
        sh(&["ip", "-n", &self.sw, "link", "set", &self.narrow_ports[k], "mtu", "9000"]);
    }
}

/// A sender whose stderr lines are collected as they come, each with the time since start.
struct Watched {
    proc: Proc,
    lines: Arc<Mutex<Vec<(Duration, String)>>>,
    reader: std::thread::JoinHandle<()>,
}

fn start_watched(t: &DpdkTest, args: &[String], stdin: Stdio) -> Watched {
    let began = Instant::now();
    let mut proc = start(t, "send", args, stdin, Stdio::null());
    let err = proc.child.stderr.take().expect("piped stderr");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            sink.lock().unwrap().push((began.elapsed(), line));
        }
    });
    Watched { proc, lines, reader }
}

impl Watched {
    /// Waits until a stderr line contains `needle`; when it came, or `None` after `within`.
    fn wait_for(&self, needle: &str, within: Duration) -> Option<Duration> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Some((at, _)) = self.lines.lock().unwrap().iter().find(|(_, l)| l.contains(needle)) {
                return Some(*at);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits for the exit; its code and every stderr line with its time.
    fn finish(mut self, limit: Duration) -> (Option<i32>, Vec<(Duration, String)>) {
        let end = Instant::now() + limit;
        let status = loop {
            if let Some(st) = self.proc.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > end {
                let _ = self.proc.child.kill();
                let _ = self.reader.join();
                panic!("sender did not finish within {limit:?}: {:?}", self.lines.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = self.reader.join();
        let lines = self.lines.lock().unwrap().clone();
        (status.code(), lines)
    }
}

fn text(lines: &[(Duration, String)]) -> String {
    lines.iter().map(|(t, l)| format!("[{:.2}s] {l}\n", t.as_secs_f64())).collect()
}

#[test]
fn mismatched_mtu_settles_on_the_smaller_end_and_completes() {
    let Some(t) = DpdkTest::start("mtu-settle", LIMIT + Duration::from_secs(30)) else { return };
    let net = Net::new("smt", 1500, &[false]);
    let (input, output) = input_output(&t, 8 << 20, 0x3715);
    let stats = t.path("send.json");
    let stats_arg = stats.display().to_string();
    let rargs = stripecat_args("recv", &af_packet_ports(&net.recv_if), &["--mtu", "1500"], Some(&output));
    // Not quiet: the summary paragraph says what the frame size settled at.
    let mut sargs = stripecat_args(
        "send",
        &af_packet_ports(&net.send_if),
        &["--mtu", "9000", "--stats-json", &stats_arg],
        Some(&input),
    );
    sargs.retain(|a| a != "--quiet");
    let r = start_in(&t, Some(&net.ns), "recv", &rargs, Stdio::null(), Stdio::null());
    let s = start(&t, "send", &sargs, Stdio::null(), Stdio::null());
    let so = finish(s, LIMIT);
    let ro = finish(r, LIMIT);
    assert!(so.status.success() && ro.status.success(), "send: {}\nrecv: {}", stderr(&so), stderr(&ro));
    assert_same_file(&input, &output);
    let v = read_json(&stats);
    assert_eq!(v["mtu"].as_u64(), Some(1500), "{v}");
    let e = stderr(&so);
    assert!(e.contains("frames of 1500 bytes (the peer's --mtu 1500 is below our 9000)"), "{e}");
}

/// What a fed transfer over two members at `--mtu 9000`, the second behind a switch port
/// without jumbo frames, ended with: `during`'s result, the sender's stderr lines and its
/// `--stats-json`, and the bytes fed (both ends succeeded; the output is the fed stream).
struct NarrowRun<T> {
    during: T,
    lines: Vec<(Duration, String)>,
    stats: serde_json::Value,
    fed: u64,
}

/// Runs that transfer, fed at 20 MiB/s while `during` runs (with the links and the sender);
/// `None` where DPDK tests are skipped (not root, said loudly).
fn narrow_member_transfer<T>(
    name: &str,
    tag: &str,
    seed: u64,
    during: impl FnOnce(&Net, &Watched) -> T,
) -> Option<NarrowRun<T>> {
    let t = DpdkTest::start(name, LIMIT + Duration::from_secs(30))?;
    let net = Net::new(tag, 9000, &[false, true]);
    let output = t.path("out.bin");
    let stats = t.path("send.json");
    let stats_arg = stats.display().to_string();
    let rargs = stripecat_args("recv", &af_packet_ports(&net.recv_if), &["--mtu", "9000"], Some(&output));
    let sargs =
        stripecat_args("send", &af_packet_ports(&net.send_if), &["--mtu", "9000", "--stats-json", &stats_arg], None);
    let r = start_in(&t, Some(&net.ns), "recv", &rargs, Stdio::null(), Stdio::null());
    let mut s = start_watched(&t, &sargs, Stdio::piped());
    let feeder = Feeder::start(s.proc.child.stdin.take().expect("piped stdin"), seed, Duration::from_millis(50));
    let during = during(&net, &s);
    let fed = feeder.stop();
    let (code, lines) = s.finish(LIMIT);
    let ro = finish(r, LIMIT);
    assert!(code == Some(0) && ro.status.success(), "send {code:?}: {}\nrecv: {}", text(&lines), stderr(&ro));
    assert_eq!(std::fs::metadata(&output).unwrap().len(), fed);
    assert_stream_prefix(&output, seed);
    Some(NarrowRun { during, lines, stats: read_json(&stats), fed })
}

#[test]
fn a_member_without_jumbo_frames_is_named_within_5_s_and_the_other_carries_the_stream() {
    // Fed for 6 s, so the transfer outlasts the check.
    let sleep = |_: &Net, _: &Watched| std::thread::sleep(Duration::from_secs(6));
    let Some(run) = narrow_member_transfer("mtu-one-narrow", "smn", 0x3716, sleep) else { return };
    let lines = &run.lines;
    let want = "member net_af_packet1: 9000-byte frames do not arrive, 1500-byte frames do \
                (hint: enable jumbo frames on that switch port or use --mtu 1500)";
    let (at, _) = lines.iter().find(|(_, l)| l.contains(want)).unwrap_or_else(|| panic!("{}", text(lines)));
    assert!(*at <= Duration::from_secs(5), "named after {at:?}: {}", text(lines));
    assert!(!lines.iter().any(|(_, l)| l.contains("net_af_packet0:")), "{}", text(lines));
    // Member 0 carried the stream; member 1 only its probes.
    let v = &run.stats;
    let paths = v["paths"].as_array().expect("paths");
    assert!(paths[0]["bytes"].as_u64().unwrap_or(0) >= run.fed, "{v}");
    assert!(paths[1]["packets"].as_u64().unwrap_or(u64::MAX) < 200, "{v}");
}

/// The probe goes on after a path failed: once the switch port takes jumbo frames, the
/// member carries data again, and the sender says so.
#[test]
fn a_member_whose_switch_port_gets_jumbo_frames_carries_data_again() {
    let run = narrow_member_transfer("mtu-fixed", "smf", 0x3718, |net, s| {
        let failed = s.wait_for("member net_af_packet1: 9000-byte frames do not arrive", Duration::from_secs(10));
        net.enable_jumbo_frames(0);
        let back = s.wait_for("member net_af_packet1: full-size frames arrive now", Duration::from_secs(10));
        // Let it carry a while before the input ends.
        std::thread::sleep(Duration::from_secs(3));
        (failed, back)
    });
    let Some(run) = run else { return };
    let (failed, back) = run.during;
    assert!(failed.is_some() && back.is_some(), "failed {failed:?}, back {back:?}: {}", text(&run.lines));
    assert!(back.unwrap() - failed.unwrap() <= Duration::from_secs(4), "{}", text(&run.lines));
    // Member 1 carried data once it was back (it had carried only probes before).
    let bytes = run.stats["paths"][1]["bytes"].as_u64().unwrap_or(0);
    assert!(bytes > 4 << 20, "member 1 carried {bytes} bytes: {}", run.stats);
}

#[test]
fn every_member_too_small_exits_4_naming_the_member_and_sizes() {
    every_member_too_small("mtu-all-narrow", "sma", false);
}

/// Keyed sessions check the path MTU the same way: their probes are sealed, and
/// those that reach the receiver before the CONFIRM commits it are answered by the
/// next pair.
#[test]
fn a_keyed_session_checks_the_path_mtu_too() {
    every_member_too_small("mtu-keyed-narrow", "smk", true);
}

fn every_member_too_small(name: &str, tag: &str, keyed: bool) {
    let Some(t) = DpdkTest::start(name, LIMIT + Duration::from_secs(30)) else { return };
    let net = Net::new(tag, 9000, &[true]);
    let (input, output) = input_output(&t, 4 << 20, 0x3717);
    let key = t.path("key");
    let key_arg = key.display().to_string();
    let mut extra = vec!["--mtu", "9000"];
    if keyed {
        let k = std::process::Command::new(common::bin()).arg("keygen").arg(&key).status().expect("keygen");
        assert!(k.success(), "keygen: {k:?}");
        extra.extend(["--key-file", &key_arg]);
    }
    let rargs = stripecat_args("recv", &af_packet_ports(&net.recv_if), &extra, Some(&output));
    let sargs = stripecat_args("send", &af_packet_ports(&net.send_if), &extra, Some(&input));
    let r = start_in(&t, Some(&net.ns), "recv", &rargs, Stdio::null(), Stdio::null());
    register(Cleanup::Kill(r.child.id()));
    let s = start_watched(&t, &sargs, Stdio::null());
    let (code, lines) = s.finish(LIMIT);
    let all = text(&lines);
    assert_eq!(code, Some(4), "{all}");
    let want = "member net_af_packet0: 9000-byte frames do not arrive, 1500-byte frames do \
                (hint: enable jumbo frames on that switch port or use --mtu 1500)";
    assert!(all.contains(want), "{all}");
    let (at, _) = lines.iter().find(|(_, l)| l.contains("do not arrive")).expect("the message");
    assert!(*at <= Duration::from_secs(6), "{all}");
    let _ = finish(r, LIMIT);
}
