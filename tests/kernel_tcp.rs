//! TCP transports on loopback: interop with nc (netcat-openbsd), ncat and
//! socat both ways on 16 MiB, stdin/stdout pipes, `--streams 4` on 64 MiB,
//! the striped framing's failure cases, chat through pipes, and every
//! documented error with its exit code.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{ChildStdin, ChildStdout};

use common::kernel::*;
use common::read_json;

/// One 16 MiB input per test (seeded by the test's own port so files differ).
fn input16(dir: &Path, seed: u64) -> std::path::PathBuf {
    let p = dir.join("in.bin");
    random_file(&p, 16 * MIB, seed);
    p
}

// ---- interop: stripecat sends, the tool receives ----

fn stripecat_sends_to(listener: &[&str], port: u16, connect_mode: bool) {
    let dir = scratch();
    let input = input16(dir.path(), port as u64);
    let out = dir.path().join("out.bin");
    let a = addr(port);
    let (inp, outp) = (input.to_str().unwrap(), out.to_str().unwrap());
    if connect_mode {
        // The tool listens, stripecat connects.
        let tool = spawn(dir.path(), listener, Io::Null, Io::File(&out), 60);
        wait_tcp_listen(port);
        spawn(dir.path(), &[bin(), "send", "-q", "--tcp", &a, inp], Io::Null, Io::Null, 60).ok();
        tool.ok();
    } else {
        // stripecat listens, the tool connects.
        let sc = spawn(dir.path(), &[bin(), "send", "-q", "--tcp", "--listen", &a, inp], Io::Null, Io::Null, 60);
        wait_tcp_listen(port);
        spawn(dir.path(), listener, Io::Null, Io::File(&out), 60).ok();
        sc.ok();
    }
    let _ = outp;
    assert_same(&input, &out);
}

#[test]
fn send_to_nc_listener() {
    let p = free_tcp_port();
    stripecat_sends_to(&["nc", "-l", "127.0.0.1", &p.to_string()], p, true);
}

#[test]
fn send_listen_to_nc_client() {
    let p = free_tcp_port();
    stripecat_sends_to(&["nc", "-d", "127.0.0.1", &p.to_string()], p, false);
}

#[test]
fn send_to_ncat_listener() {
    let p = free_tcp_port();
    stripecat_sends_to(&["ncat", "-l", "--recv-only", "127.0.0.1", &p.to_string()], p, true);
}

#[test]
fn send_listen_to_ncat_client() {
    let p = free_tcp_port();
    stripecat_sends_to(&["ncat", "--recv-only", "127.0.0.1", &p.to_string()], p, false);
}

#[test]
fn send_to_socat_listener() {
    let p = free_tcp_port();
    stripecat_sends_to(&["socat", "-u", &format!("TCP-LISTEN:{p},bind=127.0.0.1,reuseaddr"), "STDOUT"], p, true);
}

#[test]
fn send_listen_to_socat_client() {
    let p = free_tcp_port();
    stripecat_sends_to(&["socat", "-u", &format!("TCP:127.0.0.1:{p}"), "STDOUT"], p, false);
}

// ---- interop: the tool sends, stripecat receives ----

fn stripecat_receives_from(sender: &[&str], port: u16, connect_mode: bool, input: &Path, dir: &Path) {
    let out = dir.join("out.bin");
    let a = addr(port);
    let outp = out.to_str().unwrap();
    if connect_mode {
        let tool = spawn(dir, sender, Io::File(input), Io::Null, 60);
        wait_tcp_listen(port);
        spawn(dir, &[bin(), "recv", "-q", "--tcp", &a, outp], Io::Null, Io::Null, 60).ok();
        tool.ok();
    } else {
        let sc = spawn(dir, &[bin(), "recv", "-q", "--tcp", "--listen", &a, outp], Io::Null, Io::Null, 60);
        wait_tcp_listen(port);
        spawn(dir, sender, Io::File(input), Io::Null, 60).ok();
        sc.ok();
    }
    assert_same(input, &out);
}

