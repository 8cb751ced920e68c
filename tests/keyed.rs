//! Authenticated, encrypted sessions end to end: over memif and af_packet between two
//! DPDK processes, kernel `--udp` and `--tcp --streams`. Matching keys deliver the bytes
//! and both summaries say `authenticated`; a wrong key, or a key on one end only, fails
//! the sender with exit code 6 at once, while a keyed receiver refuses it with a warning
//! and listens on (anyone on a link could send such a HELLO), exiting 6 only when its
//! `--listen-timeout` passes; its output file is never created. A key file others can
//! read is refused.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::data::assert_same_file;
use common::dpdk::DpdkTest;
use common::kernel::{free_tcp_port, free_udp_port, random_file, scratch, wait_tcp_listen, wait_udp_bound};
use common::read_json;
use common::transfer::{
    assert_both_ok, assert_every_path_used, assert_file_transfer, finish, input_output, memif_pair, start, stderr,
    stripecat_args, Links,
};

const LIMIT: Duration = Duration::from_secs(120);
const AUTH_EXIT: i32 = 6;

fn keygen(path: &Path) {
    let st = Command::new(common::bin()).arg("keygen").arg(path).status().unwrap();
    assert!(st.success());
    assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600);
}

/// A memif transfer; `recv_key`/`send_key` are key files or none.
fn memif(name: &str, len: usize, recv_key: Option<&str>, send_key: Option<&str>) -> Option<(Output, Output, DpdkTest)> {
    memif_with(name, len, recv_key, send_key, &[], &[])
}

fn memif_with(
    name: &str,
    len: usize,
    recv_key: Option<&str>,
    send_key: Option<&str>,
    recv_extra: &[&str],
    send_extra: &[&str],
) -> Option<(Output, Output, DpdkTest)> {
    let t = DpdkTest::start(name, LIMIT + Duration::from_secs(30))?;
    let (server, client) = memif_pair(&t, 2, None);
    let (input, output) = input_output(&t, len, 0x6b65);
    let (sj, rj) = (t.path("send.json").display().to_string(), t.path("recv.json").display().to_string());
    let (k1, k2) = (t.path("k1"), t.path("k2"));
    keygen(&k1);
    keygen(&k2);
    let key = |k: Option<&str>| -> Vec<String> {
        match k {
            Some("k1") => vec!["--key-file".into(), k1.display().to_string()],
            Some(_) => vec!["--key-file".into(), k2.display().to_string()],
            None => vec![],
        }
    };
    let rk = key(recv_key);
    let sk = key(send_key);
    let mut rx: Vec<&str> = vec!["--stats-json", rj.as_str()];
    rx.extend(rk.iter().map(String::as_str));
    rx.extend(recv_extra);
    let mut tx: Vec<&str> = vec!["--stats-json", sj.as_str()];
    tx.extend(sk.iter().map(String::as_str));
    tx.extend(send_extra);
    let r = stripecat_args("recv", &server, &rx, Some(&output));
    let s = stripecat_args("send", &client, &tx, Some(&input));
    let rp = start(&t, "recv", &r, Stdio::null(), Stdio::null());
    let sp = start(&t, "send", &s, Stdio::null(), Stdio::null());
    let so = finish(sp, LIMIT);
    let ro = finish(rp, LIMIT);
    Some((so, ro, t))
}

#[test]
fn memif_keyed_transfer_is_byte_for_byte_and_says_authenticated() {
    let Some((so, ro, t)) = memif("key-memif", 24 << 20, Some("k1"), Some("k1")) else { return };
    assert_both_ok(&so, &ro);
    assert_same_file(&t.path("in.bin"), &t.path("out.bin"));
    for j in ["send.json", "recv.json"] {
        let v = read_json(&t.path(j));
        assert_eq!(v["authenticated"], true, "{v}");
        assert_eq!(v["verified"], true, "{v}");
    }
}

