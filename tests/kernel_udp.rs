//! `--udp` (the striping protocol over kernel sockets) and `--udp --raw` on
//! loopback: 64 MiB over four paths with 1% loss injected by the program's
//! own `--impair`, impairment on both directions, pipes, repeated `--bind`,
//! raw datagrams both ways with nc -u, and the error cases with exit codes.

mod common;

use common::kernel::*;
use common::read_json as json;

/// Sends `len` random bytes FILE to FILE with the given extra options on each
/// side; returns both ends' stats JSON.
fn transfer(len: usize, send_extra: &[&str], recv_extra: &[&str]) -> (serde_json::Value, serde_json::Value) {
    let p = free_udp_port();
    let dir = scratch();
    let input = dir.path().join("in.bin");
    random_file(&input, len, p as u64);
    let out = dir.path().join("out.bin");
    let (sj, rj) = (dir.path().join("send.json"), dir.path().join("recv.json"));
    let a = addr(p);
    let mut recv: Vec<&str> = vec![bin(), "recv", "--udp", "--listen", &a, "--stats-json", rj.to_str().unwrap()];
    recv.extend(recv_extra);
    recv.push(out.to_str().unwrap());
    let mut send: Vec<&str> = vec![bin(), "send", "--udp", &a, "--stats-json", sj.to_str().unwrap()];
    send.extend(send_extra);
    send.push(input.to_str().unwrap());
    let r = spawn(dir.path(), &recv, Io::Null, Io::Null, 180);
    wait_udp_bound(p);
    let s = spawn(dir.path(), &send, Io::Null, Io::Null, 180);
    let (ds, dr) = (s.ok(), r.ok());
    assert_same(&input, &out);
    if !send_extra.contains(&"none") {
        assert!(ds.stderr.contains("verified") && dr.stderr.contains("verified"), "{}\n{}", ds.stderr, dr.stderr);
    }
    (json(&sj), json(&rj))
}

