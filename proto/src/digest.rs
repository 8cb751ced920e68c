//! End-to-end stream digest (XXH3-128 by default, BLAKE3 on request).
//!
//! Computed where the bytes are: the sender's reader as it fills chunks, the receiver's
//! writer as it delivers them. The protocol core only compares the final values.

use crate::wire::{DigestAlgorithm, ResumeRepr};

/// An incremental digest over the stream bytes in order.
#[derive(Clone)]
pub enum StreamDigest {
    /// XXH3-128 streaming state (boxed: the state is ~600 bytes).
    Xxh3(Box<xxhash_rust::xxh3::Xxh3>),
    /// BLAKE3 hasher.
    Blake3(Box<blake3::Hasher>),
    /// No digest: updates cost nothing, the value is all zeros.
    None,
}

impl core::fmt::Debug for StreamDigest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            StreamDigest::Xxh3(_) => "StreamDigest::Xxh3",
            StreamDigest::Blake3(_) => "StreamDigest::Blake3",
            StreamDigest::None => "StreamDigest::None",
        })
    }
}

impl StreamDigest {
    /// A fresh digest of the given kind.
    pub fn new(alg: DigestAlgorithm) -> Self {
        match alg {
            DigestAlgorithm::Xxh3_128 => StreamDigest::Xxh3(Box::default()),
            DigestAlgorithm::Blake3 => StreamDigest::Blake3(Box::default()),
            DigestAlgorithm::None => StreamDigest::None,
        }
    }

    /// Which algorithm this is.
    pub fn algorithm(&self) -> DigestAlgorithm {
        match self {
            StreamDigest::Xxh3(_) => DigestAlgorithm::Xxh3_128,
            StreamDigest::Blake3(_) => DigestAlgorithm::Blake3,
            StreamDigest::None => DigestAlgorithm::None,
        }
    }

    /// Feeds the next bytes of the stream.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            StreamDigest::Xxh3(h) => h.update(bytes),
            StreamDigest::Blake3(h) => {
                h.update(bytes);
            }
            StreamDigest::None => {}
        }
    }

    /// The digest so far, in the FIN's 32-byte field (XXH3-128 big-endian in the first
    /// 16 bytes, zero after).
    pub fn finish(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        match self {
            StreamDigest::Xxh3(h) => out[..16].copy_from_slice(&h.digest128().to_be_bytes()),
            StreamDigest::Blake3(h) => out.copy_from_slice(h.finalize().as_bytes()),
            StreamDigest::None => {}
        }
        out
    }
}

/// The digests of the bytes a resuming receiver's output already holds, in each
/// algorithm a sender may ask for: the receiver hashes its output once, before it
/// listens, since the HELLO that names the algorithm must be answered at once.
#[derive(Clone, Debug)]
pub struct PrefixDigest {
    len: u64,
    xxh3: StreamDigest,
    blake3: StreamDigest,
}

impl Default for PrefixDigest {
    fn default() -> Self {
        PrefixDigest {
            len: 0,
            xxh3: StreamDigest::new(DigestAlgorithm::Xxh3_128),
            blake3: StreamDigest::new(DigestAlgorithm::Blake3),
        }
    }
}

impl PrefixDigest {
    /// Feeds the next bytes of the prefix.
    pub fn update(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        self.xxh3.update(bytes);
        self.blake3.update(bytes);
    }

    /// Bytes hashed.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was hashed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The algorithm that checks the prefix of a session whose stream digest is `alg`:
    /// the same one, or XXH3-128 when the session has none.
    pub fn check_algorithm(alg: DigestAlgorithm) -> DigestAlgorithm {
        match alg {
            DigestAlgorithm::None => DigestAlgorithm::Xxh3_128,
            a => a,
        }
    }

    /// The stream digest of a session in `alg`, seeded with the prefix, so the FIN's
    /// digest covers the whole stream.
    pub fn stream_state(&self, alg: DigestAlgorithm) -> StreamDigest {
        match alg {
            DigestAlgorithm::Xxh3_128 => self.xxh3.clone(),
            DigestAlgorithm::Blake3 => self.blake3.clone(),
            DigestAlgorithm::None => StreamDigest::None,
        }
    }

    /// The resume point the HELLO-ACK carries to a sender whose stream digest is `alg`.
    pub fn point(&self, alg: DigestAlgorithm) -> ResumeRepr {
        let check = Self::check_algorithm(alg);
        ResumeRepr { len: self.len, algorithm: check, digest: self.stream_state(check).finish() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for alg in [DigestAlgorithm::Xxh3_128, DigestAlgorithm::Blake3] {
            let mut a = StreamDigest::new(alg);
            for c in data.chunks(1000) {
                a.update(c);
            }
            let mut b = StreamDigest::new(alg);
            b.update(&data);
            assert_eq!(a.finish(), b.finish());
            let mut c = StreamDigest::new(alg);
            c.update(&data[1..]);
            assert_ne!(a.finish(), c.finish());
        }
        let mut x = StreamDigest::new(DigestAlgorithm::Xxh3_128);
        x.update(&data);
        assert_eq!(&x.finish()[..16], &xxhash_rust::xxh3::xxh3_128(&data).to_be_bytes());
    }
}
