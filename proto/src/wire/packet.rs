//! [`Packet`]: the view over a stripecat packet's bytes (header accessors, length
//! check, checksum fill and verify).

use super::*;

/// A read/write view of a stripecat packet: the header and whatever follows it.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// The big-endian header fields, each with its getter and its setter: one list,
/// so a field cannot gain one and miss the other.
macro_rules! be_fields {
    ($(($get:ident, $set:ident, $field:ident, $ty:ty, $doc:literal)),* $(,)?) => {
        impl<T: AsRef<[u8]>> Packet<T> {
            $(
                #[doc = concat!("Reads ", $doc)]
                #[inline]
                pub fn $get(&self) -> $ty {
                    let b = &self.buffer.as_ref()[field::$field];
                    <$ty>::from_be_bytes(b.try_into().unwrap_or_default())
                }
            )*
        }
        impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
            $(
                #[doc = concat!("Writes ", $doc)]
                #[inline]
                pub fn $set(&mut self, value: $ty) {
                    self.buffer.as_mut()[field::$field].copy_from_slice(&value.to_be_bytes());
                }
            )*
        }
    };
}

be_fields! {
    (magic, set_magic, MAGIC, u16, "the magic number."),
    (path_id, set_path_id, PATH, u16, "the path id."),
    (session_id, set_session_id, SESSION, u64, "the session id."),
    (packet_number, set_packet_number, PACKET_NUMBER, u64, "the packet number."),
    (offset, set_offset, OFFSET, u64, "the stream offset (DATA)."),
    (length, set_length, LENGTH, u16, "the length of payload or body."),
    (timestamp, set_timestamp, TIMESTAMP, u32, "the sender timestamp, µs, low 32 bits."),
    (timestamp_echo, set_timestamp_echo, TIMESTAMP_ECHO, u32, "the echoed peer timestamp."),
    (checksum, set_checksum, CHECKSUM, u32, "the CRC32C field."),
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps bytes without checking them. Accessors may panic unless
    /// [`Packet::check_len`] succeeds; use this only on buffers you sized yourself.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps untrusted bytes: checks that the header and the declared length fit.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the header fits and that the declared length fits after it.
    /// Trailing bytes (e.g. Ethernet padding) are allowed and ignored.
    pub fn check_len(&self) -> Result<(), WireError> {
        let have = self.buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(WireError::Truncated { have, need: HEADER_LEN });
        }
        let need = HEADER_LEN + self.length() as usize;
        if have < need {
            return Err(WireError::Truncated { have, need });
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Protocol version byte.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// Raw packet type byte.
    #[inline]
    pub fn packet_type_raw(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Raw flags byte.
    #[inline]
    pub fn flags_raw(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The header bytes.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN]
    }

    /// What follows the header, exactly `length()` bytes.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + self.length() as usize]
    }

    /// The byte range of the payload inside the buffer, for zero-copy narrowing.
    #[inline]
    pub fn payload_range(&self) -> core::ops::Range<usize> {
        HEADER_LEN..HEADER_LEN + self.length() as usize
    }

    /// Verifies the CRC32C over header and payload when both are in this buffer.
    pub fn verify_checksum(&self) -> bool {
        verify_checksum(self.header(), self.payload())
    }

    /// Applies the receiving link's check policy: see [`verify_check`].
    pub fn verify_check(&self, policy: Check) -> Result<(), WireError> {
        verify_check(self.header(), self.payload(), policy)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version byte.
    pub fn set_version(&mut self, v: u8) {
        self.buffer.as_mut()[field::VERSION] = v;
    }

    /// Sets the type byte.
    pub fn set_packet_type(&mut self, t: PacketType) {
        self.buffer.as_mut()[field::TYPE] = t as u8;
    }

    /// Sets the flags byte.
    pub fn set_flags_raw(&mut self, f: u8) {
        self.buffer.as_mut()[field::FLAGS] = f;
    }

    /// Zeroes the reserved bytes.
    pub fn clear_reserved(&mut self) {
        let b = self.buffer.as_mut();
        b[field::RESERVED0] = 0;
        b[field::RESERVED1].fill(0);
    }

    /// Mutable access to the body following the header (`length()` bytes).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.length() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..HEADER_LEN + len]
    }

    /// Computes and stores the CRC32C when the payload is in this buffer.
    pub fn fill_checksum(&mut self) {
        let len = self.length() as usize;
        let (h, p) = self.buffer.as_mut().split_at_mut(HEADER_LEN);
        fill_checksum(h, &p[..len]);
    }
}
