//! Authenticated, encrypted sessions: the pre-shared key, the Noise `NNpsk0` handshake,
//! per-packet AES-256-GCM sealing, the replay window, and the [`Keyring`] that the lanes
//! of one endpoint share.
//!
//! * **Handshake** (`snow`, `Noise_NNpsk0_25519_ChaChaPoly_SHA256`): the HELLO carries message
//!   1 (`psk, e`), the HELLO-ACK message 2 (`e, ee`, with the HELLO-ACK body as its
//!   encrypted payload). The prologue binds the protocol version, the session id and the
//!   HELLO body (chunk size, paths, digest, options, length), so none of them can be
//!   changed on the way. A HELLO made without the key fails at message 1; a replayed
//!   HELLO gets a HELLO-ACK whose keys the replayer cannot derive (fresh ephemeral).
//! * **Keys**: the Noise split gives one secret per direction; HKDF-SHA256 (salt: the
//!   handshake hash) expands each into an AES-256-GCM key and a 12-byte IV
//!   ([`derive_direction`]).
//! * **Packets**: nonce = IV XOR (number space, path id, packet number)
//!   ([`DirectionKey::nonce`]); the 48-byte header is the associated data; the body or
//!   payload is encrypted in place and the 16-byte tag follows it ([`TAG_LEN`]); the
//!   header's CRC32C field is zero and [`crate::wire::Flags::SEALED`] is set.
//!   Every (space, path, number) is sent at most once per key: DATA and PING use the
//!   path's packet numbers, ACKs a per-path counter of the receiver, control packets each
//!   end's control sequence, and the two directions have different keys.
//! * **Replay**: [`ReplayWindow`] per path and number space, updated only after the tag
//!   verified.
//!
//! The core draws no randomness itself except the ephemeral Diffie-Hellman keys, which
//! `snow` takes from the operating system.

use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf;
use thiserror::Error;

use crate::wire::PacketType;

/// Length of the AEAD tag that follows a sealed packet's body or payload.
pub const TAG_LEN: usize = 16;
/// Length of the pre-shared key.
pub const KEY_LEN: usize = 32;
/// Length of Noise message 1 (`psk, e`, empty payload): ephemeral key and tag.
pub const HELLO_HANDSHAKE_LEN: usize = 32 + TAG_LEN;
/// Payload of Noise message 2: the HELLO-ACK body.
pub const HELLO_ACK_PAYLOAD_LEN: usize = 16;
/// Length of Noise message 2 (`e, ee`, the HELLO-ACK body encrypted).
pub const HELLO_ACK_HANDSHAKE_LEN: usize = hello_ack_handshake_len(HELLO_ACK_PAYLOAD_LEN);
/// Longest payload of Noise message 2: the HELLO-ACK body and its resume point (48 bytes,
/// only when the session resumes), so the prefix's length and digest are authenticated
/// and hidden like the rest of the answer.
pub const HELLO_ACK_PAYLOAD_MAX: usize = HELLO_ACK_PAYLOAD_LEN + 48;

/// Length of Noise message 2 carrying a `payload`-byte HELLO-ACK body.
pub const fn hello_ack_handshake_len(payload: usize) -> usize {
    32 + payload + TAG_LEN
}

/// Noise message 2 as it travels in the HELLO-ACK: [`HELLO_ACK_HANDSHAKE_LEN`] bytes, or
/// longer when its payload carries a resume point.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Message2 {
    len: usize,
    bytes: [u8; hello_ack_handshake_len(HELLO_ACK_PAYLOAD_MAX)],
}

impl core::fmt::Debug for Message2 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Message2({} bytes)", self.len)
    }
}

impl Message2 {
    /// The message in `b`, if `b` has the length of a message 2 whose payload is
    /// `payload` bytes long.
    pub fn from_slice(b: &[u8], payload: usize) -> Option<Message2> {
        if b.len() != hello_ack_handshake_len(payload) || payload > HELLO_ACK_PAYLOAD_MAX {
            return None;
        }
        let mut bytes = [0u8; hello_ack_handshake_len(HELLO_ACK_PAYLOAD_MAX)];
        bytes[..b.len()].copy_from_slice(b);
        Some(Message2 { len: b.len(), bytes })
    }