#[test]
fn memif_keyed_frames_flipped_dropped_duplicated_or_reordered_are_dropped_and_counted() {
    // Both ends' impairers corrupt, drop, duplicate and reorder frames: every corrupted
    // frame fails its tag (counted as `unauthenticated`), duplicates are replays, and the
    // stream still arrives whole.
    let rspec = ["--impair", "corrupt=1%,loss=1%,dup=1%,reorder=2%,seed=11"];
    let sspec = ["--impair", "corrupt=1%,loss=1%,dup=1%,reorder=2%,seed=12"];
    let Some((so, ro, t)) = memif_with("key-memif-imp", 8 << 20, Some("k1"), Some("k1"), &rspec, &sspec) else {
        return;
    };
    assert_both_ok(&so, &ro);
    assert_same_file(&t.path("in.bin"), &t.path("out.bin"));
    let (s, r) = (read_json(&t.path("send.json")), read_json(&t.path("recv.json")));
    let n = |v: &serde_json::Value, k: &str| v["drops"][k].as_u64().unwrap_or(0);
    assert!(n(&r, "unauthenticated") > 0, "corrupted DATA not counted: {r}");
    // (The sender's ACKs are too few for 1% to corrupt one in every run: its count is
    // printed, not required.)
    eprintln!("sender drops: {}", s["drops"]);
    assert!(n(&r, "replayed") + n(&r, "duplicate") > 0, "duplicates not counted: {r}");
    assert_eq!(r["authenticated"], true);
}

#[test]
fn af_packet_keyed_transfer_over_two_lanes() {
    // Two veth links with kernel fanout over two queues each, two poll lanes per end:
    // a path's sealed frames can land on the other lane, which opens them with the
    // shared session keys and hands them over; the CONFIRM reaches lane 0 wherever it lands.
    let Some(t) = DpdkTest::start("key-afp", LIMIT + Duration::from_secs(30)) else { return };
    let l = Links::new("kyl", 2);
    let (input, output) = input_output(&t, 16 << 20, 0x6b66);
    let k = t.path("k");
    keygen(&k);
    let k_arg = k.display().to_string();
    let ports = |ps: Vec<String>| -> Vec<String> { ps.into_iter().map(|p| p + ",qpairs=2").collect() };
    let extra = ["--queues", "2", "--lcores", "0-1", "--key-file", k_arg.as_str()];
    let stats = t.path("send.json");
    let stats_arg = stats.display().to_string();
    let send_only = ["--stats-json", stats_arg.as_str()];
    let (recv_ports, send_ports) = (ports(l.recv_ports()), ports(l.send_ports()));
    assert_file_transfer(&t, Some(&l.ns), &recv_ports, &send_ports, &extra, &send_only, &input, &output, LIMIT);
    assert_every_path_used(&stats, 4);
}

#[test]
fn memif_unkeyed_transfer_says_unauthenticated() {
    let Some((so, ro, t)) = memif("key-memif-none", 1 << 20, None, None) else { return };
    assert_both_ok(&so, &ro);
    assert_eq!(read_json(&t.path("recv.json"))["authenticated"], false);
}

/// Both ends exited 6 with one error line each, the receiver's output untouched; a keyed
/// receiver (`keyed_recv`) warned of the refused sender first and ended only at its
/// `--listen-timeout`, saying how many it refused.
fn assert_auth_failure(so: &Output, ro: &Output, output: &Path, keyed_recv: bool) {
    assert_eq!(so.status.code(), Some(AUTH_EXIT), "sender: {}", stderr(so));
    assert_eq!(ro.status.code(), Some(AUTH_EXIT), "receiver: {}", stderr(ro));
    for o in [so, ro] {
        let e = stderr(o);
        assert_eq!(e.lines().filter(|l| l.starts_with("stripecat: error:")).count(), 1, "{e}");
        assert!(e.contains("authentication failed"), "{e}");
    }
    let e = stderr(ro);
    let warned = e.lines().filter(|l| l.starts_with("stripecat: warning: refused a sender")).count();
    if keyed_recv {
        assert_eq!(warned, 1, "{e}");
        assert!(e.contains("that did not authenticate, and no"), "{e}");
        assert!(!output.exists(), "the receiver created its output for an unauthenticated sender");
    } else {
        // An unkeyed receiver opens its output at start (so a bad path fails early).
        assert_eq!(warned, 0, "{e}");
    }
}

