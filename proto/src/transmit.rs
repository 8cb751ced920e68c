//! What `poll_transmit` hands the driver.

use crate::crypto::{AeadError, Keyring};
use crate::payload::Payload;
use crate::wire::{HeaderRepr, LinkCheck, Repr, HEADER_LEN};

/// One packet to send: which path, the header and body to write, and the payload
/// handle to attach after them (DATA only).
///
/// The driver writes [`Transmit::emit`]'s bytes into its buffer (for DATA: the mbuf
/// headroom, exactly [`HEADER_LEN`] bytes) and chains or follows them with `payload`.
#[derive(Debug, Clone)]
pub struct Transmit<B> {
    /// Path (member link) to send on.
    pub path: u16,
    /// Header and typed body.
    pub repr: Repr,
    /// DATA payload, carried by handle (never copied by the core).
    pub payload: Option<B>,
    /// Datagram length to pad to with zeros after header and payload (a path-MTU probe:
    /// see [`crate::config::PathProbe`]); 0 or less than the datagram: no padding. The
    /// receiver ignores the padding (trailing bytes), so a driver that cannot pad may
    /// send the datagram as it is, but then the probe proves nothing.
    pub pad_to: u16,
}

impl<B: Payload> Transmit<B> {
    /// Bytes [`Transmit::emit`] writes: the header plus any control body.
    pub fn header_len(&self) -> usize {
        self.repr.buffer_len()
    }

    /// Total datagram length: header, body and payload (without padding).
    pub fn wire_len(&self) -> usize {
        self.header_len() + self.payload.as_ref().map_or(0, |p| p.as_ref().len())
    }

    /// Zero bytes the driver appends after the datagram ([`Transmit::pad_to`]).
    pub fn padding(&self) -> usize {
        (self.pad_to as usize).saturating_sub(self.wire_len())
    }

    /// Writes header and body into `buf` (at least [`Transmit::header_len`] bytes) and
    /// fills the CRC32C over them and the payload. Returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let payload: &[u8] = self.payload.as_ref().map_or(&[], |p| p.as_ref());
        self.repr.emit(buf, payload)
    }

    /// [`Transmit::emit`] on a link in state `link` (see [`Repr::emit_with`]: without the
    /// CRC the payload is not read).
    pub fn emit_with(&self, buf: &mut [u8], link: LinkCheck) -> usize {
        let payload: &[u8] = self.payload.as_ref().map_or(&[], |p| p.as_ref());
        self.repr.emit_with(buf, payload, link)
    }

    /// Whether the protocol asks for this packet to be sealed (a keyed session's packets
    /// after the handshake): send it with [`Transmit::seal`], never `emit`.
    pub fn is_sealed(&self) -> bool {
        self.repr.header.flags.sealed()
    }

    /// Bytes [`Transmit::seal`] writes: header, body, payload and tag.
    pub fn sealed_len(&self) -> usize {
        self.repr.sealed_len(self.payload.as_ref().map_or(0, |p| p.as_ref().len()))
    }

    /// Writes the whole datagram sealed under the session's keys in `keyring` (see
    /// [`Repr::seal`]): header, encrypted body and payload, tag, in one pass over the
    /// payload, which stays plaintext where it is held (for a resend).
    pub fn seal(&self, buf: &mut [u8], keyring: &Keyring) -> Result<usize, AeadError> {
        let keys = keyring.session(self.repr.header.session_id).ok_or(AeadError)?;
        let payload: &[u8] = self.payload.as_ref().map_or(&[], |p| p.as_ref());
        self.repr.seal(buf, payload, &keys.tx)
    }

    /// The whole datagram in one new vector, sealed if the protocol asks for it (the
    /// kernel driver, the simulator); `None` if it cannot be sealed (no session keys).
    pub fn to_vec_keyed(&self, keyring: &Keyring) -> Option<Vec<u8>> {
        if !self.is_sealed() {
            return Some(self.to_vec());
        }
        let mut v = vec![0u8; self.sealed_len().max(self.pad_to as usize)];
        self.seal(&mut v, keyring).ok()?;
        Some(v)
    }

    /// The whole datagram in one new vector, padded as asked (simulator, kernel sockets
    /// and tests; copies the payload).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.wire_len() + self.padding()];
        let n = self.emit(&mut v);
        if let Some(p) = &self.payload {
            v[n..n + p.as_ref().len()].copy_from_slice(p.as_ref());
        }
        v
    }

    /// The header.
    pub fn header(&self) -> &HeaderRepr {
        &self.repr.header
    }
}

/// Header length of a DATA packet, the headroom the driver reserves.
pub const DATA_HEADER_LEN: usize = HEADER_LEN;