    /// The message's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Its length on the wire.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }
}

const NOISE_PATTERN: &str = "Noise_NNpsk0_25519_ChaChaPoly_SHA256";
const PROLOGUE_LABEL: &[u8] = b"stripecat session";
const KEY_LABEL: &[u8] = b"stripecat v2 key";
const IV_LABEL: &[u8] = b"stripecat v2 iv";

/// The pre-shared key both ends hold. Its bytes are never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Psk([u8; KEY_LEN]);

impl core::fmt::Debug for Psk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Psk(..)")
    }
}

impl Drop for Psk {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

/// Why text could not be read as a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeyError {
    /// A character that is not a hex digit (position in the text).
    #[error("character {0} is not a hex digit")]
    NotHex(usize),
    /// Not 64 hex digits.
    #[error("{0} hex digits, a key has 64 (32 bytes)")]
    WrongLength(usize),
}

impl Psk {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Psk {
        Psk(bytes)
    }

    /// Reads a key file's text: 64 hex digits (either case); surrounding whitespace
    /// (a trailing newline) is ignored.
    pub fn parse_hex(text: &str) -> Result<Psk, KeyError> {
        let t = text.trim();
        let start = text.len() - text.trim_start().len();
        if let Some(i) = t.chars().position(|c| !c.is_ascii_hexdigit()) {
            return Err(KeyError::NotHex(start + i));
        }
        if t.len() != 2 * KEY_LEN {
            return Err(KeyError::WrongLength(t.len()));
        }
        let mut out = [0u8; KEY_LEN];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|_| KeyError::NotHex(start + 2 * i))?;
        }
        Ok(Psk(out))
    }

    /// The key as 64 lower-case hex digits (what `stripecat keygen` prints).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// Why a handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HandshakeError {
    /// A Noise message did not verify: the ends hold different keys (or it was forged).
    #[error("the handshake did not verify: the two ends hold different keys")]
    WrongKey,
    /// The handshake message has the wrong length.
    #[error("malformed handshake message")]
    Malformed,
    /// The Noise library refused a step (never expected).
    #[error("handshake state error")]
    State,
}

/// Why a session could not be authenticated: what both ends report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The handshake did not verify: the two ends hold different keys.
    #[error("the two ends hold different keys (the handshake did not verify)")]
    WrongKey,
    /// This end has a key and the peer has none: no unauthenticated session.
    #[error("the peer has no key, and this end takes no unauthenticated session")]
    PeerHasNoKey,
    /// The peer has a key and this end has none.
    #[error("the peer has a key and this end has none")]
    NoKeyHere,
}

/// A packet number space for the nonce: per-path packets, or the session's control
/// sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Space {
    /// DATA and PING (sender's path packet numbers), ACK (receiver's per-path counter).
    Path = 0,
    /// HELLO, HELLO-ACK, CONFIRM, FIN, FIN-ACK, RESET: each end's control sequence.
    Control = 1,
}

impl Space {
    /// The space a packet type's number belongs to.
    pub fn of(kind: PacketType) -> Space {
        match kind {
            PacketType::Data | PacketType::Ping | PacketType::Zeros | PacketType::Ack => Space::Path,
            _ => Space::Control,
        }
    }
}

/// One direction's AEAD key and IV.
pub struct DirectionKey {
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
}

impl core::fmt::Debug for DirectionKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DirectionKey(..)")
    }
}

/// The packet could not be sealed (a buffer sized wrong: a driver bug) or opened (its
/// tag did not verify).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("AEAD failure")]
pub struct AeadError;

impl DirectionKey {
    /// A key from raw parts (tests, and [`derive_direction`]).
    pub fn new(key: &[u8; 32], iv: [u8; NONCE_LEN]) -> DirectionKey {
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key is valid for AES-256-GCM");
        DirectionKey { key: LessSafeKey::new(unbound), iv }
    }

