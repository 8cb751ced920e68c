//! `--tcp --streams N`: one byte stream striped over N TCP connections to one
//! listening port, the way mpnc does it, plus an end-to-end digest.
//!
//! # Wire format (all integers little-endian)
//! Every connection opens with a 24-byte **hello** from the connecting end:
//! ```text
//! 0  magic    "SCT1"
//! 4  index    u16   this connection's number, 0..count
//! 6  count    u16   connections in the session
//! 8  role     u8    0: the connecting end sends data; 1: it receives
//! 9  reserved [u8; 7] zero
//! 16 session  u64   random, the same on every connection of a session
//! ```
//! Then the sending end writes **frames**, each a 16-byte header and a body:
//! ```text
//! 0  offset   u64   DATA: stream offset of the body; END: total stream length
//! 8  len      u32   body length
//! 12 kind     u32   0 DATA, 1 END
//! ```
//! A DATA body is `len` bytes of the stream at `offset`. Chunks are handed to
//! whichever connection is ready next (work-stealing, so a slow connection
//! carries less), and offsets increase along each connection. Every
//! connection ends with one END frame whose 33-byte body is the digest
//! algorithm (0 none, 1 XXH3-128) and the 32-byte digest of the whole stream
//! (XXH3-128 big-endian in the first 16 bytes, zero after), then the sender shuts down its write side.
//!
//! The receiver reassembles in order. A chunk more than the reorder window
//! ahead of the delivered offset is not read off its connection until the
//! window moves, so a slow connection can hold the others up by at most the
//! window (and TCP flow control carries that back to the sender), and memory
//! stays bounded. When every connection has sent END and every byte up to
//! the total is written, the receiver answers on connection 0 with a
//! 33-byte **verdict**: 1 (digest matched) or 0, then its own 32-byte digest.
//! A connection that ends or resets before its END fails the transfer.
//!
//! # With a key (`--key-file`)
//! After the hellos, the sending end writes on connection 0 `"SCK1"` and Noise message 1
//! (48 bytes, `NNpsk0` as in docs/PROTOCOL.md); the receiving end answers `"SCK1"`, a status
//! (0 ok, 1 the keys differ, 2 it has no key, 3 it wants one) and Noise message 2 (64
//! bytes). Then every frame's body is AES-256-GCM sealed, its 16-byte header the associated
//! data, the 16-byte tag after the body (not counted in `len`), nonce (path space,
//! connection index, the connection's frame number); the verdict is sealed too (control
//! space, 0, 0). A keyed receiver opens its output only after the handshake.
//!
//! Files: [`session`] opens the connections, [`send`] and [`recv`] move the
//! stream; this module holds the wire format and what both ends share.

mod recv;
mod send;
mod session;

pub use self::recv::recv;
pub use self::send::send;
pub use self::session::establish;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stripecat_proto::crypto::{
    respond, Initiator, SessionKeys, Space, HELLO_ACK_HANDSHAKE_LEN, HELLO_HANDSHAKE_LEN, TAG_LEN,
};
use stripecat_proto::wire::DigestAlgorithm;
use stripecat_proto::{AuthError, Psk};

use super::error::{KernelError, Result};

const MAGIC: &[u8; 4] = b"SCT1";
/// Opens the key handshake (and its answer) on connection 0.
const KEY_MAGIC: &[u8; 4] = b"SCK1";
const KEY_HELLO_LEN: usize = 4 + HELLO_HANDSHAKE_LEN;
const KEY_REPLY_LEN: usize = 4 + 1 + HELLO_ACK_HANDSHAKE_LEN;
/// Frames per connection sealed under one key (each up to `--block-size`, 1 MiB).
const KEY_EPOCH_LOG2: u8 = 12;
const HELLO_LEN: usize = 24;
const HEADER_LEN: usize = 16;
const KIND_DATA: u32 = 0;
const KIND_END: u32 = 1;
const END_BODY: usize = 33;
const VERDICT_LEN: usize = 33;
/// Largest DATA body a receiver accepts (`--block-size` is capped at 64 MiB).
const MAX_CHUNK: u32 = 64 << 20;
/// How long the other connections of a session may trail the first one.
const GATHER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a receiver waits without a single new byte before giving up.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Which way the data flows, from this end's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Send,
    Recv,
}

