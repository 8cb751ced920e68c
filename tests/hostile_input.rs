//! Traffic that is not the running transfer's, on the real data plane: two
//! `stripecat` processes over net_af_packet on veth pairs (the receiver in
//! its own network namespace) while a third party sends forged and
//! malformed frames, a second sender asks for a session, or the frames of
//! an earlier transfer are played back. The running transfer must complete
//! unharmed and every foreign frame be dropped and counted by reason.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::data::{assert_same_file, assert_stream_prefix, random_file};
use common::dpdk::{spawn, DpdkTest};
use common::transfer::{assert_both_ok, finish, start, stderr, stripecat_args, wait_output, Feeder, Links};
use common::{file_len, read_json, run_with_timeout, wait_for};

/// Hard limit for one two-process run.
const LIMIT: Duration = Duration::from_secs(60);

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
    h = struct.pack('!HBBBBHQQQHHII', 0x5354, 2, ptype, 0, 0, 0, session, rng.getrandbits(32), 0,
                    len(body) if length is None else length, 0, 0, 0)
    crc = crc32c(h + b'\0\0\0\0' + body)
    if not good_crc: crc ^= 0x5A5A5A5A
    return h + struct.pack('!I', crc) + body
def garbage():
    # Not our magic, and a length field (bytes 32-33 of the header) that fits, so the
    # magic is what the receiver refuses (not the length: random bytes would say "truncated").
    b = rnd(100)
    b = (b'\x12\x34' + b[2:]) if b[:2] == b'\x53\x54' else b
    return b[:32] + b'\x00\x10' + b[34:]

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
    lambda: eth(struct.pack('!HH', 210, 0x0800) + ipv4(udp(rnd(64))), 0x8100),  # another VLAN
    lambda: eth(b'\x00', 0x8100),                              # truncated 802.1Q tag
    lambda: eth(rnd(64), 0x86dd),                               # IPv6 on an IPv4 member
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
    let l = Links::new("rlh", 2);
    let (input, output, rj) = (t.path("in.bin"), t.path("out.bin"), t.path("recv.json"));
    random_file(&input, 64 << 20, 0x6057_11e5);
    let script = t.path("inject.py");
    std::fs::write(&script, INJECTOR).unwrap();
    let began = Instant::now();
    let rj_arg = rj.display().to_string();
    let r = l.start_recv(&t, Some(&output), &["--stats-json", &rj_arg], Stdio::null());
    // The third party: a raw socket on the sender's end of link 0, aimed at
    // the receiver's MAC, IP and UDP port.
    let mut inj = spawn(
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
        inj.wait_with_output().map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
    );
    let s = l.start_send(&t, Some(&input), &[]);
    let so = finish(s, LIMIT);
    let ro = finish(r, LIMIT);
    let _ = inj.kill();
    let _ = inj.wait();
    eprintln!("hostile frames, 2 links, 64 MiB: {:.1} s", began.elapsed().as_secs_f64());
    assert_both_ok(&so, &ro);
    assert_same_file(&input, &output);
    let report = read_json(&rj);
    let drops = &report["drops"];
    for k in
        ["malformed_frame", "bad_magic", "wrong_session", "truncated", "bad_checksum", "wrong_vlan", "other_ethertype"]
    {
        assert!(drops[k].as_u64().unwrap_or(0) > 0, "no {k} drops counted: {report}");
    }
}

