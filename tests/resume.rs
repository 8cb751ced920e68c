//! `--resume` end to end (issue 13), over two memif links (DPDK) and kernel `--udp`: a
//! transfer killed mid-way (SIGKILL of the sender; separately of the receiver) is run
//! again with `--resume` on both ends: the output equals the input, and the second run's
//! reports show it moved only the rest. A prefix that differs is exit 5 on both ends and
//! a sender without `--resume` is refused (exit 2), the output untouched either way.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::data::{random_bytes, random_file};
use common::dpdk::DpdkTest;
use common::transfer::{assert_both_ok, finish, memif_pair, start, stderr, stripecat_args, wait_output, Proc};
use common::{file_len, read_json};

const MIB: u64 = 1 << 20;
const LEN: u64 = 48 * MIB + 4321;
const LIMIT: Duration = Duration::from_secs(60);

fn same_bytes(a: &Path, b: &Path) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert_eq!(x.len(), y.len(), "{} has {} bytes, {} has {}", a.display(), x.len(), b.display(), y.len());
    assert!(x == y, "{} and {} differ", a.display(), b.display());
}

/// The second run's reports: each end resumed at `held` and moved only the rest.
fn assert_moved_only_the_rest(send: &serde_json::Value, recv: &serde_json::Value, held: u64) {
    for (end, r) in [("sender", send), ("receiver", recv)] {
        assert_eq!(r["resumed_from"].as_u64(), Some(held), "{end}: {r}");
        assert_eq!(r["verified"].as_bool(), Some(true), "{end}: {r}");
    }
    for (end, r) in [("sender", send), ("receiver", recv)] {
        assert_eq!(r["bytes"].as_u64(), Some(LEN - held), "{end}: {r}");
    }
    // Fresh stream bytes on the wire (a path's bytes less its resends' share): the rest.
    let fresh: f64 = send["paths"]
        .as_array()
        .expect("paths")
        .iter()
        .map(|p| {
            let (bytes, packets, resends) = (p["bytes"].as_f64(), p["packets"].as_f64(), p["resends"].as_f64());
            let (bytes, packets, resends) = (bytes.unwrap_or(0.0), packets.unwrap_or(0.0), resends.unwrap_or(0.0));
            if packets > 0.0 {
                bytes * (packets - resends) / packets
            } else {
                0.0
            }
        })
        .sum();
    assert!(fresh < (LEN - held + 4 * MIB) as f64, "{fresh} fresh bytes sent for the {} left: {send}", LEN - held);
}

mod dpdk {
    use super::*;

    /// The memif sockets of `memif_pair`: a killed server leaves its socket file behind.
    fn remove_sockets(t: &DpdkTest) {
        for i in 0..2 {
            let _ = std::fs::remove_file(t.path(&format!("memif{i}.sock")));
        }
    }

    fn start_pair(
        t: &DpdkTest,
        input: &Path,
        output: &Path,
        extra: &[&str],
        tag: &str,
    ) -> (Proc, Proc, PathBuf, PathBuf) {
        let (server, client) = memif_pair(t, 2, None);
        let (sj, rj) = (t.path(&format!("send-{tag}.json")), t.path(&format!("recv-{tag}.json")));
        let (sj_arg, rj_arg) = (sj.display().to_string(), rj.display().to_string());
        let recv_extra = ["--resume", "--stats-json", rj_arg.as_str()];
        let send_extra: Vec<&str> = [&["--resume", "--stats-json", sj_arg.as_str()], extra].concat();
        let r =
            start(t, "recv", &stripecat_args("recv", &server, &recv_extra, Some(output)), Stdio::null(), Stdio::null());
        let s =
            start(t, "send", &stripecat_args("send", &client, &send_extra, Some(input)), Stdio::null(), Stdio::null());
        (s, r, sj, rj)
    }

    /// Kills `victim` ("send" or "recv") with SIGKILL once a quarter of the stream is
    /// written, stops the other end, then resumes both.
    fn killed_then_resumed(name: &str, victim: &str) {
        let Some(t) = DpdkTest::start(name, 3 * LIMIT) else { return };
        let (input, output) = (t.path("in.bin"), t.path("out.bin"));
        random_file(&input, LEN as usize, 41);
        // Capped, so the kill lands mid-way.
        let (mut s, mut r, _, _) = start_pair(&t, &input, &output, &["--rate", "300M"], "first");
        wait_output(&output, LEN / 4, &mut [&mut s, &mut r]);
        let (dead, other) = if victim == "send" { (s, r) } else { (r, s) };
        dead.signal("KILL");
        let _ = finish(dead, LIMIT);
        other.signal("TERM");
        let o = finish(other, LIMIT);
        assert!(!o.status.success(), "the surviving end exited 0: {}", stderr(&o));
        let held = file_len(&output);
        assert!((LEN / 4..LEN).contains(&held), "{held} bytes held of {LEN}");
        // What the output holds is the input's prefix.
        assert!(std::fs::read(&output).unwrap() == std::fs::read(&input).unwrap()[..held as usize]);

        remove_sockets(&t);
        let (s, r, sj, rj) = start_pair(&t, &input, &output, &[], "second");
        let (so, ro) = (finish(s, LIMIT), finish(r, LIMIT));
        assert_both_ok(&so, &ro);
        same_bytes(&input, &output);
        assert_moved_only_the_rest(&read_json(&sj), &read_json(&rj), held);
    }

