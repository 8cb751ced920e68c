//! Zero runs end to end (issue 13): an image with zero runs at its start, in the middle
//! (off chunk boundaries) and at its end (the stream ends inside one) goes over two memif
//! links (DPDK) and over kernel `--udp`. The output must equal the input; a regular-file
//! output must be sparse (allocated blocks well under its length) and have the right
//! length; a pipe gets every byte; `--no-sparse` on the receiver gives a full file, and
//! on the sender sends the zeros as data (the wire bytes show it).

mod common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::data::random_bytes;
use common::dpdk::DpdkTest;
use common::read_json;
use common::transfer::{assert_both_ok, finish, memif_pair, start, stripecat_args, Links};

const MIB: u64 = 1 << 20;
const LIMIT: Duration = Duration::from_secs(90);

/// (offset, length) of the random parts; everything else is zeros. 40 MiB + 777 bytes,
/// about 82% zeros, the data parts off chunk boundaries, the last 9 MiB + 777 zeros.
const DATA: [(u64, u64); 3] = [(8 * MIB, 4 * MIB), (28 * MIB + 1000, 3 * MIB + 12345), (31 * MIB + 20000, 1)];
const LEN: u64 = 40 * MIB + 777;

/// Writes the image (itself sparse: the zero runs are holes) and returns its length.
fn sparse_image(path: &Path, seed: u64) -> u64 {
    let mut f = File::create(path).unwrap();
    for (i, &(off, len)) in DATA.iter().enumerate() {
        f.seek(SeekFrom::Start(off)).unwrap();
        let mut b = random_bytes(len as usize, seed + i as u64);
        b[0] |= 1; // a data part never starts with a zero chunk of its own
        f.write_all(&b).unwrap();
    }
    f.set_len(LEN).unwrap();
    LEN
}

fn same_bytes(a: &Path, b: &Path) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    File::open(a).unwrap().read_to_end(&mut x).unwrap();
    File::open(b).unwrap().read_to_end(&mut y).unwrap();
    assert_eq!(x.len(), y.len(), "{} has {} bytes, {} has {}", a.display(), x.len(), b.display(), y.len());
    assert!(x == y, "{} and {} differ", a.display(), b.display());
}

/// Bytes allocated to `path` (`du`).
fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

fn assert_sparse(path: &Path) {
    let (alloc, len) = (allocated(path), std::fs::metadata(path).unwrap().len());
    assert_eq!(len, LEN, "{}: wrong length", path.display());
    assert!(alloc < len * 3 / 10, "{}: {alloc} bytes allocated for {len} (not sparse)", path.display());
}

fn assert_full(path: &Path) {
    let (alloc, len) = (allocated(path), std::fs::metadata(path).unwrap().len());
    assert!(alloc >= len, "{}: {alloc} bytes allocated for {len} (sparse despite --no-sparse)", path.display());
}

/// Stream bytes the sender's paths put on the wire (`--stats-json`).
fn wire_bytes(stats: &serde_json::Value) -> u64 {
    stats["paths"].as_array().expect("paths").iter().map(|p| p["bytes"].as_u64().unwrap_or(0)).sum()
}

/// Chunks the sender's paths sent as ZEROS records (`--stats-json`).
fn zero_records(stats: &serde_json::Value) -> u64 {
    stats["paths"].as_array().expect("paths").iter().map(|p| p["zero_records"].as_u64().unwrap_or(0)).sum()
}

/// Whole zero chunks of the image at least (8 KiB chunks or smaller: 28 MiB of zero runs).
const MIN_RECORDS: u64 = 28 * MIB / 8192;