#[test]
fn second_sender_is_rejected_and_the_running_transfer_is_unharmed() {
    let Some(t) = DpdkTest::start("rel-second", LIMIT + Duration::from_secs(30)) else { return };
    // The receiver serves two links; sender A uses link 0, sender B (a
    // second process, as a second host would be) link 1.
    let l = Links::new("rlb", 2);
    let output = t.path("out.bin");
    let other = t.path("other.bin");
    random_file(&other, 1 << 20, 99);
    let seed = 0x05ec_011d;
    let mut r = l.start_recv(&t, Some(&output), &[], Stdio::null());
    // A reads a pipe fed at ~50 MiB/s, so it is still running when B comes.
    let mut a =
        start(&t, "send-a", &stripecat_args("send", &l.send_ports()[..1], &[], None), Stdio::piped(), Stdio::null());
    let feeder = Feeder::start(a.child.stdin.take().expect("piped stdin"), seed, Duration::from_millis(20));
    wait_output(&output, 4 << 20, &mut [&mut r, &mut a]);
    let b_port = format!("net_af_packet0,iface={},qdisc_bypass=0", l.send_if[1]);
    // DPDK 22.11's af_packet takes its fanout group id from the process id and the
    // interface index, so B can draw A's group (on A's interface) and fail to probe
    // (exit 3, "PACKET_FANOUT"); a new process has a new id.
    let (bo, b_took) = (0..3)
        .map(|_| {
            let began = Instant::now();
            let args = stripecat_args("send", std::slice::from_ref(&b_port), &[], Some(&other));
            let bo = finish(start(&t, "send-b", &args, Stdio::null(), Stdio::null()), Duration::from_secs(30));
            (bo, began.elapsed())
        })
        .find(|(bo, _)| !stderr(bo).contains("PACKET_FANOUT"))
        .expect("sender B drew sender A's af_packet fanout group three times");
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

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn drops(report: &serde_json::Value, key: &str) -> u64 {
    report["drops"][key].as_u64().unwrap_or(0)
}

#[test]
fn replayed_packets_of_an_earlier_transfer_are_dropped_and_counted() {
    let Some(t) = DpdkTest::start("rel-replay", Duration::from_secs(150)) else { return };
    let l = Links::new("rly", 2);
    let (capture, replay) = (t.path("capture.py"), t.path("replay.py"));
    std::fs::write(&capture, CAPTURE).unwrap();
    std::fs::write(&replay, REPLAY).unwrap();
    let (to_recv, to_send) = (t.path("to-recv.frames"), t.path("to-send.frames"));

    // The earlier transfer, captured on link 0 (the sender's end sees both
    // directions): its DATA, HELLO and FIN frames and the receiver's ACKs.
    let (input, first_out) = (t.path("in1.bin"), t.path("out1.bin"));
    random_file(&input, 8 << 20, 0x4e91);
    let mut cap = spawn(
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
    let r = l.start_recv(&t, Some(&first_out), &[], Stdio::null());
    let s = l.start_send(&t, Some(&input), &[]);
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
    let (rj_arg, sj_arg) = (rj.display().to_string(), sj.display().to_string());
    let mut r = l.start_recv(&t, Some(&output), &["--stats-json", &rj_arg], Stdio::null());
    let mut s = l.start_send(&t, None, &["--stats-json", &sj_arg]);
    let feeder = Feeder::start(s.child.stdin.take().unwrap(), seed, Duration::from_millis(40));
    wait_output(&output, 4 << 20, &mut [&mut r, &mut s]);
    let play = |cmd: &mut Command| -> u64 {
        let (code, out, err) = run_with_timeout(cmd, Duration::from_secs(30));
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
    let (rs, ss) = (read_json(&rj), read_json(&sj));
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

#[test]
fn a_captured_keyed_session_replayed_never_serves_and_never_writes() {
    // The frames of a keyed transfer (its HELLO, CONFIRM, sealed DATA and FIN; the
    // receiver's sealed ACKs), captured with a raw socket, played back at an idle keyed
    // receiver and then during a new keyed transfer: the idle one answers the HELLO with
    // keys the replayer cannot use, never commits and never creates its output; the busy
    // one drops them all, and both transfers are exact.
    let Some(t) = DpdkTest::start("rel-replay-key", Duration::from_secs(200)) else { return };
    let l = Links::new("rlk", 2);
    let key = t.path("k");
    let st = Command::new(common::bin()).arg("keygen").arg(&key).status().unwrap();
    assert!(st.success());
    let key_arg = key.display().to_string();
    let keyed = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["--key-file".into(), key_arg.clone()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let (capture, replay) = (t.path("capture.py"), t.path("replay.py"));
    std::fs::write(&capture, CAPTURE).unwrap();
    std::fs::write(&replay, REPLAY).unwrap();
    let (to_recv, to_send) = (t.path("to-recv.frames"), t.path("to-send.frames"));
    let (input, first_out) = (t.path("in1.bin"), t.path("out1.bin"));
    random_file(&input, 8 << 20, 0x4e93);
    let mut cap = spawn(
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
    let k0 = keyed(&[]);
    let s0 = t.path("send0.json");
    let s0_arg = s0.display().to_string();
    let ks0 = keyed(&["--stats-json", &s0_arg]);
    let r = l.start_recv(&t, Some(&first_out), &args(&k0), Stdio::null());
    let s = l.start_send(&t, Some(&input), &args(&ks0));
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
        counts.len() == 2 && counts[0] >= 500 && counts[1] >= 20,
        "captured too little: {line:?}; sender paths: {}",
        read_json(&s0)["paths"]
    );
    let play = |cmd: &mut Command| -> u64 {
        let (code, out, err) = run_with_timeout(cmd, Duration::from_secs(30));
        assert_eq!(code, 0, "replay failed: {err}");
        out.trim().parse().unwrap_or_else(|_| panic!("replay said {out:?}"))
    };

    // An idle keyed receiver: the whole capture played at it, twice.
    let (idle_out, ij) = (t.path("idle.bin"), t.path("idle.json"));
    let ij_arg = ij.display().to_string();
    let ki = keyed(&["--stats-json", &ij_arg]);
    let mut idle = l.start_recv(&t, Some(&idle_out), &args(&ki), Stdio::null());
    std::thread::sleep(Duration::from_secs(2));
    let mut sent = 0;
    for _ in 0..2 {
        sent +=
            play(Command::new("python3").arg(&replay).args([l.send_if[0].as_str(), &to_recv.display().to_string()]));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(idle.child.try_wait().unwrap().is_none(), "the idle receiver left: {sent} frames replayed");
    assert!(!idle_out.exists(), "a replayed keyed session made the receiver create its output");
    idle.signal("TERM");
    let io = finish(idle, LIMIT);
    assert_eq!(io.status.code(), Some(143), "{}", stderr(&io));
    assert!(!idle_out.exists(), "the output appeared at exit");
    {
        // Its report says what it refused: the replayed frames, by reason.
        let v = read_json(&ij);
        let n = drops(&v, "unauthenticated") + drops(&v, "wrong_session") + drops(&v, "replayed");
        assert!(n >= sent / 2, "idle receiver counted {n} of {sent}: {v}");
        assert_eq!(v["bytes"], 0, "{v}");
    }

    // A busy keyed transfer, the old frames played in both directions while it runs.
    let (output, sj, rj) = (t.path("out2.bin"), t.path("send.json"), t.path("recv.json"));
    let seed = 0x4e94;
    let (rj_arg, sj_arg) = (rj.display().to_string(), sj.display().to_string());
    let (kr, ks) = (keyed(&["--stats-json", &rj_arg]), keyed(&["--stats-json", &sj_arg]));
    let mut r = l.start_recv(&t, Some(&output), &args(&kr), Stdio::null());
    let mut s = l.start_send(&t, None, &args(&ks));
    let feeder = Feeder::start(s.child.stdin.take().unwrap(), seed, Duration::from_millis(40));
    wait_output(&output, 4 << 20, &mut [&mut r, &mut s]);
    let sent_to_recv =
        play(Command::new("python3").arg(&replay).args([l.send_if[0].as_str(), &to_recv.display().to_string()]));
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
    let (rs, ss) = (read_json(&rj), read_json(&sj));
    assert_eq!(rs["authenticated"], true);
    let refused =
        |v: &serde_json::Value| drops(v, "wrong_session") + drops(v, "unauthenticated") + drops(v, "replayed");
    assert!(refused(&rs) >= sent_to_recv / 2, "receiver: {} of {sent_to_recv}: {rs}", refused(&rs));
    assert!(refused(&ss) >= sent_to_send / 2, "sender: {} of {sent_to_send}: {ss}", refused(&ss));
}