/// What a keyed receiver is given in these tests so that it ends after refusing.
const LISTEN: [&str; 2] = ["--listen-timeout", "4"];

#[test]
fn memif_wrong_key_fails_both_ends_without_touching_the_output() {
    let Some((so, ro, t)) = memif_with("key-memif-wrong", 1 << 20, Some("k1"), Some("k2"), &LISTEN, &[]) else {
        return;
    };
    assert_auth_failure(&so, &ro, &t.path("out.bin"), true);
}

#[test]
fn memif_no_downgrade_either_way() {
    let Some((so, ro, t)) = memif_with("key-memif-down1", 1 << 20, Some("k1"), None, &LISTEN, &[]) else { return };
    assert_auth_failure(&so, &ro, &t.path("out.bin"), true);
    drop(t);
    let Some((so, ro, t)) = memif("key-memif-down2", 1 << 20, None, Some("k1")) else { return };
    assert_auth_failure(&so, &ro, &t.path("out.bin"), false);
    drop(t);
}

#[test]
fn af_packet_keyed_receiver_refuses_a_wrong_key_and_serves_the_right_one_next() {
    // Anyone on a member link can send a HELLO: one under another key must not end a
    // receiver waiting for its sender. It warns, stays up with its output untouched,
    // and serves the sender with the key that comes next.
    let Some(t) = DpdkTest::start("key-afp-next", LIMIT + Duration::from_secs(30)) else { return };
    let l = Links::new("kyn", 1);
    let (input, output) = input_output(&t, 4 << 20, 0x6b67);
    let (k1, k2) = (t.path("k1"), t.path("k2"));
    keygen(&k1);
    keygen(&k2);
    let (a1, a2) = (k1.display().to_string(), k2.display().to_string());
    let mut r = l.start_recv(&t, Some(&output), &["--key-file", &a1], Stdio::null());
    let wrong = finish(l.start_send(&t, Some(&input), &["--key-file", &a2]), LIMIT);
    assert_eq!(wrong.status.code(), Some(AUTH_EXIT), "sender with another key: {}", stderr(&wrong));
    std::thread::sleep(Duration::from_millis(500));
    assert!(!r.exited(), "the receiver ended on an unauthenticated HELLO");
    assert!(!output.exists(), "the receiver created its output for an unauthenticated sender");
    let right = finish(l.start_send(&t, Some(&input), &["--key-file", &a1]), LIMIT);
    let ro = finish(r, LIMIT);
    assert_both_ok(&right, &ro);
    assert_same_file(&input, &output);
    let e = stderr(&ro);
    assert_eq!(e.lines().filter(|l| l.starts_with("stripecat: warning: refused a sender")).count(), 1, "{e}");
}