/// The reorder window for `streams` connections and `block`-byte chunks:
/// four chunks per connection in flight, and at least 32 MiB so that
/// loopback-speed bursts do not stall on it.
pub fn reorder_window(streams: usize, block: usize) -> u64 {
    ((4 * streams * block) as u64).max(32 << 20)
}

/// A session identifier that differs between runs (no RNG crate needed:
/// std's hasher keys are random per process).
pub fn session_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos() ^ std::process::id() as u128);
    h.finish()
}

fn hello(index: u16, count: u16, role: Role, session: u64) -> [u8; HELLO_LEN] {
    let mut b = [0u8; HELLO_LEN];
    b[0..4].copy_from_slice(MAGIC);
    b[4..6].copy_from_slice(&index.to_le_bytes());
    b[6..8].copy_from_slice(&count.to_le_bytes());
    b[8] = match role {
        Role::Send => 0,
        Role::Recv => 1,
    };
    b[16..24].copy_from_slice(&session.to_le_bytes());
    b
}

/// A parsed hello: (index, count, the connecting end's role, session).
fn parse_hello(b: &[u8; HELLO_LEN]) -> Result<(u16, u16, Role, u64)> {
    if &b[0..4] != MAGIC {
        return Err(KernelError::Protocol(
            "the peer did not open with a stripecat --streams hello (is it nc, or stripecat with --streams 1?)".into(),
        ));
    }
    let index = u16::from_le_bytes([b[4], b[5]]);
    let count = u16::from_le_bytes([b[6], b[7]]);
    let role = match b[8] {
        0 => Role::Send,
        1 => Role::Recv,
        r => return Err(KernelError::Protocol(format!("unknown role {r} in hello"))),
    };
    if count == 0 || index >= count {
        return Err(KernelError::Protocol(format!("hello says connection {index} of {count}")));
    }
    Ok((index, count, role, u64::from_le_bytes(b[16..24].try_into().unwrap_or_default())))
}

fn header(offset: u64, len: u32, kind: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&offset.to_le_bytes());
    h[8..12].copy_from_slice(&len.to_le_bytes());
    h[12..16].copy_from_slice(&kind.to_le_bytes());
    h
}

fn digest_algorithm(code: u8) -> Result<Option<DigestAlgorithm>> {
    match code {
        0 => Ok(None),
        1 => Ok(Some(DigestAlgorithm::Xxh3_128)),
        c => Err(KernelError::Protocol(format!("unknown digest algorithm {c}"))),
    }
}

fn digest_code(alg: Option<DigestAlgorithm>) -> u8 {
    // Comparisons, not an exhaustive match: the protocol crate may grow
    // algorithms, and only XXH3-128 is carried here (the caller refuses others).
    if alg == Some(DigestAlgorithm::Xxh3_128) {
        1
    } else {
        0
    }
}

/// The digest's name and hex value as the summary shows them.
pub fn digest_text(alg: DigestAlgorithm, d: &[u8; 32]) -> (String, String) {
    let (name, len) = if alg == DigestAlgorithm::Xxh3_128 {
        ("xxh3-128", 16)
    } else if alg == DigestAlgorithm::Blake3 {
        ("blake3", 32)
    } else {
        ("none", 0)
    };
    (name.to_string(), d[..len].iter().map(|b| format!("{b:02x}")).collect())
}

/// The Noise prologue body both ends bind: the connection count.
fn key_body(count: usize) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(b"streams\0");
    b[8..10].copy_from_slice(&(count as u16).to_le_bytes());
    b
}