/// One memif transfer of the image: the receiver writes FILE (or a pipe, read here, when
/// `output` is `None`). Returns the sender's stats and the bytes read from the pipe.
fn memif(
    t: &DpdkTest,
    output: Option<&Path>,
    recv_extra: &[&str],
    send_extra: &[&str],
) -> (serde_json::Value, Vec<u8>) {
    let (server, client) = memif_pair(t, 2, None);
    let input = t.path("in.img");
    sparse_image(&input, 13);
    let sj = t.path("send.json");
    let sj_arg = sj.display().to_string();
    let r = stripecat_args("recv", &server, recv_extra, output);
    let s = stripecat_args("send", &client, &[send_extra, &["--stats-json", sj_arg.as_str()]].concat(), Some(&input));
    let stdout = if output.is_some() { Stdio::null() } else { Stdio::piped() };
    let mut rp = start(t, "recv", &r, Stdio::null(), stdout);
    let reader = rp.child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            out.read_to_end(&mut v).unwrap();
            v
        })
    });
    let sp = start(t, "send", &s, Stdio::null(), Stdio::null());
    let so = finish(sp, LIMIT);
    let ro = finish(rp, LIMIT);
    assert_both_ok(&so, &ro);
    let piped = reader.map(|h| h.join().unwrap()).unwrap_or_default();
    (read_json(&sj), piped)
}

#[test]
fn memif_zero_runs_become_holes_and_a_pipe_gets_every_byte() {
    let Some(t) = DpdkTest::start("sparse-memif", 3 * LIMIT) else { return };
    let input = t.path("in.img");
    let output = t.path("out.img");
    let (stats, _) = memif(&t, Some(&output), &[], &[]);
    same_bytes(&input, &output);
    assert_sparse(&output);
    // Zero chunks went as records: far fewer bytes on the wire than the stream.
    assert!(wire_bytes(&stats) < LEN / 3, "{} wire bytes for {LEN}: {stats}", wire_bytes(&stats));
    assert!(zero_records(&stats) >= MIN_RECORDS, "{stats}");

    // To a pipe: the zeros are written out.
    let (_, piped) = memif(&t, None, &[], &[]);
    let mut want = Vec::new();
    File::open(&input).unwrap().read_to_end(&mut want).unwrap();
    assert_eq!(piped.len(), want.len(), "pipe output length");
    assert!(piped == want, "pipe output differs");

    // --no-sparse on the receiver: the same records, written out as zeros.
    let full = t.path("full.img");
    memif(&t, Some(&full), &["--no-sparse"], &[]);
    same_bytes(&input, &full);
    assert_full(&full);
}

#[test]
fn memif_sender_no_sparse_sends_zeros_as_data() {
    let Some(t) = DpdkTest::start("sparse-memif-off", LIMIT) else { return };
    let input = t.path("in.img");
    let output = t.path("out.img");
    let (stats, _) = memif(&t, Some(&output), &[], &["--no-sparse"]);
    same_bytes(&input, &output);
    assert_eq!(zero_records(&stats), 0, "{stats}");
    assert!(wire_bytes(&stats) >= LEN, "{} wire bytes for {LEN}: {stats}", wire_bytes(&stats));
    assert_full(&output);
}

#[test]
fn af_packet_zero_runs_become_holes() {
    let Some(t) = DpdkTest::start("sparse-afp", LIMIT) else { return };
    let l = Links::new("spa", 2);
    let input = t.path("in.img");
    sparse_image(&input, 16);
    let output = t.path("out.img");
    let r = l.start_recv(&t, Some(&output), &[], Stdio::null());
    let s = l.start_send(&t, Some(&input), &[]);
    let so = finish(s, LIMIT);
    let ro = finish(r, LIMIT);
    assert_both_ok(&so, &ro);
    same_bytes(&input, &output);
    assert_sparse(&output);
}

mod udp {
    use super::*;
    use common::kernel::{addr, bin, free_udp_port, scratch, spawn, wait_udp_bound, Io};