#[test]
fn af_packet_listen_timeout_without_a_sender_is_exit_4_and_no_output() {
    let Some(t) = DpdkTest::start("key-afp-lt", LIMIT) else { return };
    let l = Links::new("kyt", 1);
    let output = t.path("out.bin");
    let k = t.path("k");
    keygen(&k);
    let k_arg = k.display().to_string();
    let started = std::time::Instant::now();
    let r = l.start_recv(&t, Some(&output), &["--key-file", &k_arg, "--listen-timeout", "1.5"], Stdio::null());
    let ro = finish(r, LIMIT);
    assert_eq!(ro.status.code(), Some(4), "{}", stderr(&ro));
    let e = stderr(&ro);
    assert!(e.contains("no sender came within 1.5 s") && e.contains("--listen-timeout"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert!(!output.exists(), "the receiver created its output with no sender");
}

/// A kernel `--udp` transfer on loopback with the given key arguments.
/// `env_key`: the receiver's key in `STRIPECAT_KEY` instead.
fn udp(dir: &Path, recv_key: &[&str], send_key: &[&str], len: usize, env_key: Option<&str>) -> (Output, Output) {
    let (input, output) = (dir.join("in.bin"), dir.join("out.bin"));
    random_file(&input, len, 0x75);
    let port = free_udp_port();
    let listen = format!("127.0.0.1:{port}");
    let rj = dir.join("recv.json");
    let mut recv = Command::new(common::bin());
    if let Some(k) = env_key {
        recv.env("STRIPECAT_KEY", k);
    }
    let recv = recv
        .args(["recv", "--quiet", "--udp", "--listen", &listen, "--stats-json"])
        .arg(&rj)
        .args(recv_key)
        .arg(&output)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_udp_bound(port);
    let stdin = match dir.join("k1") {
        k if send_key.contains(&"--key-fd") => Stdio::from(std::fs::File::open(k).unwrap()),
        _ => Stdio::null(),
    };
    let so = Command::new(common::bin())
        .args(["send", "--quiet", "--udp", &listen])
        .args(send_key)
        .arg(&input)
        .stdin(stdin)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let ro = recv.wait_with_output().unwrap();
    (so, ro)
}

#[test]
fn udp_keyed_transfer_and_its_failures() {
    let dir = scratch();
    let (k1, k2) = (dir.path().join("k1"), dir.path().join("k2"));
    keygen(&k1);
    keygen(&k2);
    let (a1, a2) = (k1.display().to_string(), k2.display().to_string());
    let (so, ro) = udp(dir.path(), &["--key-file", &a1], &["--key-file", &a1], 8 << 20, None);
    assert_both_ok(&so, &ro);
    assert_same_file(&dir.path().join("in.bin"), &dir.path().join("out.bin"));
    assert_eq!(read_json(&dir.path().join("recv.json"))["authenticated"], true);
    // The same key from the environment (receiver) and an inherited descriptor (sender).
    std::fs::remove_file(dir.path().join("out.bin")).unwrap();
    let key = std::fs::read_to_string(&k1).unwrap();
    let (so, ro) = udp(dir.path(), &[], &["--key-fd", "0"], 2 << 20, Some(key.trim()));
    assert_both_ok(&so, &ro);
    assert_same_file(&dir.path().join("in.bin"), &dir.path().join("out.bin"));

    for (rk, sk) in [
        (vec!["--key-file", &a1, LISTEN[0], LISTEN[1]], vec!["--key-file", &a2]),
        (vec!["--key-file", &a1, LISTEN[0], LISTEN[1]], vec![]),
        (vec![], vec!["--key-file", &a1]),
    ] {
        let _ = std::fs::remove_file(dir.path().join("out.bin"));
        let (so, ro) = udp(dir.path(), &rk, &sk, 1 << 20, None);
        assert_auth_failure(&so, &ro, &dir.path().join("out.bin"), !rk.is_empty());
    }
    // No sender at all: the listening deadline is exit 4, the output untouched.
    let o = Command::new(common::bin())
        .args(["recv", "--udp", "--listen", &format!("127.0.0.1:{}", free_udp_port()), "--key-file", &a1])
        .args(["--listen-timeout", "0.5"])
        .arg(dir.path().join("none.bin"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("no sender came within"), "{}", stderr(&o));
    assert!(!dir.path().join("none.bin").exists());
}

/// A `--tcp --streams 4` transfer on loopback with the given key arguments.
fn tcp_streams(dir: &Path, recv_key: &[&str], send_key: &[&str], len: usize) -> (Output, Output) {
    let (input, output) = (dir.join("in.bin"), dir.join("out.bin"));
    random_file(&input, len, 0x74);
    let port = free_tcp_port();
    let listen = format!("127.0.0.1:{port}");
    let recv = Command::new(common::bin())
        .args(["recv", "--quiet", "--tcp", "--listen", &listen, "--streams", "4"])
        .args(recv_key)
        .arg(&output)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_tcp_listen(port);
    let so = Command::new(common::bin())
        .args(["send", "--quiet", "--tcp", &listen, "--streams", "4"])
        .args(send_key)
        .arg(&input)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (so, recv.wait_with_output().unwrap())
}

#[test]
fn tcp_streams_keyed_transfer_and_its_failures() {
    let dir = scratch();
    let (k1, k2) = (dir.path().join("k1"), dir.path().join("k2"));
    keygen(&k1);
    keygen(&k2);
    let (a1, a2) = (k1.display().to_string(), k2.display().to_string());
    let (so, ro) = tcp_streams(dir.path(), &["--key-file", &a1], &["--key-file", &a1], 24 << 20);
    assert_both_ok(&so, &ro);
    assert_same_file(&dir.path().join("in.bin"), &dir.path().join("out.bin"));
    for (rk, sk, send_codes) in [
        (vec!["--key-file", &a1, LISTEN[0], LISTEN[1]], vec!["--key-file", &a2], &[AUTH_EXIT][..]),
        (vec![], vec!["--key-file", &a1], &[AUTH_EXIT][..]),
        // An unkeyed sender streams at once; the keyed receiver refuses and closes, which
        // the sender sees as the peer leaving (exit 4), or, when its stream fitted the
        // socket buffers, reads the refusal where the verdict should be (exit 6).
        (vec!["--key-file", &a1, LISTEN[0], LISTEN[1]], vec![], &[4, AUTH_EXIT][..]),
    ] {
        let _ = std::fs::remove_file(dir.path().join("out.bin"));
        let (so, ro) = tcp_streams(dir.path(), &rk, &sk, 4 << 20);
        let code = so.status.code().unwrap_or(-1);
        assert!(send_codes.contains(&code), "{rk:?} {sk:?} sender exit {code}: {}", stderr(&so));
        assert_eq!(ro.status.code(), Some(AUTH_EXIT), "{rk:?} {sk:?} receiver: {}", stderr(&ro));
        if !rk.is_empty() {
            assert!(!dir.path().join("out.bin").exists(), "a keyed receiver created its output");
            assert!(stderr(&ro).contains("stripecat: warning: refused a sender"), "{}", stderr(&ro));
        }
    }
    // A keyed receiver without a deadline refuses a sender with another key and serves
    // the next one, which has the key, on the same listening port.
    let _ = std::fs::remove_file(dir.path().join("out.bin"));
    let port = free_tcp_port();
    let listen = format!("127.0.0.1:{port}");
    let recv = Command::new(common::bin())
        .args(["recv", "--quiet", "--tcp", "--listen", &listen, "--streams", "4", "--key-file", &a1])
        .arg(dir.path().join("out.bin"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_tcp_listen(port);
    let send = |k: &str| {
        Command::new(common::bin())
            .args(["send", "--quiet", "--tcp", &listen, "--streams", "4", "--key-file", k])
            .arg(dir.path().join("in.bin"))
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    };
    let wrong = send(&a2);
    assert_eq!(wrong.status.code(), Some(AUTH_EXIT), "{}", stderr(&wrong));
    assert!(!dir.path().join("out.bin").exists(), "a keyed receiver created its output");
    let right = send(&a1);
    let ro = recv.wait_with_output().unwrap();
    assert_both_ok(&right, &ro);
    assert_same_file(&dir.path().join("in.bin"), &dir.path().join("out.bin"));
    // One plain stream stays netcat bytes: a key there is refused at once.
    let o = Command::new(common::bin())
        .args(["send", "--tcp", "127.0.0.1:9", "--key-file", &a1, "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    let dir = scratch();
    let k = dir.path().join("k");
    keygen(&k);
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = Command::new(common::bin())
        .args(["send", "--udp", "127.0.0.1:9", "--key-file"])
        .arg(&k)
        .arg("/dev/null")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("can be read by others (mode 0644)") && e.contains("chmod 600"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}