#[test]
fn udp_paths4_64mib_with_1pct_loss() {
    let (s, r) = transfer(64 * MIB, &["--paths", "4", "--impair", "loss=1%,seed=5"], &[]);
    assert_eq!(s["transport"], "udp");
    assert_eq!(s["bytes"], 64 * MIB as u64);
    assert_eq!(r["bytes"], 64 * MIB as u64);
    assert_eq!(s["verified"], true);
    assert_eq!(s["digest_value"], r["digest_value"]);
    let paths = s["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 4);
    for p in paths {
        // Every path carried a share of the data.
        assert!(p["bytes"].as_u64().unwrap() > MIB as u64, "{p}");
    }
    let lost = s["drops"]["impair_loss"].as_u64().unwrap();
    assert!(lost > 0, "loss=1% must drop something: {s}");
    // Every lost chunk had to be sent again.
    assert!(s["resends"].as_u64().unwrap() >= lost / 2, "resends {} for {lost} losses", s["resends"]);
}

#[test]
fn udp_impaired_both_ways_reorder_dup_corrupt() {
    let (s, r) = transfer(
        16 * MIB,
        &["--paths", "2", "--impair", "loss=2%,reorder=3%,dup=1%,corrupt=0.5%,seed=9"],
        &["--impair", "loss=2%,reorder=2%,dup=1%,seed=10"],
    );
    assert_eq!(r["bytes"], 16 * MIB as u64);
    // Corrupted datagrams were caught by the receiver's checksum, not delivered.
    assert!(r["drops"]["bad_checksum"].as_u64().unwrap_or(0) > 0, "{r}");
    assert!(s["resends"].as_u64().unwrap() > 0);
}

#[test]
fn udp_repeated_bind_and_small_chunks() {
    let (s, _) = transfer(4 * MIB + 7, &["--bind", "127.0.0.1", "--bind", "127.0.0.1", "--block-size", "1200"], &[]);
    let paths = s["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2);
    assert_ne!(paths[0]["port"], paths[1]["port"], "each path has its own source port");
}

/// The plain sendmmsg/recv path, as on kernels without UDP GSO/GRO.
#[test]
fn udp_without_offload() {
    let p = free_udp_port();
    let dir = scratch();
    let input = dir.path().join("in.bin");
    random_file(&input, 16 * MIB, 98);
    let out = dir.path().join("out.bin");
    let cmd = |s: &str| format!("STRIPECAT_UDP_NO_OFFLOAD=1 {s}");
    let recv_cmd = cmd(&format!("{} recv -q --udp --listen 127.0.0.1:{p} {}", bin(), out.display()));
    let send_cmd = cmd(&format!("{} send -q --udp 127.0.0.1:{p} --paths 2 {}", bin(), input.display()));
    shell_pair(dir.path(), "--udp", p, &recv_cmd, &send_cmd, 120);
    assert_same(&input, &out);
}

#[test]
fn udp_stdin_to_stdout() {
    let p = free_udp_port();
    let dir = scratch();
    let input = dir.path().join("in.bin");
    random_file(&input, 16 * MIB, 99);
    let out = dir.path().join("out.bin");
    let recv_cmd = format!("{} recv -q --udp --listen 127.0.0.1:{p} | cat > {}", bin(), out.display());
    let send_cmd = format!("cat {} | {} send -q --udp 127.0.0.1:{p} --paths 3", input.display(), bin());
    shell_pair(dir.path(), "--udp", p, &recv_cmd, &send_cmd, 120);
    assert_same(&input, &out);
}

#[test]
fn udp_digest_choices() {
    let (s, r) = transfer(3 * MIB, &["--digest", "blake3"], &[]);
    assert_eq!(s["digest"], "blake3");
    assert_eq!(r["digest"], "blake3");
    assert_eq!(s["digest_value"].as_str().unwrap().len(), 64);
    assert_eq!(s["digest_value"], r["digest_value"]);
    let (s, r) = transfer(3 * MIB, &["--digest", "none"], &[]);
    assert!(s["digest"].is_null() && r["digest"].is_null(), "{s} {r}");
    assert_eq!(r["bytes"], 3 * MIB as u64);
}

#[test]
fn udp_empty_input() {
    let (s, r) = transfer(0, &[], &[]);
    assert_eq!(s["bytes"], 0);
    assert_eq!(r["bytes"], 0);
}

// ---- raw datagrams and nc -u ----

#[test]
fn raw_send_to_nc() {
    let p = free_udp_port();
    let dir = scratch();
    let out = dir.path().join("out.txt");
    let msg = dir.path().join("msg.txt");
    std::fs::write(&msg, "hello over raw udp\n").unwrap();
    // nc -u -l ends on the empty datagram that marks our end of input.
    let nc = spawn(dir.path(), &["nc", "-u", "-l", "127.0.0.1", &p.to_string()], Io::Null, Io::File(&out), 20);
    wait_udp_bound(p);
    spawn(
        dir.path(),
        &[bin(), "send", "-q", "--udp", &addr(p), "--raw", msg.to_str().unwrap()],
        Io::Null,
        Io::Null,
        20,
    )
    .ok();
    nc.wait();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello over raw udp\n");
}

#[test]
fn raw_recv_from_nc() {
    let p = free_udp_port();
    let dir = scratch();
    let out = dir.path().join("out.txt");
    let msg = dir.path().join("msg.txt");
    std::fs::write(&msg, "hello from nc -u\n").unwrap();
    let sc = spawn(
        dir.path(),
        &[bin(), "recv", "--udp", "--raw", "--listen", &addr(p), "--stats-json", "raw.json", "out.txt"],
        Io::Null,
        Io::Null,
        30,
    );
    wait_udp_bound(p);
    spawn(dir.path(), &["nc", "-u", "-q", "1", "127.0.0.1", &p.to_string()], Io::File(&msg), Io::Null, 20).ok();
    // nc sends no end marker: the raw receiver ends after its idle time.
    sc.ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello from nc -u\n");
    assert_eq!(json(&dir.path().join("raw.json"))["bytes"], 17);
}

// ---- errors ----

#[test]
fn udp_nothing_listening_exits_4() {
    let dir = scratch();
    let d = run(dir.path(), &[bin(), "send", "--udp", &addr(free_udp_port()), "--paths", "2", "/dev/null"], 30);
    assert_error(&d, 4, "refused");
}

#[test]
fn udp_port_in_use_exits_3() {
    let dir = scratch();
    let held = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = held.local_addr().unwrap().to_string();
    let d = run(dir.path(), &[bin(), "recv", "--udp", "--listen", &a], 20);
    assert_error(&d, 3, "already in use");
}

/// The receiver's output closes mid-transfer: the receiver fails at once
/// with exit 4; the sender, hearing nothing more, gives up with exit 4.
#[test]
fn udp_output_closed_both_ends_exit_4() {
    let dir = scratch();
    let sd = send_to_closed_stdout(dir.path(), "--udp", free_udp_port(), &[], 12, 60);
    assert_eq!(sd.code(), Some(4), "{}", sd.stderr);
    assert!(sd.stderr.starts_with("stripecat: error: "), "{}", sd.stderr);
}

#[test]
fn udp_usage_errors_exit_2() {
    let dir = scratch();
    assert_usage_errors(
        dir.path(),
        &[
            (vec!["recv", "--udp", "127.0.0.1:9"], "the receiver listens"),
            (vec!["send", "--udp", "--listen", "9", "/dev/null"], "the receiver listens"),
            (vec!["send", "--udp", "127.0.0.1:9", "--streams", "2"], "belong to --tcp"),
            (vec!["send", "--udp", "127.0.0.1:9", "--paths", "3", "--bind", "127.0.0.1"], "disagree"),
            (vec!["send", "--udp", "127.0.0.1:9", "--raw", "--paths", "2"], "--raw sends plain datagrams"),
        ],
    );
}
