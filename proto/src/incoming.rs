//! One received datagram, checked and parsed once.
//!
//! A multi-lane driver must know, before it hands a datagram to anyone, which lane
//! handles it: the path's lane for per-path traffic, the control lane for the rest. That
//! decision needs the packet type and path id, and it must not be made on unchecked
//! bytes (a corrupt header would route garbage). So the driver parses once, here, and
//! the same [`Incoming`] then serves the routing ([`Incoming::sender_route`],
//! [`Incoming::receiver_route`]) and the protocol (`handle_incoming` on [`crate::Sender`],
//! [`crate::SenderLane`], [`crate::Receiver`] and [`crate::ReceiverLane`]).

use core::ops::Range;

use crate::crypto::{Keyring, Space, TAG_LEN};
use crate::stats::DropReason;
use crate::wire::{Check, Frame, HeaderRepr, Packet, PacketType, Repr, HEADER_LEN};

/// A datagram that passed every wire check (magic, version, type, CRC32C or AEAD tag,
/// body shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// Its meaning.
    pub repr: Repr,
    /// Where its payload (DATA only; empty otherwise) lies in the datagram.
    pub payload: Range<usize>,
    /// Opened under the session keys (its tag verified); only [`Incoming::open`] sets it.
    authenticated: bool,
}

/// Which part of an endpoint handles an [`Incoming`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Per-path traffic: the lane that drives this path.
    Path(u16),
    /// Session control (handshake, close, reset): the lane that holds the session.
    Control,
}

impl Incoming {
    /// Checks and parses `datagram`, which must carry a CRC32C. The error is the drop
    /// reason to count.
    pub fn parse(datagram: &[u8]) -> Result<Incoming, DropReason> {
        Self::parse_with(datagram, Check::Crc32c)
    }

    /// [`Incoming::parse`] under the receiving link's check policy ([`Check::Off`]
    /// accepts a packet sent without the CRC32C; a CRC that is present is verified).
    pub fn parse_with(datagram: &[u8], check: Check) -> Result<Incoming, DropReason> {
        let packet = Packet::new_checked(datagram)?;
        let repr = Repr::parse_with(&packet, check)?;
        if repr.header.flags.sealed() {
            return Err(DropReason::Unauthenticated);
        }
        Ok(Incoming { repr, payload: packet.payload_range(), authenticated: false })
    }

    /// Checks and parses `datagram` at an endpoint whose keys are in `keyring`. Without a
    /// key this is [`Incoming::parse_with`] (a sealed packet is refused as
    /// `Unauthenticated`). With a key, HELLO and HELLO-ACK are checked as usual (their
    /// handshake authenticates them) and every other packet must be sealed under the
    /// session's keys (a CONFIRM: under an answered HELLO's): it is opened **in place**
    /// (the payload range then holds plaintext) and refused as `Unauthenticated` if its
    /// tag does not verify. Never panics on hostile input.
    pub fn open(datagram: &mut [u8], check: Check, keyring: &Keyring) -> Result<Incoming, DropReason> {
        if !keyring.keyed() {
            return Self::parse_with(datagram, check);
        }
        let packet = Packet::new_checked(&*datagram)?;
        let header = HeaderRepr::parse(&packet)?;
        let kind = header.packet_type;
        if matches!(kind, PacketType::Hello | PacketType::HelloAck) && !header.flags.sealed() {
            return Self::parse_with(datagram, check);
        }
        if !header.flags.sealed() {
            return Err(DropReason::Unauthenticated);
        }
        let pending;
        let keys = match keyring.session(header.session_id) {
            Some(k) => k,
            None if kind == PacketType::Confirm => {
                pending = keyring.pending(header.session_id).ok_or(DropReason::WrongSession)?;
                &*pending
            }
            None => return Err(DropReason::WrongSession),
        };
        let len = header.length as usize;
        if len < TAG_LEN {
            return Err(DropReason::Unauthenticated);
        }
        let (h, rest) = datagram.split_at_mut(HEADER_LEN);
        let nonce = (Space::of(kind), header.path_id, header.packet_number);
        let plain = keys.rx.open(nonce, h, &mut rest[..len]).map_err(|_| DropReason::Unauthenticated)?;
        let frame = Frame::parse(kind, &rest[..plain])?;
        Ok(Incoming { repr: Repr { header, frame }, payload: HEADER_LEN..HEADER_LEN + plain, authenticated: true })
    }

    /// Whether it was sealed and its tag verified under the session keys.
    #[inline]
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// Its header.
    #[inline]
    pub fn header(&self) -> &HeaderRepr {
        &self.repr.header
    }

    /// Its packet type.
    #[inline]
    pub fn packet_type(&self) -> PacketType {
        self.repr.header.packet_type
    }

    /// Who handles it at a sender: ACKs go to their path's lane, the rest is control.
    pub fn sender_route(&self) -> Route {
        match self.repr.frame {
            Frame::Ack(_) => Route::Path(self.repr.header.path_id),
            _ => Route::Control,
        }
    }

    /// Who handles it at a receiver: DATA and PING go to their path's lane, the rest is
    /// control.
    pub fn receiver_route(&self) -> Route {
        match self.repr.frame {
            Frame::Data | Frame::Ping | Frame::Zeros(_) => Route::Path(self.repr.header.path_id),
            _ => Route::Control,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{AckRanges, AckRepr, Flags};

    fn header(packet_type: PacketType, path_id: u16, length: u16) -> HeaderRepr {
        HeaderRepr {
            packet_type,
            flags: Flags::empty(),
            path_id,
            session_id: 9,
            packet_number: 1,
            offset: 0,
            length,
            timestamp: 0,
            timestamp_echo: 0,
        }
    }

    fn emit(repr: &Repr, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; repr.buffer_len() + payload.len()];
        let n = repr.emit(&mut buf, payload);
        buf[n..].copy_from_slice(payload);
        buf
    }

    #[test]
    fn data_routes_to_its_path_at_a_receiver_and_is_control_at_a_sender() {
        let repr = Repr { header: header(PacketType::Data, 5, 3), frame: Frame::Data };
        let bytes = emit(&repr, b"abc");
        let inc = Incoming::parse(&bytes).unwrap();
        assert_eq!(&bytes[inc.payload.clone()], b"abc");
        assert_eq!(inc.receiver_route(), Route::Path(5));
        assert_eq!(inc.sender_route(), Route::Control);
    }

    #[test]
    fn acks_route_to_their_path_at_a_sender() {
        let mut ranges = AckRanges::new();
        ranges.push(0, 3);
        let ack = AckRepr { ranges, ack_delay: 0, delivered: 0, max_offset: 0 };
        let frame = Frame::Ack(Box::new(ack));
        let repr = Repr { header: header(PacketType::Ack, 2, frame.body_len() as u16), frame };
        let inc = Incoming::parse(&emit(&repr, &[])).unwrap();
        assert_eq!(inc.sender_route(), Route::Path(2));
        assert_eq!(inc.receiver_route(), Route::Control);
    }

    #[test]
    fn a_flipped_bit_is_refused_before_anyone_routes_it() {
        let repr = Repr { header: header(PacketType::Ping, 1, 0), frame: Frame::Ping };
        let mut bytes = emit(&repr, &[]);
        bytes[7] ^= 1; // the path id
        assert_eq!(Incoming::parse(&bytes), Err(DropReason::BadChecksum));
        assert_eq!(Incoming::parse(&bytes[..10]).map(|_| ()), Err(DropReason::Truncated));
    }
}