    /// One `--udp` transfer of the image to `out` (`Io::File` for a redirected stdout, or
    /// FILE); returns the sender's stats.
    fn transfer(
        dir: &Path,
        out: &Path,
        to_stdout: bool,
        recv_extra: &[&str],
        send_extra: &[&str],
    ) -> serde_json::Value {
        let p = free_udp_port();
        let input = dir.join("in.img");
        sparse_image(&input, 14);
        let sj = dir.join("send.json");
        let a = addr(p);
        let mut recv: Vec<&str> = vec![bin(), "recv", "--udp", "--listen", &a, "-q"];
        recv.extend(recv_extra);
        if !to_stdout {
            recv.push(out.to_str().unwrap());
        }
        let mut send: Vec<&str> = vec![bin(), "send", "--udp", &a, "-q", "--stats-json", sj.to_str().unwrap()];
        send.extend(send_extra);
        send.push(input.to_str().unwrap());
        let stdout = if to_stdout { Io::File(out) } else { Io::Null };
        let r = spawn(dir, &recv, Io::Null, stdout, 120);
        wait_udp_bound(p);
        let s = spawn(dir, &send, Io::Null, Io::Null, 120);
        let _ = (s.ok(), r.ok());
        same_bytes(&input, out);
        read_json(&sj)
    }

    #[test]
    fn udp_zero_runs_become_holes_in_a_file_and_in_redirected_stdout() {
        let dir = scratch();
        let out = dir.path().join("out.img");
        let stats = transfer(dir.path(), &out, false, &[], &[]);
        assert!(zero_records(&stats) >= MIN_RECORDS, "{stats}");
        assert_sparse(&out);
        assert!(wire_bytes(&stats) < LEN / 3, "{} wire bytes for {LEN}: {stats}", wire_bytes(&stats));
        let redirected = dir.path().join("stdout.img");
        transfer(dir.path(), &redirected, true, &[], &[]);
        assert_sparse(&redirected);
    }

    #[test]
    fn udp_no_sparse_on_either_end_gives_a_full_file() {
        let dir = scratch();
        let out = dir.path().join("out.img");
        let stats = transfer(dir.path(), &out, false, &["--no-sparse"], &[]);
        assert!(wire_bytes(&stats) < LEN / 3, "the receiver's flag changes only the output: {stats}");
        assert_full(&out);
        let out2 = dir.path().join("out2.img");
        let stats = transfer(dir.path(), &out2, false, &[], &["--no-sparse"]);
        assert_eq!(zero_records(&stats), 0, "{stats}");
        assert!(wire_bytes(&stats) >= LEN, "{} wire bytes for {LEN}: {stats}", wire_bytes(&stats));
        assert_full(&out2);
    }

    #[test]
    fn udp_zero_records_are_sealed_in_a_keyed_session() {
        let dir = scratch();
        let key = dir.path().join("k");
        let k = key.to_str().unwrap();
        let d = common::kernel::run(dir.path(), &[bin(), "keygen", k], 10);
        assert_eq!(d.code(), Some(0), "{}", d.stderr);
        let out = dir.path().join("out.img");
        let stats = transfer(dir.path(), &out, false, &["--key-file", k], &["--key-file", k]);
        assert_eq!(stats["authenticated"], true, "{stats}");
        assert_sparse(&out);
        assert!(wire_bytes(&stats) < LEN / 3, "{} wire bytes for {LEN}: {stats}", wire_bytes(&stats));
    }

    #[test]
    fn udp_zero_runs_reach_a_pipe_whole() {
        let dir = scratch();
        let p = free_udp_port();
        let input = dir.path().join("in.img");
        sparse_image(&input, 15);
        let a = addr(p);
        let recv = [bin(), "recv", "--udp", "--listen", &a, "-q"];
        let mut r = spawn(dir.path(), &recv, Io::Null, Io::Piped, 120);
        let mut out = r.stdout();
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            out.read_to_end(&mut v).unwrap();
            v
        });
        wait_udp_bound(p);
        let s =
            spawn(dir.path(), &[bin(), "send", "--udp", &a, "-q", input.to_str().unwrap()], Io::Null, Io::Null, 120);
        let _ = (s.ok(), r.ok());
        let got = reader.join().unwrap();
        let mut want = Vec::new();
        File::open(&input).unwrap().read_to_end(&mut want).unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "pipe output differs");
    }
}
