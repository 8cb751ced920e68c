//! Test data: the one seeded generator every test draws from, and the
//! byte-for-byte checks of what arrived.
//!
//! The same seed always gives the same bytes, so an output can be checked
//! against a regenerated input (or any prefix of it) without keeping a copy.

use std::io::Write;
use std::path::Path;

/// The 64-bit golden ratio: spreads small seeds (1, 2, 3, chunk numbers)
/// over the whole state space.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// xorshift64 (shifts 13, 7, 17): fast, incompressible enough for transfers,
/// and the same sequence on every machine. Not for anything secret.
#[derive(Debug, Clone)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// The generator for `seed`: distinct seeds give distinct streams.
    pub fn new(seed: u64) -> XorShift64 {
        XorShift64::from_state(seed.wrapping_mul(GOLDEN))
    }

    /// The generator starting at `state` as it is (a zero state would stay
    /// zero, so its low bit is set).
    pub fn from_state(state: u64) -> XorShift64 {
        XorShift64(state | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Fills `buf`, one little-endian word per 8 bytes (a short tail takes
    /// the low bytes of a whole word).
    pub fn fill(&mut self, buf: &mut [u8]) {
        for w in buf.chunks_mut(8) {
            w.copy_from_slice(&self.next_u64().to_le_bytes()[..w.len()]);
        }
    }
}

/// `len` bytes for `seed`: the same seed gives the same bytes, so any
/// prefix can be checked.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    XorShift64::new(seed).fill(&mut data);
    data
}

/// Writes [`random_bytes`]`(len, seed)` to `path`, 64 KiB at a time (so a
/// file far larger than memory costs nothing).
pub fn random_file(path: &Path, len: usize, seed: u64) {
    let mut rng = XorShift64::new(seed);
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display())),
    );
    let mut buf = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        rng.fill(&mut buf[..n]);
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
}

/// The chunk size of the fed stream ([`stream_chunk`]).
pub const FEED_CHUNK: usize = 1 << 20;

/// Chunk `k` of the endless stream for `seed`, each chunk a generator of its
/// own, so any chunk can be made (and checked) without the ones before it.
pub fn stream_chunk(seed: u64, k: u64) -> Vec<u8> {
    let mut v = vec![0u8; FEED_CHUNK];
    XorShift64::from_state(seed ^ k.wrapping_mul(GOLDEN)).fill(&mut v);
    v
}

/// Asserts `out` holds exactly the first `len(out)` bytes of the stream.
pub fn assert_stream_prefix(out: &Path, seed: u64) {
    let got = std::fs::read(out).unwrap();
    for (k, part) in got.chunks(FEED_CHUNK).enumerate() {
        let want = stream_chunk(seed, k as u64);
        if part != &want[..part.len()] {
            let first = first_difference(part, &want);
            panic!(
                "{} ({} bytes) is not a prefix of the input: chunk {k} differs at {first:?}",
                out.display(),
                got.len()
            );
        }
    }
}

/// Where two byte strings first differ (`None` when one is a prefix of the other).
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(p, q)| p != q)
}

/// Asserts `got` (what `what` holds) equals `want`, naming the lengths and
/// the first difference.
pub fn assert_same_bytes(what: &str, got: &[u8], want: &[u8]) {
    if got != want {
        panic!(
            "{what} ({} bytes) differs from the expected {} bytes; first difference at {:?}",
            got.len(),
            want.len(),
            first_difference(got, want)
        );
    }
}

/// Asserts two files are byte-identical, naming the first difference.
pub fn assert_same_file(a: &Path, b: &Path) {
    let x = std::fs::read(a).unwrap();
    let y = std::fs::read(b).unwrap();
    if x != y {
        panic!(
            "{} ({} bytes) and {} ({} bytes) differ; first difference at {:?}",
            a.display(),
            x.len(),
            b.display(),
            y.len(),
            first_difference(&x, &y)
        );
    }
}
