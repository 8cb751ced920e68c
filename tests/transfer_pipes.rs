//! stdin to stdout through pipes, over memif between two processes: the
//! sender's stdin is a pipe a thread writes random data into, the
//! receiver's stdout a pipe read into memory, and the two compared byte for
//! byte. The receiver's stdout must hold the data and nothing else (EAL's
//! log goes to stdout by default and would corrupt the stream), even with
//! EAL's log turned up; the sender's stdout stays empty.

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::data::{first_difference, random_bytes};
use common::dpdk::DpdkTest;
use common::transfer::{finish, memif_pair, start, stripecat_args};

const LIMIT: Duration = Duration::from_secs(90);

/// Receiver then sender over two memif links; returns (sender stdout,
/// receiver stdout) after asserting both exited 0, or `None` when the test
/// cannot run here (not root; the harness says so loudly).
fn pipe_transfer(name: &str, data: &[u8], recv_verbose: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let t = DpdkTest::start(name, LIMIT + Duration::from_secs(30))?;
    let (server, client) = memif_pair(&t, 2, None);
    let mut rargs: Vec<String> = Vec::new();
    if recv_verbose {
        // Every EAL log line at debug level: all of it must stay off stdout.
        rargs.push("-vv".into());
    }
    rargs.extend(stripecat_args("recv", &server, &[], None));
    let sargs = stripecat_args("send", &client, &["-"], None);

    let mut r = start(&t, "recv", &rargs, Stdio::null(), Stdio::piped());
    let mut s = start(&t, "send", &sargs, Stdio::piped(), Stdio::piped());
    // Read both stdouts and write stdin from threads, so no pipe fills up
    // and blocks a process that is waiting on us.
    let mut rout = r.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        rout.read_to_end(&mut got).map(|_| got)
    });
    let mut sout = s.child.stdout.take().unwrap();
    let sreader = std::thread::spawn(move || {
        let mut got = Vec::new();
        sout.read_to_end(&mut got).map(|_| got)
    });
    let mut stdin = s.child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || {
        // Odd-sized writes, so chunk boundaries never line up with them.
        for piece in input.chunks(65_521) {
            stdin.write_all(piece)?;
        }
        Ok::<(), std::io::Error>(())
        // stdin dropped here: EOF for the sender
    });
    let began = Instant::now();
    let so = finish(s, LIMIT);
    let ro = finish(r, LIMIT);
    eprintln!("{name}: {} bytes through pipes in {:.1} s", data.len(), began.elapsed().as_secs_f64());
    writer.join().unwrap().expect("writing the sender's stdin");
    let received = reader.join().unwrap().expect("reading the receiver's stdout");
    let sent_out = sreader.join().unwrap().expect("reading the sender's stdout");
    let (se, re) = (String::from_utf8_lossy(&so.stderr), String::from_utf8_lossy(&ro.stderr));
    assert!(
        so.status.success() && ro.status.success(),
        "sender {:?}: {se}\nreceiver {:?}: {}",
        so.status.code(),
        ro.status.code(),
        re.lines().filter(|l| !l.starts_with("EAL: ")).collect::<Vec<_>>().join("\n")
    );
    if recv_verbose {
        // The log really was on (so the stdout check below means something).
        assert!(re.contains("EAL"), "-vv printed no EAL log on stderr: {re}");
    }
    Some((sent_out, received))
}

fn assert_same(got: &[u8], want: &[u8]) {
    if got != want {
        let first = first_difference(got, want);
        let head = String::from_utf8_lossy(&got[..got.len().min(200)]).into_owned();
        panic!(
            "receiver's stdout ({} bytes) differs from the input ({} bytes); first difference at {first:?}; it starts {head:?}",
            got.len(),
            want.len()
        );
    }
}

#[test]
fn stdin_to_stdout_through_pipes_64mib() {
    let data = random_bytes((64 << 20) + 4099, 0x5eed_0f91_be00);
    let Some((sent_out, received)) = pipe_transfer("pipes", &data, false) else { return };
    assert_same(&received, &data);
    assert!(sent_out.is_empty(), "the sender wrote {} bytes to stdout", sent_out.len());
}

#[test]
fn stdout_holds_only_data_with_eal_debug_log_on() {
    let data = random_bytes(3 << 20, 0x1065_57d0);
    let Some((sent_out, received)) = pipe_transfer("pipes-log", &data, true) else { return };
    assert_same(&received, &data);
    assert!(sent_out.is_empty(), "the sender wrote {} bytes to stdout", sent_out.len());
}