    #[test]
    fn memif_sender_killed_then_resumed() {
        killed_then_resumed("resume-kill-send", "send");
    }

    #[test]
    fn memif_receiver_killed_then_resumed() {
        killed_then_resumed("resume-kill-recv", "recv");
    }

    #[test]
    fn memif_a_prefix_that_differs_or_a_sender_that_does_not_resume_leaves_the_output_alone() {
        let Some(t) = DpdkTest::start("resume-mismatch", 2 * LIMIT) else { return };
        let (input, output) = (t.path("in.bin"), t.path("out.bin"));
        random_file(&input, LEN as usize, 42);
        let mut held = std::fs::read(&input).unwrap()[..8 * MIB as usize].to_vec();
        held[5 * MIB as usize] ^= 0x40;
        std::fs::write(&output, &held).unwrap();
        let (s, r, _, _) = start_pair(&t, &input, &output, &[], "mismatch");
        let (so, ro) = (finish(s, LIMIT), finish(r, LIMIT));
        assert_eq!(so.status.code(), Some(5), "sender: {}", stderr(&so));
        assert_eq!(ro.status.code(), Some(5), "receiver: {}", stderr(&ro));
        assert!(stderr(&so).contains("does not start with the 8.0 MiB"), "{}", stderr(&so));
        assert!(stderr(&ro).contains("is untouched"), "{}", stderr(&ro));
        assert!(std::fs::read(&output).unwrap() == held, "the output changed");

        // The sender without --resume: refused, the output still as it was.
        remove_sockets(&t);
        let (server, client) = memif_pair(&t, 2, None);
        let r = start(
            &t,
            "recv",
            &stripecat_args("recv", &server, &["--resume"], Some(&output)),
            Stdio::null(),
            Stdio::null(),
        );
        let s = start(&t, "send", &stripecat_args("send", &client, &[], Some(&input)), Stdio::null(), Stdio::null());
        let (so, ro) = (finish(s, LIMIT), finish(r, LIMIT));
        assert_eq!(so.status.code(), Some(2), "sender: {}", stderr(&so));
        assert_eq!(ro.status.code(), Some(2), "receiver: {}", stderr(&ro));
        assert!(stderr(&ro).contains("refused rather than overwritten"), "{}", stderr(&ro));
        assert!(std::fs::read(&output).unwrap() == held, "the output changed");
    }
}

mod udp {
    use super::*;
    use common::kernel::{addr, bin, free_udp_port, scratch, spawn, wait_udp_bound, Io};

    fn keygen(dir: &Path) -> String {
        let key = dir.join("k.key");
        let st = std::process::Command::new(bin()).arg("keygen").arg(&key).status().unwrap();
        assert!(st.success());
        key.display().to_string()
    }

    /// `recv --udp --resume OUT` and `send --udp --resume` of `input` (FILE, or a pipe fed
    /// from it when `pipe`), with `extra` on both ends.
    fn pair(
        dir: &Path,
        input: &Path,
        output: &Path,
        extra: &[&str],
        send_extra: &[&str],
        pipe: bool,
    ) -> (common::kernel::Proc, common::kernel::Proc, PathBuf, PathBuf) {
        let p = free_udp_port();
        let a = addr(p);
        let (sj, rj) = (dir.join(format!("send-{p}.json")), dir.join(format!("recv-{p}.json")));
        let mut recv: Vec<&str> = vec![bin(), "recv", "--udp", "--listen", &a, "-q", "--resume"];
        recv.extend(["--stats-json", rj.to_str().unwrap()]);
        recv.extend(extra);
        recv.push(output.to_str().unwrap());
        let mut send: Vec<&str> = vec![bin(), "send", "--udp", &a, "-q", "--resume"];
        send.extend(["--stats-json", sj.to_str().unwrap()]);
        send.extend(extra);
        send.extend(send_extra);
        if !pipe {
            send.push(input.to_str().unwrap());
        }
        let r = spawn(dir, &recv, Io::Null, Io::Null, 60);
        wait_udp_bound(p);
        let mut s = spawn(dir, &send, if pipe { Io::Piped } else { Io::Null }, Io::Null, 60);
        if pipe {
            // A real pipe (no seeking): the sender must read past the prefix.
            let mut stdin = s.stdin();
            let bytes = std::fs::read(input).unwrap();
            std::thread::spawn(move || {
                let _ = std::io::Write::write_all(&mut stdin, &bytes);
            });
        }
        (s, r, sj, rj)
    }