fn receive_case(tool: impl Fn(&str) -> Vec<String>, connect_mode: bool) {
    let p = free_tcp_port();
    let dir = scratch();
    let input = input16(dir.path(), p as u64);
    let argv = tool(&p.to_string());
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    stripecat_receives_from(&argv, p, connect_mode, &input, dir.path());
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn recv_listen_from_nc_client() {
    receive_case(|p| strings(&["nc", "-N", "127.0.0.1", p]), false);
}

#[test]
fn recv_from_nc_listener() {
    receive_case(|p| strings(&["nc", "-N", "-l", "127.0.0.1", p]), true);
}

#[test]
fn recv_listen_from_ncat_client() {
    receive_case(|p| strings(&["ncat", "--send-only", "127.0.0.1", p]), false);
}

#[test]
fn recv_from_ncat_listener() {
    receive_case(|p| strings(&["ncat", "-l", "--send-only", "127.0.0.1", p]), true);
}

#[test]
fn recv_listen_from_socat_client() {
    receive_case(|p| strings(&["socat", "-u", "STDIN", &format!("TCP:127.0.0.1:{p}")]), false);
}

#[test]
fn recv_from_socat_listener() {
    receive_case(|p| strings(&["socat", "-u", "STDIN", &format!("TCP-LISTEN:{p},bind=127.0.0.1,reuseaddr")]), true);
}

// ---- stripecat to stripecat ----

/// stdin from a pipe (the splice path) to stdout into a pipe (splice again),
/// with small blocks, a window and nodelay, and --stats-json on both ends.
#[test]
fn pipes_both_ends_with_options_and_stats_json() {
    let dir = scratch();
    let p = free_tcp_port();
    let input = input16(dir.path(), 78);
    let out = dir.path().join("out.bin");
    let (sj, rj) = (dir.path().join("send.json"), dir.path().join("recv.json"));
    let recv_cmd = format!(
        "{} recv -q --tcp --listen 127.0.0.1:{p} --block-size 64K --window 1M --stats-json {} | cat > {}",
        bin(),
        rj.display(),
        out.display()
    );
    let send_cmd = format!(
        "cat {} | {} send -q --tcp 127.0.0.1:{p} --block-size 64K --window 1M --nodelay --stats-json {}",
        input.display(),
        bin(),
        sj.display()
    );
    shell_pair(dir.path(), "--tcp", p, &recv_cmd, &send_cmd, 60);
    assert_same(&input, &out);
    for (j, role) in [(&sj, "send"), (&rj, "recv")] {
        let v = read_json(j);
        assert_eq!(v["role"], role);
        assert_eq!(v["transport"], "tcp");
        assert_eq!(v["bytes"], 16 * MIB as u64);
        assert!(v["error"].is_null());
    }
}

/// stdin redirected from a regular file (sendfile from fd 0), stdout to a file.
#[test]
fn stdin_file_redirect_to_stdout_file() {
    let p = free_tcp_port();
    let dir = scratch();
    let input = input16(dir.path(), 79);
    let out = dir.path().join("out.bin");
    let a = addr(p);
    let recv = spawn(dir.path(), &[bin(), "recv", "-q", "--tcp", "--listen", &a, "-"], Io::Null, Io::File(&out), 60);
    wait_tcp_listen(p);
    let d = spawn(dir.path(), &[bin(), "send", "--tcp", &a], Io::File(&input), Io::Null, 60).ok();
    recv.ok();
    assert_same(&input, &out);
    // Without --quiet the summary paragraph is printed, on stderr.
    assert!(d.stderr.contains("sent 16.0 MiB (16777216 bytes)"), "{}", d.stderr);
}

fn striped_transfer(len: usize, extra: &[&str], stdin_pipe: bool, sender_listens: bool) {
    let p = free_tcp_port();
    let dir = scratch();
    let input = dir.path().join("in.bin");
    random_file(&input, len, p as u64);
    let out = dir.path().join("out.bin");
    let (a, inp, outp) = (addr(p), input.to_str().unwrap().to_string(), out.to_str().unwrap().to_string());
    let mut send: Vec<&str> = vec![bin(), "send", "--tcp"];
    let mut recv: Vec<&str> = vec![bin(), "recv", "--tcp"];
    if sender_listens {
        send.extend(["--listen", &a]);
        recv.push(&a);
    } else {
        recv.extend(["--listen", &a]);
        send.push(&a);
    }
    send.extend(extra);
    recv.extend(extra);
    recv.push(&outp);
    let send_stdin = if stdin_pipe {
        send.push("-");
        Io::File(&input)
    } else {
        send.push(&inp);
        Io::Null
    };
    let (first, second, first_in, second_in) =
        if sender_listens { (&send, &recv, send_stdin, Io::Null) } else { (&recv, &send, Io::Null, send_stdin) };
    let a_proc = spawn(dir.path(), first, first_in, Io::Null, 120);
    wait_tcp_listen(p);
    let b_proc = spawn(dir.path(), second, second_in, Io::Null, 120);
    let (da, db) = (a_proc.ok(), b_proc.ok());
    assert_same(&input, &out);
    let (ds, dr) = if sender_listens { (da, db) } else { (db, da) };
    assert!(ds.stderr.contains("verified") && dr.stderr.contains("verified"), "{}\n{}", ds.stderr, dr.stderr);
}

#[test]
fn streams4_64mib_file() {
    striped_transfer(64 * MIB, &["--streams", "4"], false, false);
}

#[test]
fn streams4_64mib_from_stdin_sender_listens_small_blocks() {
    striped_transfer(64 * MIB + 12345, &["--streams", "4", "--block-size", "128K"], true, true);
}

#[test]
fn streams_odd_sizes_and_empty() {
    striped_transfer(0, &["--streams", "3"], false, false);
    striped_transfer(1, &["--streams", "3", "--block-size", "4K"], true, false);
    striped_transfer(3 * 4096 + 1, &["--streams", "2", "--block-size", "4K"], false, false);
}

// ---- striped framing: failures a real peer can cause ----

fn hello(index: u16, count: u16, session: u64) -> Vec<u8> {
    let mut b = Vec::from(*b"SCT1");
    b.extend(index.to_le_bytes());
    b.extend(count.to_le_bytes());
    b.push(0); // the connecting end sends
    b.extend([0u8; 7]);
    b.extend(session.to_le_bytes());
    b
}

fn frame(offset: u64, kind: u32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(offset.to_le_bytes());
    b.extend((body.len() as u32).to_le_bytes());
    b.extend(kind.to_le_bytes());
    b.extend(body);
    b
}

fn xxh3_body(data: &[u8]) -> Vec<u8> {
    let mut d = stripecat_proto::StreamDigest::new(stripecat_proto::wire::DigestAlgorithm::Xxh3_128);
    d.update(data);
    let mut b = vec![1u8];
    b.extend(d.finish());
    b
}

/// A `--streams 2` listener on `p` (writing `out` when given, `-q` when
/// `quiet`), already listening.
fn striped_listener(dir: &Path, p: u16, quiet: bool, out: Option<&Path>, secs: u64) -> Proc {
    let a = addr(p);
    let mut argv = vec![bin(), "recv"];
    if quiet {
        argv.push("-q");
    }
    argv.extend(["--tcp", "--listen", &a, "--streams", "2"]);
    argv.extend(out.map(|o| o.to_str().unwrap()));
    let recv = spawn(dir, &argv, Io::Null, Io::Null, secs);
    wait_tcp_listen(p);
    recv
}

/// Both connections of a two-stream session `session`, each past its HELLO.
fn connect_two(p: u16, session: u64) -> (TcpStream, TcpStream) {
    let mut c0 = TcpStream::connect(addr(p)).unwrap();
    let mut c1 = TcpStream::connect(addr(p)).unwrap();
    c0.write_all(&hello(0, 2, session)).unwrap();
    c1.write_all(&hello(1, 2, session)).unwrap();
    (c0, c1)
}

/// A two-stream exchange of `data` (chunk 2000.. on connection 1 first)
/// whose END carries the digest of `digest_of`; returns the receiver's
/// verdict and both connections (still open, as the receiver may still be
/// using them).
fn two_stream_exchange(p: u16, session: u64, data: &[u8], digest_of: &[u8]) -> ([u8; 33], [TcpStream; 2]) {
    let (mut c0, mut c1) = connect_two(p, session);
    c1.write_all(&frame(2000, 0, &data[2000..])).unwrap();
    c0.write_all(&frame(0, 0, &data[..2000])).unwrap();
    for c in [&mut c0, &mut c1] {
        c.write_all(&frame(data.len() as u64, 1, &xxh3_body(digest_of))).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut verdict = [0u8; 33];
    c0.read_exact(&mut verdict).unwrap();
    (verdict, [c0, c1])
}

/// A hand-written striped sender: connection 1 dies after its first chunk
/// without END. The receiver must fail with exit 4 naming the connection.
#[test]
fn striped_broken_stream_fails_clearly() {
    let p = free_tcp_port();
    let dir = scratch();
    let out = dir.path().join("out.bin");
    let recv = striped_listener(dir.path(), p, false, Some(&out), 30);
    let (mut c0, mut c1) = connect_two(p, 42);
    c0.write_all(&frame(0, 0, &[7u8; 1000])).unwrap();
    c1.write_all(&frame(1000, 0, &[8u8; 1000])).unwrap();
    drop(c1);
    let d = recv.wait();
    assert_error(&d, 4, "connection 1 of 2 ended before the end of the transfer");
    drop(c0);
}

/// A striped sender whose END carries the wrong digest: exit 5 on the
/// receiver, and a verdict of 0 sent back.
#[test]
fn striped_digest_mismatch_exits_5() {
    let p = free_tcp_port();
    let dir = scratch();
    let out = dir.path().join("out.bin");
    let recv = striped_listener(dir.path(), p, false, Some(&out), 30);
    let data = vec![9u8; 3000];
    let mut wrong = data.clone();
    wrong[5] ^= 1;
    let (verdict, first) = two_stream_exchange(p, 43, &data, &wrong);
    assert_eq!(verdict[0], 0, "the receiver must report the mismatch to the sender");
    let d = recv.wait();
    assert_error(&d, 5, "digest mismatch");
    // The bytes themselves were delivered in order; only the digest disagrees.
    assert_eq!(std::fs::read(&out).unwrap(), data);

    // And the same exchange with the right digest succeeds with verdict 1.
    let p = free_tcp_port();
    let recv = striped_listener(dir.path(), p, true, Some(&out), 30);
    let (verdict, second) = two_stream_exchange(p, 44, &data, &data);
    assert_eq!(verdict[0], 1);
    recv.ok();
    drop((first, second));
}

/// The reorder window bounds how far a fast connection may run ahead of a
/// slow one: with chunk 0 withheld on connection 1, the receiver stops
/// reading connection 0 once its chunks are a window (32 MiB here) ahead, so
/// connection 0's writes block well before its 99 MiB are taken; once chunk
/// 0 arrives, everything drains and the transfer verifies.
#[test]
fn striped_window_bounds_a_slow_stream() {
    let p = free_tcp_port();
    let dir = scratch();
    let out = dir.path().join("out.bin");
    let recv = striped_listener(dir.path(), p, true, Some(&out), 60);
    let chunk = |i: usize| vec![(i % 251) as u8; MIB];
    let (mut c0, mut c1) = connect_two(p, 45);
    // Connection 0 pushes chunks 1.. without blocking until the receiver stops taking them.
    c0.set_nonblocking(true).unwrap();
    let mut pending: Vec<u8> = Vec::new();
    let mut next = 1usize;
    let mut accepted = 0usize;
    let mut stalled_since = std::time::Instant::now();
    while next < 100 || !pending.is_empty() {
        if pending.is_empty() {
            pending = frame((next * MIB) as u64, 0, &chunk(next));
            next += 1;
        }
        match c0.write(&pending) {
            Ok(n) => {
                accepted += n;
                pending.drain(..n);
                stalled_since = std::time::Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stalled_since.elapsed() > std::time::Duration::from_secs(3) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("connection 0 failed: {e}"),
        }
    }
    eprintln!("connection 0 stalled after {accepted} bytes");
    assert!(next < 100, "the receiver took all {accepted} bytes of connection 0: the window does not bound it");
    assert!(accepted >= 31 * MIB, "only {accepted} bytes taken: the window is smaller than documented");
    assert!(accepted < 64 * MIB, "{accepted} bytes taken: more than the 32 MiB window plus socket buffers");
    // The slow connection delivers chunk 0: the window moves and everything drains.
    c1.write_all(&frame(0, 0, &chunk(0))).unwrap();
    let all: Vec<u8> = (0..100).flat_map(chunk).collect();
    let end = frame(100 * MIB as u64, 1, &xxh3_body(&all));
    c1.write_all(&end).unwrap();
    c1.shutdown(std::net::Shutdown::Write).unwrap();
    c0.set_nonblocking(false).unwrap();
    c0.write_all(&pending).unwrap();
    for i in next..100 {
        c0.write_all(&frame((i * MIB) as u64, 0, &chunk(i))).unwrap();
    }
    c0.write_all(&end).unwrap();
    c0.shutdown(std::net::Shutdown::Write).unwrap();
    let mut verdict = [0u8; 33];
    c0.read_exact(&mut verdict).unwrap();
    assert_eq!(verdict[0], 1);
    recv.ok();
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 100 * MIB as u64);
}

/// Only one of two announced connections arrives: the listener gives up
/// after its 10 s gathering time with exit 4 and says how many came.
#[test]
fn striped_missing_connection_times_out() {
    let p = free_tcp_port();
    let dir = scratch();
    let recv = striped_listener(dir.path(), p, false, None, 40);
    let mut c0 = TcpStream::connect(addr(p)).unwrap();
    c0.write_all(&hello(0, 2, 46)).unwrap();
    let started = std::time::Instant::now();
    let d = recv.wait();
    assert_error(&d, 4, "only 1 of 2 connections arrived");
    assert!(started.elapsed() >= std::time::Duration::from_secs(9), "gave up early: {:?}", started.elapsed());
    drop(c0);
}

/// A striped receiver whose output closes: it fails with exit 4, and the
/// sender, its connections reset, fails with exit 4 too.
#[test]
fn striped_output_closed_fails_both_ends() {
    let dir = scratch();
    let sd = send_to_closed_stdout(dir.path(), "--tcp", free_tcp_port(), &["--streams", "3"], 13, 60);
    assert_error(&sd, 4, "closed the connection early");
}

/// nc talking to a `--streams` receiver is refused with a clear protocol error.
#[test]
fn striped_receiver_rejects_plain_bytes() {
    let p = free_tcp_port();
    let dir = scratch();
    let recv = striped_listener(dir.path(), p, false, None, 30);
    let mut c = TcpStream::connect(addr(p)).unwrap();
    c.write_all(b"hello, this is plain netcat text!\n").unwrap();
    let d = recv.wait();
    assert_error(&d, 4, "hello");
}

// ---- chat ----

/// Both ends of a chat after [`exchange_lines`]: stdins still open (closing
/// one is how a test ends the session), stdouts still read.
struct Chat {
    a_in: ChildStdin,
    b_in: ChildStdin,
    _outs: (BufReader<ChildStdout>, BufReader<ChildStdout>),
}

/// `first` typed into `a` arrives on `b`'s stdout, then `reply` typed into
/// `b` arrives on `a`'s.
fn exchange_lines(a: &mut Proc, b: &mut Proc, first: &str, reply: &str) -> Chat {
    let (mut a_in, mut b_in) = (a.stdin(), b.stdin());
    let (mut a_out, mut b_out) = (BufReader::new(a.stdout()), BufReader::new(b.stdout()));
    let mut line = String::new();
    a_in.write_all(first.as_bytes()).unwrap();
    a_in.flush().unwrap();
    b_out.read_line(&mut line).unwrap();
    assert_eq!(line, first);
    line.clear();
    b_in.write_all(reply.as_bytes()).unwrap();
    b_in.flush().unwrap();
    a_out.read_line(&mut line).unwrap();
    assert_eq!(line, reply);
    Chat { a_in, b_in, _outs: (a_out, b_out) }
}

/// Two stripecats in chat mode, scripted through pipes: a line each way,
/// then the connecting side's stdin closes and both sessions end cleanly.
#[test]
fn chat_through_pipes() {
    let p = free_tcp_port();
    let dir = scratch();
    let mut lis =
        spawn(dir.path(), &[bin(), "recv", "-q", "--tcp", "--listen", &addr(p), "--chat"], Io::Piped, Io::Piped, 30);
    wait_tcp_listen(p);
    let mut con = spawn(dir.path(), &[bin(), "send", "-q", "--tcp", &addr(p), "--chat"], Io::Piped, Io::Piped, 30);
    let chat = exchange_lines(&mut con, &mut lis, "hello from the connector\n", "and hello back\n");
    let (con_in, lis_in) = (chat.a_in, chat.b_in);
    // The connector is done typing: its EOF reaches the listener, which ends
    // (its stdin still open, as nc does) and so ends the connector's session.
    drop(con_in);
    lis.ok();
    con.ok();
    drop(lis_in);
}

/// Chat against `nc -l`, the tool people already use for this.
#[test]
fn chat_with_nc() {
    let p = free_tcp_port();
    let dir = scratch();
    let mut nc = spawn(dir.path(), &["nc", "-l", "127.0.0.1", &p.to_string()], Io::Piped, Io::Piped, 30);
    wait_tcp_listen(p);
    let mut sc = spawn(dir.path(), &[bin(), "send", "-q", "--tcp", &addr(p), "--chat"], Io::Piped, Io::Piped, 30);
    let chat = exchange_lines(&mut sc, &mut nc, "ping\n", "pong\n");
    let (sc_in, nc_in) = (chat.a_in, chat.b_in);
    // nc leaves when its stdin closes and the connection ends; stripecat
    // sees the end of stream and finishes with exit 0.
    drop(nc_in);
    drop(sc_in);
    sc.ok();
    nc.wait();
}

// ---- errors and their exit codes ----

#[test]
fn error_connection_refused_exits_4() {
    let dir = scratch();
    let p = free_tcp_port();
    let d = run(dir.path(), &[bin(), "send", "--tcp", &addr(p), "/dev/null"], 20);
    assert_error(&d, 4, "refused");
    let d = run(dir.path(), &[bin(), "recv", "--tcp", &addr(p), "--streams", "4"], 20);
    assert_error(&d, 4, "refused");
}

#[test]
fn error_name_not_resolved_exits_4() {
    let dir = scratch();
    let d = run(dir.path(), &[bin(), "send", "--tcp", "no-such-host.invalid:9", "/dev/null"], 30);
    assert_error(&d, 4, "cannot resolve \"no-such-host.invalid\"");
}

#[test]
fn error_port_in_use_exits_3() {
    let dir = scratch();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = held.local_addr().unwrap().to_string();
    let d = run(dir.path(), &[bin(), "recv", "--tcp", "--listen", &a], 20);
    assert_error(&d, 3, "already in use");
}

/// The receiver closes after a few bytes: the sender's writes fail and it
/// reports that the peer closed early, exit 4.
#[test]
fn error_peer_closes_early_exits_4() {
    let dir = scratch();
    let input = dir.path().join("in.bin");
    random_file(&input, 64 * MIB, 5);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = listener.local_addr().unwrap().to_string();
    let sender = spawn(dir.path(), &[bin(), "send", "--tcp", &a, input.to_str().unwrap()], Io::Null, Io::Null, 30);
    let (mut s, _) = listener.accept().unwrap();
    let mut buf = [0u8; 4096];
    s.read_exact(&mut buf).unwrap();
    drop(s); // unread data queued: the kernel answers with a reset
    let d = sender.wait();
    assert_error(&d, 4, "closed the connection early");
}

/// stdout closes under the receiver (`| head -c 100`): one error line about
/// the output, exit 4, and the sender sees the transfer fail too.
#[test]
fn error_output_closed_pipe_exits_4() {
    let dir = scratch();
    let sd = send_to_closed_stdout(dir.path(), "--tcp", free_tcp_port(), &[], 6, 30);
    assert_error(&sd, 4, "closed the connection early");
}

#[test]
fn error_missing_input_exits_3_before_connecting() {
    let dir = scratch();
    let d = run(dir.path(), &[bin(), "send", "--tcp", "127.0.0.1:9", "/no/such/file"], 20);
    assert_error(&d, 3, "cannot open /no/such/file");
}

#[test]
fn usage_errors_exit_2() {
    let dir = scratch();
    assert_usage_errors(
        dir.path(),
        &[
            (vec!["send", "--tcp"], "needs HOST:PORT"),
            (vec!["send", "--tcp", "127.0.0.1:9", "--listen", "9"], "not both"),
            (vec!["send", "--tcp", "localhost"], "is not HOST:PORT"),
            (vec!["recv", "--tcp", "--listen", "nope"], "is not [ADDR:]PORT"),
            (vec!["send", "--tcp", "127.0.0.1:9", "--chat", "--streams", "2"], "--chat works on one stream"),
            (vec!["send", "--tcp", "127.0.0.1:9", "--paths", "2"], "belong to --udp"),
            (vec!["send", "--tcp", "127.0.0.1:9", "--streams", "2", "--digest", "blake3", "/dev/null"], "xxh3 or none"),
        ],
    );
    // Values clap itself rejects keep clap's exit code 2 and name the option.
    for argv in [
        vec!["send", "--udp", "127.0.0.1:9", "--impair", "loss=abc"],
        vec!["send", "--tcp", "127.0.0.1:9", "--block-size", "12"],
        vec!["send", "--tcp", "127.0.0.1:9", "--streams", "0"],
    ] {
        let d = run_bin(dir.path(), &argv, 20);
        assert_eq!(d.code(), Some(2), "{argv:?}: {}", d.stderr);
        assert!(d.stderr.contains(argv[3]), "{argv:?}: {}", d.stderr);
    }
}
