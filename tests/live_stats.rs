//! `--stats-interval SECS` and the bottleneck verdict, end to end: over two
//! memif links (DPDK) and over kernel `--udp`, a sender fed slowly through a
//! pipe is "limited by the input", and a receiver whose stdout is read slowly
//! is "limited by the output". The interval lines parse as JSON, come at the
//! interval, and the final report is the file's last line.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::dpdk::DpdkTest;
use common::kernel::{addr, assert_usage_errors, free_udp_port, scratch, spawn, wait_udp_bound, Io};
use common::transfer::{assert_both_ok, finish, memif_pair, start, stripecat_args, Feeder};

const LIMIT: Duration = Duration::from_secs(60);
const INTERVAL: f64 = 0.2;

/// The `--stats-json` file's lines: the interval objects, then the final report.
fn lines(path: &Path) -> (Vec<serde_json::Value>, serde_json::Value) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut all: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}")))
        .collect();
    let last = all.pop().expect("a final report");
    assert!(last.get("type").is_none() && last["role"].is_string(), "the last line is the final report: {last}");
    (all, last)
}

/// Interval lines of `role` at about `INTERVAL` apart, with figures per path.
fn check_intervals(v: &[serde_json::Value], role: &str, at_least: usize) {
    assert!(v.len() >= at_least, "{} interval lines, want {at_least} or more", v.len());
    let mut t_prev = 0.0;
    let mut gaps = Vec::new();
    for l in v {
        assert_eq!(l["type"], "interval", "{l}");
        assert_eq!(l["role"], role, "{l}");
        let t = l["t"].as_f64().expect("t");
        assert!(t > t_prev, "times increase: {l}");
        gaps.push(t - t_prev);
        t_prev = t;
        assert!(l["rate_bps"].as_f64().is_some() && l["bytes"].as_u64().is_some(), "{l}");
        let paths = l["paths"].as_array().expect("paths");
        // A receiver lists the paths that carried: none before the first DATA (a line
        // can fall between the handshake and it on a loaded machine), some once bytes moved.
        assert!(!paths.is_empty() || (role == "recv" && l["bytes"].as_u64() == Some(0)), "{l}");
        for p in paths {
            assert!(p["port"].as_str().is_some_and(|s| !s.is_empty()), "each path names its port: {l}");
            if role == "send" {
                assert!(p["cwnd"].as_u64().is_some() && p["srtt_us"].as_u64().is_some(), "{l}");
            }
        }
        let shares = &l["limits"];
        let sum: f64 = ["input", "output", "peer", "network", "cpu"].iter().map(|k| shares[*k].as_f64().unwrap()).sum();
        assert!(sum < 1.0001, "{l}");
    }
    gaps.sort_by(f64::total_cmp);
    let median = gaps[gaps.len() / 2];
    assert!(
        (INTERVAL * 0.5..=INTERVAL * 3.0).contains(&median),
        "median gap {median:.3} s for --stats-interval {INTERVAL}"
    );
}

fn verdict<'a>(report: &'a serde_json::Value, by: &str) -> &'a serde_json::Value {
    let l = &report["limited_by"];
    assert_eq!(l["by"], by, "the verdict names {by}: {report}");
    assert!(l["share"].as_f64().unwrap_or(0.0) > 0.5, "for most of the time: {l}");
    l
}

/// Reads `r` slowly (about 10 MiB/s) to its end; returns the bytes read.
fn slow_reader(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 << 10];
        let mut n = 0u64;
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => return n,
                Ok(k) => n += k as u64,
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    })
}

#[test]
fn memif_slow_input_lines_and_verdict() {
    let Some(t) = DpdkTest::start("live-in", LIMIT + Duration::from_secs(30)) else { return };
    let (server, client) = memif_pair(&t, 2, None);
    let (sj, rj) = (t.path("send.json"), t.path("recv.json"));
    let (sj_arg, rj_arg) = (sj.display().to_string(), rj.display().to_string());
    let every = INTERVAL.to_string();
    let out = t.path("out.bin");
    let r = stripecat_args("recv", &server, &["--stats-json", &rj_arg, "--stats-interval", &every], Some(&out));
    let s = stripecat_args("send", &client, &["--stats-json", &sj_arg, "--stats-interval", &every], None);
    let rp = start(&t, "recv", &r, Stdio::null(), Stdio::null());
    let mut sp = start(&t, "send", &s, Stdio::piped(), Stdio::null());
    // 1 MiB every 100 ms for 2.5 s: far below what two memif links carry.
    let feeder = Feeder::start(sp.child.stdin.take().expect("piped stdin"), 0x11fe, Duration::from_millis(100));
    std::thread::sleep(Duration::from_millis(2500));
    let fed = feeder.stop();
    let (so, ro) = (finish(sp, LIMIT), finish(rp, LIMIT));
    assert_both_ok(&so, &ro);
    assert_eq!(common::file_len(&out), fed);
    let (sl, sf) = lines(&sj);
    check_intervals(&sl, "send", 5);
    let l = verdict(&sf, "input");
    assert!(l["detail"].as_str().unwrap().contains("stdin"), "{l}");
    let (rl, rf) = lines(&rj);
    check_intervals(&rl, "recv", 5);
    // The receiver saw nothing arrive most of the time: the sender was slower.
    verdict(&rf, "peer");
}