    fn killed_then_resumed(victim: &str, extra: &[&str]) {
        let dir = scratch();
        let (input, output) = (dir.path().join("in.bin"), dir.path().join("out.bin"));
        std::fs::write(&input, random_bytes(LEN as usize, 43)).unwrap();
        let (s, r, _, _) = pair(dir.path(), &input, &output, extra, &["--rate", "200M"], false);
        assert!(common::wait_for(Duration::from_secs(20), || file_len(&output) >= LEN / 4), "no progress");
        let (dead, other) = if victim == "send" { (s, r) } else { (r, s) };
        dead.signal("KILL");
        let _ = dead.wait();
        other.signal("TERM");
        let _ = other.wait();
        let held = file_len(&output);
        assert!((LEN / 4..LEN).contains(&held), "{held} bytes held of {LEN}");
        // Resumed from a pipe this time: the sender reads past what the receiver holds.
        let (s, r, sj, rj) = pair(dir.path(), &input, &output, extra, &[], victim == "recv");
        let (_, _) = (s.ok(), r.ok());
        same_bytes(&input, &output);
        assert_moved_only_the_rest(&read_json(&sj), &read_json(&rj), held);
    }

    #[test]
    fn udp_sender_killed_then_resumed() {
        killed_then_resumed("send", &[]);
    }

    #[test]
    fn udp_keyed_receiver_killed_then_resumed_from_a_pipe() {
        let dir = scratch();
        let key = keygen(dir.path());
        killed_then_resumed("recv", &["--key-file", &key]);
    }

    #[test]
    fn udp_a_prefix_that_differs_is_exit_5_and_the_output_is_untouched() {
        let dir = scratch();
        let (input, output) = (dir.path().join("in.bin"), dir.path().join("out.bin"));
        std::fs::write(&input, random_bytes(4 * MIB as usize, 44)).unwrap();
        // The output is longer than the input: that is not its prefix either.
        let mut held = std::fs::read(&input).unwrap();
        held.extend_from_slice(b"more");
        std::fs::write(&output, &held).unwrap();
        let (s, r, _, _) = pair(dir.path(), &input, &output, &[], &[], false);
        let (so, ro) = (s.wait(), r.wait());
        assert_eq!(so.code(), Some(5), "sender: {}", so.stderr);
        assert_eq!(ro.code(), Some(5), "receiver: {}", ro.stderr);
        assert!(so.stderr.contains("shorter than the"), "{}", so.stderr);
        assert!(std::fs::read(&output).unwrap() == held, "the output changed");
    }

    #[test]
    fn udp_a_sender_that_resumes_against_a_receiver_that_does_not_sends_everything_and_says_so() {
        let dir = scratch();
        let (input, output) = (dir.path().join("in.bin"), dir.path().join("out.bin"));
        std::fs::write(&input, random_bytes(3 * MIB as usize, 45)).unwrap();
        std::fs::write(&output, b"old contents, overwritten: this receiver does not resume").unwrap();
        let p = free_udp_port();
        let a = addr(p);
        let r = spawn(
            dir.path(),
            &[bin(), "recv", "--udp", "--listen", &a, "-q", output.to_str().unwrap()],
            Io::Null,
            Io::Null,
            60,
        );
        wait_udp_bound(p);
        let s = spawn(
            dir.path(),
            &[bin(), "send", "--udp", &a, "--resume", input.to_str().unwrap()],
            Io::Null,
            Io::Null,
            60,
        );
        let (so, _) = (s.ok(), r.ok());
        same_bytes(&input, &output);
        assert!(so.stderr.contains("from the start (the receiver does not resume"), "{}", so.stderr);
    }

    #[test]
    fn resume_needs_a_file_output_and_the_striping_protocol() {
        let dir = scratch();
        let p = free_udp_port().to_string();
        for (argv, code, needle) in [
            (vec![bin(), "recv", "--udp", "--listen", &p, "--resume"], 2, "--resume needs a regular output FILE"),
            (vec![bin(), "recv", "--tcp", "--listen", &p, "--resume", "o"], 2, "--resume works over --udp and DPDK"),
            (vec![bin(), "send", "--tcp", "127.0.0.1:9", "--resume", "/dev/null"], 2, "--resume works over --udp"),
        ] {
            let d = common::kernel::run(dir.path(), &argv, 20);
            common::kernel::assert_error(&d, code, needle);
        }
    }
}