    /// The nonce of packet `pn` of `space` on `path`: the IV XOR the 12 bytes
    /// `space (1) | 0 (1) | path (2) | packet number (8)`, big-endian.
    pub fn nonce_bytes(&self, space: Space, path: u16, pn: u64) -> [u8; NONCE_LEN] {
        let mut n = [0u8; NONCE_LEN];
        n[0] = space as u8;
        n[2..4].copy_from_slice(&path.to_be_bytes());
        n[4..12].copy_from_slice(&pn.to_be_bytes());
        for (a, b) in n.iter_mut().zip(self.iv.iter()) {
            *a ^= b;
        }
        n
    }

    fn nonce(&self, space: Space, path: u16, pn: u64) -> Nonce {
        Nonce::assume_unique_for_key(self.nonce_bytes(space, path, pn))
    }

    /// Seals in one pass: `in_out` (a control body, possibly empty) is encrypted in
    /// place, `extra_in` (a DATA payload held elsewhere) is encrypted into the front of
    /// `extra_out_and_tag`, and the tag follows it there. `header` is the associated data.
    pub fn seal(
        &self,
        (space, path, pn): (Space, u16, u64),
        header: &[u8],
        in_out: &mut [u8],
        extra_in: &[u8],
        extra_out_and_tag: &mut [u8],
    ) -> Result<(), AeadError> {
        if extra_out_and_tag.len() != extra_in.len() + TAG_LEN {
            return Err(AeadError);
        }
        self.key
            .seal_in_place_scatter(self.nonce(space, path, pn), Aad::from(header), in_out, extra_in, extra_out_and_tag)
            .map_err(|_| AeadError)
    }

    /// Opens in place: `in_out` is ciphertext and tag; on success its front holds the
    /// plaintext (length returned). On failure nothing is to be trusted.
    pub fn open(
        &self,
        (space, path, pn): (Space, u16, u64),
        header: &[u8],
        in_out: &mut [u8],
    ) -> Result<usize, AeadError> {
        self.key
            .open_in_place(self.nonce(space, path, pn), Aad::from(header), in_out)
            .map(|p| p.len())
            .map_err(|_| AeadError)
    }
}

/// Epochs of one direction's keys: after this many, a session cannot seal any more.
pub const MAX_EPOCHS: usize = 4096;
/// Smallest and largest key epoch a HELLO may ask for (log2 of packets per path).
pub const EPOCH_LOG2_RANGE: core::ops::RangeInclusive<u8> = 4..=40;

/// The key epoch (log2 of packets per path and number space per key) for `paths`
/// paths: every key then seals at most 2^23 packets in all, RFC 9001's confidentiality
/// limit for AES-GCM (section 6.6), however many paths share it.
pub fn epoch_log2_for(paths: u16) -> u8 {
    let bits = 16 - (paths.max(1) - 1).leading_zeros() as u8; // ceil(log2(paths))
    (23 - bits.min(22)).max(*EPOCH_LOG2_RANGE.start())
}

/// One direction's keys: a new AES-256-GCM key (and IV) per epoch, where packet `pn` of
/// any number space is in epoch `pn >> epoch_log2`. Each epoch's key is derived once,
/// when first used (HKDF-SHA256 over the direction's secret with the epoch in the label),
/// so the hot path reads it with one atomic load. Rekeying needs no message: both ends
/// derive the same key from the packet number in the header.
pub struct DirectionKeys {
    secret: [u8; 32],
    salt: Vec<u8>,
    epoch_log2: u8,
    epochs: Vec<OnceLock<Box<DirectionKey>>>,
}

impl core::fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DirectionKeys(epoch 2^{} packets)", self.epoch_log2)
    }
}

impl Drop for DirectionKeys {
    fn drop(&mut self) {
        self.secret.fill(0);
    }
}

