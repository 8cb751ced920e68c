//! The kernel-transport tests (`kernel_tcp`, `kernel_udp`): free ports,
//! waiting for a listener without connecting to it, children with hard
//! deadlines, file comparison by digest.
//!
//! Every child gets a hard deadline and is killed when it passes, so a hung
//! transfer fails its test instead of hanging CI. Everything runs on
//! 127.0.0.1 only.

use std::fs::File;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use stripecat_proto::wire::DigestAlgorithm;
use stripecat_proto::StreamDigest;

#[allow(unused_imports)]
pub use super::bin;
#[allow(unused_imports)]
pub use super::data::random_file;

/// A TCP port nothing listens on right now (the kernel's pick for port 0).
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A UDP port nothing is bound to right now.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn proc_has_port(table: &str, port: u16, listen_only: bool) -> bool {
    let Ok(text) = std::fs::read_to_string(table) else { return false };
    text.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3
            && f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port)
            && (!listen_only || f[3] == "0A")
    })
}

/// Waits (up to 10 s) until something listens on TCP `port`, without
/// connecting to it (a probe connection would be the listener's one accept).
pub fn wait_tcp_listen(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proc_has_port("/proc/net/tcp", port, true) && !proc_has_port("/proc/net/tcp6", port, true) {
        assert!(Instant::now() < deadline, "nothing listened on TCP port {port} within 10 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (up to 10 s) until a UDP socket is bound to `port`.
pub fn wait_udp_bound(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proc_has_port("/proc/net/udp", port, false) && !proc_has_port("/proc/net/udp6", port, false) {
        assert!(Instant::now() < deadline, "nothing bound UDP port {port} within 10 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A scratch directory removed on drop.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("sc-kernel-").tempdir().unwrap()
}

/// XXH3-128 of a file, hex.
pub fn hash_file(path: &Path) -> String {
    let mut d = StreamDigest::new(DigestAlgorithm::Xxh3_128);
    let mut f = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        d.update(&buf[..n]);
    }
    d.finish()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Asserts two files hold the same bytes (by hash, with sizes in the message).
pub fn assert_same(a: &Path, b: &Path) {
    let (la, lb) = (std::fs::metadata(a).unwrap().len(), std::fs::metadata(b).map(|m| m.len()).unwrap_or(0));
    assert_eq!(la, lb, "{} has {la} bytes, {} has {lb}", a.display(), b.display());
    assert_eq!(hash_file(a), hash_file(b), "{} and {} differ", a.display(), b.display());
}

/// A child process with a hard deadline; its stderr goes to a file so a
/// chatty child can never block on a full pipe.
pub struct Proc {
    pub name: String,
    child: Child,
    deadline: Instant,
    stderr_path: PathBuf,
}

/// What a finished child left behind.
#[derive(Debug)]
pub struct Done {
    pub status: ExitStatus,
    pub stderr: String,
}

impl Done {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// How a child's stdin and stdout are wired.
pub enum Io<'a> {
    Null,
    File(&'a Path),
    Piped,
}

fn stdio_in(io: &Io) -> Stdio {
    match io {
        Io::Null => Stdio::null(),
        Io::File(p) => Stdio::from(File::open(p).unwrap()),
        Io::Piped => Stdio::piped(),
    }
}

fn stdio_out(io: &Io) -> Stdio {
    match io {
        Io::Null => Stdio::null(),
        Io::File(p) => Stdio::from(File::create(p).unwrap()),
        Io::Piped => Stdio::piped(),
    }
}

/// Starts `argv` with the given stdin/stdout and a deadline `secs` from now.
pub fn spawn(dir: &Path, argv: &[&str], stdin: Io, stdout: Io, secs: u64) -> Proc {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stderr_path = dir.join(format!("stderr-{n}.txt"));
    let child = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .stdin(stdio_in(&stdin))
        .stdout(stdio_out(&stdout))
        .stderr(Stdio::from(File::create(&stderr_path).unwrap()))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", argv[0]));
    Proc { name: argv.join(" "), child, deadline: Instant::now() + Duration::from_secs(secs), stderr_path }
}

impl Proc {
    pub fn stdin(&mut self) -> std::process::ChildStdin {
        self.child.stdin.take().expect("stdin was not piped")
    }

    pub fn stdout(&mut self) -> std::process::ChildStdout {
        self.child.stdout.take().expect("stdout was not piped")
    }

    /// Waits for exit; on the deadline, kills the child and fails the test.
    pub fn wait(mut self) -> Done {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let stderr = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
                return Done { status, stderr };
            }
            if Instant::now() > self.deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
                panic!("`{}` did not finish in time (killed); stderr: {stderr}", self.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends signal `sig` ("KILL", "TERM") to the child.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([&format!("-{sig}"), &pid]).status().unwrap().success(), "kill -{sig} {pid}");
    }

    /// Waits and asserts exit code 0.
    pub fn ok(self) -> Done {
        let name = self.name.clone();
        let d = self.wait();
        assert_eq!(d.code(), Some(0), "`{name}` failed: {}", d.stderr);
        d
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A test that panicked mid-way must not leave children behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `argv` to completion (stdin null) and returns its exit code and stderr.
pub fn run(dir: &Path, argv: &[&str], secs: u64) -> Done {
    spawn(dir, argv, Io::Null, Io::Null, secs).wait()
}

/// Asserts the documented one-line error form and exit code.
pub fn assert_error(d: &Done, code: i32, needle: &str) {
    assert_eq!(d.code(), Some(code), "want exit {code}, stderr: {}", d.stderr);
    let line = d.stderr.lines().find(|l| l.starts_with("stripecat: error: ")).unwrap_or_else(|| {
        panic!("no `stripecat: error:` line in {:?}", d.stderr);
    });
    assert!(line.contains(needle), "{line:?} does not mention {needle:?}");
    assert!(!d.stderr.contains("panicked"), "panic: {}", d.stderr);
}

/// A mebibyte, for sizes.
pub const MIB: usize = 1 << 20;

/// `127.0.0.1:PORT`.
pub fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// Waits until `transport` ("--tcp" or "--udp") has something listening
/// on (bound to) `port`.
pub fn wait_ready(transport: &str, port: u16) {
    match transport {
        "--tcp" => wait_tcp_listen(port),
        "--udp" => wait_udp_bound(port),
        other => panic!("no transport {other}"),
    }
}

/// Runs `stripecat ARGV...` (stdin null) to completion.
pub fn run_bin(dir: &Path, argv: &[&str], secs: u64) -> Done {
    let mut full = vec![bin()];
    full.extend(argv);
    run(dir, &full, secs)
}

/// Asserts each command line is refused with exit 2 and a usage error
/// naming its needle.
pub fn assert_usage_errors(dir: &Path, cases: &[(Vec<&str>, &str)]) {
    for (argv, needle) in cases {
        assert_error(&run_bin(dir, argv, 20), 2, needle);
    }
}

/// Runs `sh -c RECV`, waits until `transport` listens on `port`, runs
/// `sh -c SEND` and then waits for the receiver; both must exit 0.
pub fn shell_pair(dir: &Path, transport: &str, port: u16, recv_cmd: &str, send_cmd: &str, secs: u64) {
    let recv = spawn(dir, &["sh", "-c", recv_cmd], Io::Null, Io::Null, secs);
    wait_ready(transport, port);
    spawn(dir, &["sh", "-c", send_cmd], Io::Null, Io::Null, secs).ok();
    recv.ok();
}

/// Sends 64 MiB of seeded data with `stripecat send TRANSPORT 127.0.0.1:PORT
/// EXTRA...` to `stripecat recv TRANSPORT --listen 127.0.0.1:PORT EXTRA... |
/// head -c 100`, so the receiver's stdout closes under it. Asserts the
/// receiver fails with exit 4 and one error line about its stdout; returns
/// the sender's end.
pub fn send_to_closed_stdout(dir: &Path, transport: &str, port: u16, extra: &[&str], seed: u64, secs: u64) -> Done {
    let input = dir.join("in.bin");
    random_file(&input, 64 * MIB, seed);
    let status = dir.join("status");
    let tail: String = extra.iter().map(|e| format!(" {e}")).collect();
    let cmd = format!(
        "{} recv {transport} --listen 127.0.0.1:{port}{tail} | head -c 100 > /dev/null; echo ${{PIPESTATUS[0]}} > {}",
        bin(),
        status.display()
    );
    let recv = spawn(dir, &["bash", "-c", &cmd], Io::Null, Io::Null, secs);
    wait_ready(transport, port);
    let a = addr(port);
    let mut send: Vec<&str> = vec!["send", transport, &a];
    send.extend(extra);
    send.push(input.to_str().unwrap());
    let sd = run_bin(dir, &send, secs);
    let rd = recv.wait();
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "4", "recv stderr: {}", rd.stderr);
    assert!(rd.stderr.contains("stripecat: error: writing stdout failed"), "{}", rd.stderr);
    sd
}