/// The listening receiver's session: its connections gathered and, keyed,
/// authenticated. A keyed receiver refuses a session that fails before it
/// authenticated (another key or none; connections that are not a stripecat sender)
/// and gathers the next, with a warning, so that whoever can connect cannot end a
/// receiver waiting for its sender. `within` (`--listen-timeout`) bounds the wait.
pub fn accept_session(
    addr: std::net::SocketAddr,
    opts: &crate::kernel::addr::SocketOptions,
    key: Option<&Psk>,
    within: Option<Duration>,
) -> Result<(Vec<TcpStream>, Option<SessionKeys>)> {
    let listener = session::Listener::bind(addr, opts, within)?;
    let mut report = crate::kernel::error::RefusalReport::default();
    let mut refused: (u64, Option<AuthError>) = (0, None);
    loop {
        let attempt = match listener.gather(Role::Recv) {
            Ok(Some(socks)) => key_handshake(&socks, Role::Recv, key).map(|k| Some((socks, k))),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        match attempt {
            Ok(Some(session)) => return Ok(session),
            Ok(None) => {
                let waited = within.unwrap_or_default().as_secs_f64();
                return Err(match refused {
                    (n, Some(e)) => KernelError::AuthRefused(format!(
                        "authentication failed: {e}; refused {n} sender(s) that did not authenticate, and none \
                         that did came within {waited} s"
                    )),
                    _ => KernelError::NoSender(format!("no sender came within {waited} s")),
                });
            }
            Err(KernelError::Auth(e)) if key.is_some() => {
                refused = (refused.0 + 1, Some(e));
                report.observe(refused);
            }
            Err(e @ (KernelError::Protocol(_) | KernelError::Timeout(_) | KernelError::PeerClosed { .. }))
                if key.is_some() =>
            {
                eprintln!("stripecat: warning: refused a connection: {e}; still listening for a sender with the key");
            }
            Err(e) => return Err(e),
        }
    }
}

/// The key handshake on connection 0 (see the module doc); `None` without a key.
pub fn key_handshake(socks: &[TcpStream], role: Role, key: Option<&Psk>) -> Result<Option<SessionKeys>> {
    let Some(psk) = key else { return Ok(None) };
    let mut s: &TcpStream = &socks[0];
    s.set_read_timeout(Some(GATHER_TIMEOUT)).map_err(KernelError::Socket)?;
    let body = key_body(socks.len());
    let keys = match role {
        Role::Send => {
            let mut init =
                Initiator::new(psk, 0, &body, KEY_EPOCH_LOG2).map_err(|e| KernelError::Protocol(e.to_string()))?;
            let mut hello = [0u8; KEY_HELLO_LEN];
            hello[..4].copy_from_slice(KEY_MAGIC);
            hello[4..].copy_from_slice(init.message());
            s.write_all(&hello).map_err(KernelError::socket)?;
            let mut reply = [0u8; KEY_REPLY_LEN];
            s.read_exact(&mut reply).map_err(|e| match e.kind() {
                // A receiver without a key reads the handshake as a frame and closes.
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => {
                    KernelError::Auth(AuthError::PeerHasNoKey)
                }
                _ => KernelError::socket(e),
            })?;
            match (&reply[..4] == KEY_MAGIC, reply[4]) {
                (true, 0) => {
                    init.finish(&reply[5..]).map(|(k, _)| k).map_err(|_| KernelError::Auth(AuthError::WrongKey))?
                }
                (true, 1) => return Err(KernelError::Auth(AuthError::WrongKey)),
                (true, 2) => return Err(KernelError::Auth(AuthError::PeerHasNoKey)),
                _ => return Err(KernelError::Protocol("the receiver's key answer is malformed".into())),
            }
        }
        Role::Recv => {
            // The magic first: an unkeyed sender's connection 0 may carry only its END
            // frame, shorter than a handshake.
            let mut hello = [0u8; KEY_HELLO_LEN];
            let mut reply = [0u8; KEY_REPLY_LEN];
            reply[..4].copy_from_slice(KEY_MAGIC);
            let got = s.read_exact(&mut hello[..4]).map_err(KernelError::socket);
            if got.is_err() || &hello[..4] != KEY_MAGIC {
                reply[4] = 3;
                let _ = s.write_all(&reply);
                return Err(KernelError::Auth(AuthError::PeerHasNoKey));
            }
            s.read_exact(&mut hello[4..]).map_err(KernelError::socket)?;
            match respond(psk, (0, KEY_EPOCH_LOG2), &body, &hello[4..], &[0u8; 16]) {
                Ok((k, m)) => {
                    reply[5..].copy_from_slice(m.as_bytes());
                    s.write_all(&reply).map_err(KernelError::socket)?;
                    k
                }
                Err(_) => {
                    reply[4] = 1;
                    let _ = s.write_all(&reply);
                    return Err(KernelError::Auth(AuthError::WrongKey));
                }
            }
        }
    };
    s.set_read_timeout(None).map_err(KernelError::Socket)?;
    Ok(Some(keys))
}

/// What an unkeyed receiver answers a keyed sender's handshake with, if the first
/// header on connection 0 starts it.
fn refuse_key(sock: &TcpStream, header: &[u8]) -> Option<KernelError> {
    if header.get(..4) != Some(&KEY_MAGIC[..]) {
        return None;
    }
    let mut reply = [0u8; KEY_REPLY_LEN];
    reply[..4].copy_from_slice(KEY_MAGIC);
    reply[4] = 2;
    let mut w: &TcpStream = sock;
    let _ = w.write_all(&reply);
    Some(KernelError::Auth(AuthError::NoKeyHere))
}

/// Seals frame `seq` of connection `index` in place: `body` becomes ciphertext, the tag
/// is returned (it follows the body on the wire).
fn seal_frame(keys: &SessionKeys, (index, seq): (usize, u64), header: &[u8], body: &mut [u8]) -> Result<[u8; TAG_LEN]> {
    let mut tag = [0u8; TAG_LEN];
    keys.tx
        .seal((Space::Path, index as u16, seq), header, body, &[], &mut tag)
        .map_err(|_| KernelError::Protocol("cannot seal a frame (key epochs used up)".into()))?;
    Ok(tag)
}

/// Opens frame `seq` of connection `index` in place (`body_and_tag`: ciphertext, tag).
fn open_frame(keys: &SessionKeys, (index, seq): (usize, u64), header: &[u8], body_and_tag: &mut [u8]) -> Result<()> {
    keys.rx
        .open((Space::Path, index as u16, seq), header, body_and_tag)
        .map(|_| ())
        .map_err(|_| KernelError::Protocol(format!("connection {index}: a frame failed authentication")))
}

/// The outcome of a striped transfer, for the summary.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub bytes: u64,
    pub digest: Option<(DigestAlgorithm, [u8; 32])>,
    pub verified: Option<bool>,
}

/// First error wins; every other thread sees `stop` and winds down, and the
/// sockets are shut down so nobody stays blocked in the kernel.
struct Abort<'a> {
    stop: AtomicBool,
    error: Mutex<Option<KernelError>>,
    socks: &'a [TcpStream],
}

impl Abort<'_> {
    /// Records the transfer's error (the first, except that a refused key explains
    /// a connection the peer closed meanwhile: it left because of the refusal) and
    /// stops every connection.
    fn fail(&self, e: KernelError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        let explains = matches!((&*slot, &e), (Some(KernelError::PeerClosed { .. }), KernelError::Auth(_)));
        if slot.is_none() || explains {
            *slot = Some(e);
        }
        drop(slot);
        if !self.stop.swap(true, Ordering::SeqCst) {
            for s in self.socks {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn take(&self) -> Option<KernelError> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}