impl DirectionKeys {
    /// The keys of a direction whose split secret is `secret`.
    pub fn new(handshake_hash: &[u8], secret: &[u8; 32], epoch_log2: u8) -> DirectionKeys {
        DirectionKeys {
            secret: *secret,
            salt: handshake_hash.to_vec(),
            epoch_log2: epoch_log2.clamp(*EPOCH_LOG2_RANGE.start(), *EPOCH_LOG2_RANGE.end()),
            epochs: (0..MAX_EPOCHS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The epoch of packet number `pn`.
    pub fn epoch_of(&self, pn: u64) -> u64 {
        pn >> self.epoch_log2
    }

    /// The key of `pn`'s epoch; `None` past [`MAX_EPOCHS`].
    pub fn key(&self, pn: u64) -> Option<&DirectionKey> {
        let e = self.epoch_of(pn);
        let slot = self.epochs.get(usize::try_from(e).ok()?)?;
        Some(slot.get_or_init(|| Box::new(derive_epoch(&self.salt, &self.secret, e as u32))))
    }

    /// [`DirectionKey::seal`] under `pn`'s epoch key.
    pub fn seal(
        &self,
        nonce: (Space, u16, u64),
        header: &[u8],
        in_out: &mut [u8],
        extra_in: &[u8],
        extra_out_and_tag: &mut [u8],
    ) -> Result<(), AeadError> {
        self.key(nonce.2).ok_or(AeadError)?.seal(nonce, header, in_out, extra_in, extra_out_and_tag)
    }

    /// [`DirectionKey::open`] under `pn`'s epoch key.
    pub fn open(&self, nonce: (Space, u16, u64), header: &[u8], in_out: &mut [u8]) -> Result<usize, AeadError> {
        self.key(nonce.2).ok_or(AeadError)?.open(nonce, header, in_out)
    }
}

/// Both directions' keys of one session, from this end's point of view.
#[derive(Debug)]
pub struct SessionKeys {
    /// What this end seals with.
    pub tx: DirectionKeys,
    /// What this end opens with.
    pub rx: DirectionKeys,
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 (RFC 5869): extract with `salt` from `secret`, expand with `info` into `out`.
pub fn hkdf_sha256(salt: &[u8], secret: &[u8], info: &[u8], out: &mut [u8]) {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(secret);
    let infos = [info];
    prk.expand(&infos, Len(out.len())).and_then(|okm| okm.fill(out)).expect("HKDF-SHA256 output of at most 255 blocks");
}

/// One direction's key and IV of epoch `epoch` from its Noise split secret, salted with
/// the handshake hash; the info is the label followed by the epoch (u32, big-endian).
pub fn derive_epoch(handshake_hash: &[u8], secret: &[u8; 32], epoch: u32) -> DirectionKey {
    let mut key = [0u8; 32];
    let mut iv = [0u8; NONCE_LEN];
    let info = |label: &[u8]| [label, &epoch.to_be_bytes()[..]].concat();
    hkdf_sha256(handshake_hash, secret, &info(KEY_LABEL), &mut key);
    hkdf_sha256(handshake_hash, secret, &info(IV_LABEL), &mut iv);
    let k = DirectionKey::new(&key, iv);
    key.fill(0);
    k
}

fn prologue(session_id: u64, hello_body: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(PROLOGUE_LABEL.len() + 1 + 8 + hello_body.len());
    p.extend_from_slice(PROLOGUE_LABEL);
    p.push(crate::wire::VERSION);
    p.extend_from_slice(&session_id.to_be_bytes());
    p.extend_from_slice(hello_body);
    p
}

fn builder<'a>(psk: &'a Psk, prologue: &'a [u8]) -> Result<snow::Builder<'a>, HandshakeError> {
    let params = NOISE_PATTERN.parse().map_err(|_| HandshakeError::State)?;
    snow::Builder::new(params).psk(0, psk.bytes()).and_then(|b| b.prologue(prologue)).map_err(|_| HandshakeError::State)
}

fn split(hs: &mut snow::HandshakeState, initiator: bool, epoch_log2: u8) -> SessionKeys {
    let hash = hs.get_handshake_hash().to_vec();
    let (mut i2r, mut r2i) = hs.dangerously_get_raw_split();
    let (a, b) = (DirectionKeys::new(&hash, &i2r, epoch_log2), DirectionKeys::new(&hash, &r2i, epoch_log2));
    i2r.fill(0);
    r2i.fill(0);
    if initiator {
        SessionKeys { tx: a, rx: b }
    } else {
        SessionKeys { tx: b, rx: a }
    }
}

/// The sender's half of the handshake, between HELLO and HELLO-ACK.
pub struct Initiator {
    hs: snow::HandshakeState,
    message: [u8; HELLO_HANDSHAKE_LEN],
    epoch_log2: u8,
}

impl core::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Initiator(..)")
    }
}

impl Initiator {
    /// Starts the handshake of session `session_id` whose HELLO body is `hello_body`; the
    /// session's keys change every 2^`epoch_log2` packets (the HELLO announces it).
    pub fn new(psk: &Psk, session_id: u64, hello_body: &[u8], epoch_log2: u8) -> Result<Initiator, HandshakeError> {
        let p = prologue(session_id, hello_body);
        let mut hs = builder(psk, &p)?.build_initiator().map_err(|_| HandshakeError::State)?;
        let mut message = [0u8; HELLO_HANDSHAKE_LEN];
        let n = hs.write_message(&[], &mut message).map_err(|_| HandshakeError::State)?;
        if n != HELLO_HANDSHAKE_LEN {
            return Err(HandshakeError::State);
        }
        Ok(Initiator { hs, message, epoch_log2 })
    }

    /// Noise message 1, for the HELLO (the same bytes in every retransmission).
    pub fn message(&self) -> &[u8; HELLO_HANDSHAKE_LEN] {
        &self.message
    }

    /// Reads message 2 from the HELLO-ACK: the session's keys and the authenticated
    /// HELLO-ACK body (its first 16 bytes; 64 with a resume point). After a failure the
    /// handshake cannot complete (the session fails).
    pub fn finish(&mut self, message: &[u8]) -> Result<(SessionKeys, AckPayload), HandshakeError> {
        if message.len() < HELLO_ACK_HANDSHAKE_LEN || message.len() > hello_ack_handshake_len(HELLO_ACK_PAYLOAD_MAX) {
            return Err(HandshakeError::Malformed);
        }
        let mut payload = [0u8; hello_ack_handshake_len(HELLO_ACK_PAYLOAD_MAX)];
        let n = self.hs.read_message(message, &mut payload).map_err(|_| HandshakeError::WrongKey)?;
        if !(HELLO_ACK_PAYLOAD_LEN..=HELLO_ACK_PAYLOAD_MAX).contains(&n) || !self.hs.is_handshake_finished() {
            return Err(HandshakeError::Malformed);
        }
        let mut body = AckPayload { len: n, bytes: [0u8; HELLO_ACK_PAYLOAD_MAX] };
        body.bytes[..n].copy_from_slice(&payload[..n]);
        Ok((split(&mut self.hs, true, self.epoch_log2), body))
    }
}

/// The authenticated HELLO-ACK body read from message 2.
#[derive(Debug, Clone, Copy)]
pub struct AckPayload {
    len: usize,
    bytes: [u8; HELLO_ACK_PAYLOAD_MAX],
}

impl AckPayload {
    /// The body's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The receiver's answer to a HELLO that verified: the keys (epochs of 2^`epoch_log2`
/// packets, as the HELLO announced), and message 2 for the HELLO-ACK, whose payload is
/// `hello_ack_body` (16 bytes, or up to [`HELLO_ACK_PAYLOAD_MAX`]).
pub fn respond(
    psk: &Psk,
    (session_id, epoch_log2): (u64, u8),
    hello_body: &[u8],
    message: &[u8],
    hello_ack_body: &[u8],
) -> Result<(SessionKeys, Message2), HandshakeError> {
    if message.len() != HELLO_HANDSHAKE_LEN || hello_ack_body.len() > HELLO_ACK_PAYLOAD_MAX {
        return Err(HandshakeError::Malformed);
    }
    let p = prologue(session_id, hello_body);
    let mut hs = builder(psk, &p)?.build_responder().map_err(|_| HandshakeError::State)?;
    let mut scratch = [0u8; HELLO_HANDSHAKE_LEN];
    hs.read_message(message, &mut scratch).map_err(|_| HandshakeError::WrongKey)?;
    let mut reply = [0u8; hello_ack_handshake_len(HELLO_ACK_PAYLOAD_MAX)];
    let n = hs.write_message(hello_ack_body, &mut reply).map_err(|_| HandshakeError::State)?;
    if n != hello_ack_handshake_len(hello_ack_body.len()) || !hs.is_handshake_finished() {
        return Err(HandshakeError::State);
    }
    let reply = Message2::from_slice(&reply[..n], hello_ack_body.len()).ok_or(HandshakeError::State)?;
    Ok((split(&mut hs, false, epoch_log2), reply))
}

/// Sliding replay window over one number space: the largest number seen and a bitmap of
/// the [`ReplayWindow::WIDTH`] below it. Numbers older than the window are refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    /// One more than the largest number accepted (0: none yet).
    top: u64,
    /// Bit i: number `top - 1 - i` was accepted.
    seen: u128,
}

impl ReplayWindow {
    /// Numbers the window remembers below the largest.
    pub const WIDTH: u64 = 128;

    /// Accepts `pn` (and records it) unless it was seen or is too old. Call only for
    /// packets whose tag verified.
    pub fn accept(&mut self, pn: u64) -> bool {
        if pn == u64::MAX {
            return false;
        }
        if pn >= self.top {
            let shift = pn + 1 - self.top;
            self.seen = if shift >= Self::WIDTH { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.top = pn + 1;
            return true;
        }
        let back = self.top - 1 - pn;
        if back >= Self::WIDTH {
            return false;
        }
        let bit = 1u128 << back;
        if self.seen & bit != 0 {
            return false;
        }
        self.seen |= bit;
        true
    }
}

/// Answered HELLOs a receiver holds keys for, waiting for the sender's first sealed
/// packet (at most this many; the oldest goes first).
pub const MAX_PENDING: usize = 4;

/// The key material one endpoint's lanes share: the pre-shared key (if any), the keys
/// of the session once established, and (receiver) answered HELLOs not yet confirmed.
/// Written only by session control; the lanes read it to seal and open.
#[derive(Debug, Default)]
pub struct Keyring {
    psk: Option<Psk>,
    session: OnceLock<(u64, Arc<SessionKeys>)>,
    pending: Mutex<Vec<(u64, Arc<SessionKeys>)>>,
}

impl Keyring {
    /// A keyring for `psk`; `None` makes an unauthenticated endpoint.
    pub fn new(psk: Option<Psk>) -> Keyring {
        Keyring { psk, ..Default::default() }
    }

    /// Whether this endpoint has a key (and so seals everything after the handshake).
    pub fn keyed(&self) -> bool {
        self.psk.is_some()
    }

    /// The pre-shared key.
    pub fn psk(&self) -> Option<&Psk> {
        self.psk.as_ref()
    }

    /// The established session's keys, if `session` is it.
    pub fn session(&self, session: u64) -> Option<&SessionKeys> {
        self.session.get().filter(|(s, _)| *s == session).map(|(_, k)| &**k)
    }

    /// Whether a session's keys are established.
    pub fn established(&self) -> bool {
        self.session.get().is_some()
    }

    /// Makes `keys` the session's (once; later calls change nothing).
    pub fn establish(&self, session: u64, keys: Arc<SessionKeys>) {
        let _ = self.session.set((session, keys));
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Keeps the keys of an answered HELLO until its sender's first sealed packet.
    pub fn add_pending(&self, session: u64, keys: Arc<SessionKeys>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.retain(|(s, _)| *s != session);
        if p.len() >= MAX_PENDING {
            p.remove(0);
        }
        p.push((session, keys));
    }

    /// The keys of an answered, unconfirmed HELLO of `session`.
    pub fn pending(&self, session: u64) -> Option<Arc<SessionKeys>> {
        let p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.iter().find(|(s, _)| *s == session).map(|(_, k)| k.clone())
    }
}

#[cfg(test)]
mod tests;