#[test]
fn memif_slow_output_verdict() {
    let Some(t) = DpdkTest::start("live-out", LIMIT + Duration::from_secs(30)) else { return };
    let (server, client) = memif_pair(&t, 2, None);
    let input = t.path("in.bin");
    common::data::random_file(&input, 24 << 20, 0x0117);
    let (sj, rj) = (t.path("send.json"), t.path("recv.json"));
    let (sj_arg, rj_arg) = (sj.display().to_string(), rj.display().to_string());
    let r = stripecat_args("recv", &server, &["--stats-json", &rj_arg], None);
    let s = stripecat_args("send", &client, &["--stats-json", &sj_arg], Some(&input));
    let mut rp = start(&t, "recv", &r, Stdio::null(), Stdio::piped());
    let reader = slow_reader(rp.child.stdout.take().expect("piped stdout"));
    let sp = start(&t, "send", &s, Stdio::null(), Stdio::null());
    let (so, ro) = (finish(sp, LIMIT), finish(rp, LIMIT));
    assert_both_ok(&so, &ro);
    assert_eq!(reader.join().unwrap(), 24 << 20);
    // Without --stats-interval the report is the one pretty object, as before.
    let rf = common::read_json(&rj);
    let l = verdict(&rf, "output");
    assert!(l["detail"].as_str().unwrap().contains("stdout"), "{l}");
    let sf = common::read_json(&sj);
    // The sender waited on the receiver's credit (its slow output).
    verdict(&sf, "peer");
}

#[test]
fn udp_slow_input_and_slow_output() {
    let dir = scratch();
    let every = INTERVAL.to_string();
    // A slow input: lines at the interval, the verdict names the input.
    let port = free_udp_port();
    let (sj, rj) = (dir.path().join("s.json"), dir.path().join("r.json"));
    let (sj_a, rj_a) = (sj.display().to_string(), rj.display().to_string());
    let listen = addr(port);
    let bin = common::bin();
    let recv = spawn(
        dir.path(),
        &[
            bin,
            "recv",
            "-q",
            "--udp",
            "--listen",
            &listen,
            "--stats-json",
            &rj_a,
            "--stats-interval",
            &every,
            "out.bin",
        ],
        Io::Null,
        Io::Null,
        60,
    );
    wait_udp_bound(port);
    let mut send = spawn(
        dir.path(),
        &[bin, "send", "-q", "--udp", &listen, "--stats-json", &sj_a, "--stats-interval", &every],
        Io::Piped,
        Io::Null,
        60,
    );
    let feeder = Feeder::start(send.stdin(), 0x0d9, Duration::from_millis(100));
    std::thread::sleep(Duration::from_millis(2500));
    let fed = feeder.stop();
    send.ok();
    recv.ok();
    assert_eq!(common::file_len(&dir.path().join("out.bin")), fed);
    let (sl, sf) = lines(&sj);
    check_intervals(&sl, "send", 5);
    verdict(&sf, "input");
    let (rl, rf) = lines(&rj);
    check_intervals(&rl, "recv", 5);
    verdict(&rf, "peer");

    // A slow output: the receiver's verdict names it.
    let port = free_udp_port();
    let listen = addr(port);
    let input = dir.path().join("in.bin");
    common::data::random_file(&input, 24 << 20, 0x0d8);
    let input_a = input.display().to_string();
    let mut recv = spawn(
        dir.path(),
        &[bin, "recv", "-q", "--udp", "--listen", &listen, "--stats-json", &rj_a],
        Io::Null,
        Io::Piped,
        60,
    );
    let reader = slow_reader(recv.stdout());
    wait_udp_bound(port);
    spawn(dir.path(), &[bin, "send", "-q", "--udp", &listen, &input_a], Io::Null, Io::Null, 60).ok();
    recv.ok();
    assert_eq!(reader.join().unwrap(), 24 << 20);
    verdict(&common::read_json(&rj), "output");
}

#[test]
fn stats_interval_usage_errors() {
    // Refused by the argument parser: exit 2 with its message.
    for (args, needle) in [
        (&["send", "--udp", "127.0.0.1:9", "--stats-interval", "1", "/dev/null"][..], "--stats-json <FILE>"),
        (&["send", "--udp", "127.0.0.1:9", "--stats-json", "s.json", "--stats-interval", "0", "/dev/null"][..], "0.01"),
    ] {
        let (code, _, err) = common::run_stripecat(args, Duration::from_secs(20));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // TCP has no interval figures: one error line with a hint.
    let dir = scratch();
    assert_usage_errors(
        dir.path(),
        &[(vec!["recv", "--tcp", "--listen", "9", "--stats-json", "r.json", "--stats-interval", "1"], "--udp")],
    );
}
