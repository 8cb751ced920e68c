//! Seeded, deterministic datagram impairment: `--impair loss=1%,reorder=2%,dup=0.5%,corrupt=0.1%,seed=7`.
//!
//! Lossy links are where a striping protocol earns its keep, and they are not
//! reproducible on demand; this module makes them so. It is transport-neutral:
//! [`Injector::fate`] decides what happens to *one outgoing datagram* from its
//! length alone, so the kernel UDP loop and the DPDK port boundary (deciding per
//! mbuf, without copying) use the same code and, under the same seed and the
//! same datagram sequence, make the same decisions. [`Impairer`] adds the
//! bookkeeping a datagram owner needs (holding packets back to reorder them).
//!
//! # Grammar
//! ```text
//! spec   := "" | "none" | item ("," item)*
//! item   := ("loss" | "reorder" | "dup" | "corrupt") "=" rate
//!         | "seed" "=" u64
//! rate   := decimal ["%"]           a percentage; the "%" is optional (loss=1 is 1%)
//! ```
//! Each key at most once; each rate in 0..=100 and their sum at most 100 (one
//! fate per datagram, so the rates are exact, not compounded). `seed` defaults
//! to 1. Spaces around items are ignored.
//!
//! # Fates
//! * loss: not sent;
//! * dup: sent twice;
//! * reorder: held back and sent after the next 1 to 3 datagrams (or at the
//!   next [`Impairer::flush`] when the sender goes idle);
//! * corrupt: one bit flipped at a uniformly random position.

use std::fmt;

use thiserror::Error;

/// What is wrong with an `--impair` SPEC.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ImpairError {
    /// An item is not `key=value`.
    #[error("{0:?} is not key=value (e.g. loss=1%)")]
    NotKeyValue(String),
    /// The key is not one of loss, reorder, dup, corrupt, seed.
    #[error("unknown key {0:?} (use loss, reorder, dup, corrupt, seed)")]
    UnknownKey(String),
    /// The same key twice.
    #[error("{0} given twice")]
    Duplicate(String),
    /// A rate that is not a number in 0..=100.
    #[error("{key}={value:?} is not a percentage between 0 and 100")]
    BadRate { key: String, value: String },
    /// A seed that is not an unsigned 64-bit integer.
    #[error("seed={0:?} is not an unsigned integer")]
    BadSeed(String),
    /// The rates add up to more than 100%.
    #[error("the rates add up to {0}%, more than 100%")]
    TooMuch(f64),
}

/// A parsed `--impair` SPEC: fractions in 0..=1 and the seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    pub loss: f64,
    pub reorder: f64,
    pub dup: f64,
    pub corrupt: f64,
    pub seed: u64,
}

impl Default for Impairment {
    fn default() -> Impairment {
        Impairment { loss: 0.0, reorder: 0.0, dup: 0.0, corrupt: 0.0, seed: 1 }
    }
}

impl Impairment {
    /// Parses the grammar in the module documentation.
    pub fn parse(spec: &str) -> Result<Impairment, ImpairError> {
        let mut out = Impairment::default();
        let mut seen: Vec<String> = Vec::new();
        let spec = spec.trim();
        if spec.is_empty() || spec.eq_ignore_ascii_case("none") {
            return Ok(out);
        }
        for item in spec.split(',').map(str::trim) {
            let (key, value) = item.split_once('=').ok_or_else(|| ImpairError::NotKeyValue(item.to_string()))?;
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            if seen.contains(&key) {
                return Err(ImpairError::Duplicate(key));
            }
            let slot = match key.as_str() {
                "loss" => &mut out.loss,
                "reorder" => &mut out.reorder,
                "dup" => &mut out.dup,
                "corrupt" => &mut out.corrupt,
                "seed" => {
                    out.seed = value.parse().map_err(|_| ImpairError::BadSeed(value.to_string()))?;
                    seen.push(key);
                    continue;
                }
                _ => return Err(ImpairError::UnknownKey(key)),
            };
            let bad = || ImpairError::BadRate { key: key.clone(), value: value.to_string() };
            let pct: f64 = value.strip_suffix('%').unwrap_or(value).trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&pct) {
                return Err(bad());
            }
            *slot = pct / 100.0;
            seen.push(key);
        }
        let total = out.loss + out.reorder + out.dup + out.corrupt;
        if total > 1.0 + 1e-12 {
            return Err(ImpairError::TooMuch((total * 1e4).round() / 100.0));
        }
        Ok(out)
    }

    /// Whether any datagram can be affected.
    pub fn is_active(&self) -> bool {
        self.loss + self.reorder + self.dup + self.corrupt > 0.0
    }
}

impl fmt::Display for Impairment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "loss={}%,reorder={}%,dup={}%,corrupt={}%,seed={}",
            self.loss * 100.0,
            self.reorder * 100.0,
            self.dup * 100.0,
            self.corrupt * 100.0,
            self.seed
        )
    }
}

/// What happens to one outgoing datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Send it unchanged.
    Send,
    /// Do not send it.
    Drop,
    /// Send it twice.
    Duplicate,
    /// Hold it back and send it after `after` more datagrams have gone out.
    Hold { after: u8 },
    /// XOR `mask` (one bit) into byte `byte`, then send it.
    Corrupt { byte: usize, mask: u8 },
}

/// How many datagrams met each fate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImpairStats {
    pub seen: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub held: u64,
    pub corrupted: u64,
}

/// SplitMix64: tiny, fast, and the same sequence on every platform, which is
/// all a replayable fault injector needs.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Decides the fate of each outgoing datagram; deterministic under a seed.
#[derive(Debug, Clone)]
pub struct Injector {
    spec: Impairment,
    rng: SplitMix64,
    stats: ImpairStats,
}

impl Injector {
    pub fn new(spec: Impairment) -> Injector {
        Injector { spec, rng: SplitMix64(spec.seed), stats: ImpairStats::default() }
    }

    /// The fate of the next datagram, `len` bytes long. Exactly one random
    /// draw decides the kind (plus one for its detail), so the sequence of
    /// fates depends only on the seed and the sequence of calls.
    pub fn fate(&mut self, len: usize) -> Fate {
        self.stats.seen += 1;
        let s = self.spec;
        let u = self.rng.unit();
        if u < s.loss {
            self.stats.dropped += 1;
            Fate::Drop
        } else if u < s.loss + s.dup {
            self.stats.duplicated += 1;
            Fate::Duplicate
        } else if u < s.loss + s.dup + s.reorder {
            self.stats.held += 1;
            Fate::Hold { after: 1 + (self.rng.next() % 3) as u8 }
        } else if u < s.loss + s.dup + s.reorder + s.corrupt && len > 0 {
            self.stats.corrupted += 1;
            let bit = self.rng.next() % (len as u64 * 8);
            Fate::Corrupt { byte: (bit / 8) as usize, mask: 1 << (bit % 8) }
        } else {
            Fate::Send
        }
    }

    pub fn stats(&self) -> ImpairStats {
        self.stats
    }

    pub fn spec(&self) -> &Impairment {
        &self.spec
    }
}

/// An [`Injector`] for a sender that owns its datagrams: applies each fate and
/// keeps the held ones until their turn.
#[derive(Debug)]
pub struct Impairer<T> {
    injector: Injector,
    held: Vec<(u8, T)>,
}

impl<T: AsMut<[u8]> + Clone> Impairer<T> {
    pub fn new(spec: Impairment) -> Impairer<T> {
        Impairer { injector: Injector::new(spec), held: Vec::new() }
    }

    /// Offers one datagram; `send` is called for every datagram that should go
    /// out now (none, this one, this one twice, and/or earlier held ones).
    pub fn push(&mut self, mut dgram: T, mut send: impl FnMut(T)) {
        let len = dgram.as_mut().len();
        let fate = self.injector.fate(len);
        let mut sent = 0u8;
        match fate {
            Fate::Send => {
                send(dgram);
                sent = 1;
            }
            Fate::Drop => {}
            Fate::Duplicate => {
                send(dgram.clone());
                send(dgram);
                sent = 2;
            }
            Fate::Hold { after } => self.held.push((after, dgram)),
            Fate::Corrupt { byte, mask } => {
                dgram.as_mut()[byte] ^= mask;
                send(dgram);
                sent = 1;
            }
        }
        if sent > 0 && !self.held.is_empty() {
            let mut i = 0;
            while i < self.held.len() {
                let left = self.held[i].0.saturating_sub(sent);
                if left == 0 {
                    send(self.held.remove(i).1);
                } else {
                    self.held[i].0 = left;
                    i += 1;
                }
            }
        }
    }

    /// Sends every held datagram (the sender is going idle: nothing would
    /// overtake them any more, and holding them longer is loss, not reorder).
    pub fn flush(&mut self, mut send: impl FnMut(T)) {
        for (_, d) in self.held.drain(..) {
            send(d);
        }
    }

    /// Whether datagrams are waiting for [`Impairer::flush`].
    pub fn has_held(&self) -> bool {
        !self.held.is_empty()
    }

    pub fn stats(&self) -> ImpairStats {
        self.injector.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let s = Impairment::parse("loss=1%,reorder=2%,dup=0.5%,corrupt=0.1%,seed=7").unwrap();
        assert_eq!(s.loss, 0.01);
        assert_eq!(s.reorder, 0.02);
        assert_eq!(s.dup, 0.005);
        assert_eq!(s.corrupt, 0.001);
        assert_eq!(s.seed, 7);
        assert_eq!(Impairment::parse(" loss = 3 ").unwrap().loss, 0.03);
        assert_eq!(Impairment::parse("none").unwrap(), Impairment::default());
        assert!(!Impairment::parse("").unwrap().is_active());
        assert_eq!(Impairment::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn rejects_bad_specs() {
        assert_eq!(Impairment::parse("loss"), Err(ImpairError::NotKeyValue("loss".into())));
        assert_eq!(Impairment::parse("jitter=1%"), Err(ImpairError::UnknownKey("jitter".into())));
        assert_eq!(Impairment::parse("loss=1%,loss=2%"), Err(ImpairError::Duplicate("loss".into())));
        assert!(matches!(Impairment::parse("loss=abc"), Err(ImpairError::BadRate { .. })));
        assert!(matches!(Impairment::parse("loss=-1"), Err(ImpairError::BadRate { .. })));
        assert!(matches!(Impairment::parse("loss=101%"), Err(ImpairError::BadRate { .. })));
        assert_eq!(Impairment::parse("seed=x"), Err(ImpairError::BadSeed("x".into())));
        assert!(matches!(Impairment::parse("loss=60,dup=50"), Err(ImpairError::TooMuch(_))));
        // The boundary itself is allowed.
        assert!(Impairment::parse("loss=50,dup=50").is_ok());
    }

    fn fates(spec: &str, n: usize) -> Vec<Fate> {
        let mut inj = Injector::new(Impairment::parse(spec).unwrap());
        (0..n).map(|_| inj.fate(1200)).collect()
    }

    #[test]
    fn same_seed_same_fates_other_seed_other_fates() {
        let spec = "loss=5%,reorder=5%,dup=5%,corrupt=5%,seed=7";
        assert_eq!(fates(spec, 10_000), fates(spec, 10_000));
        assert_ne!(fates(spec, 10_000), fates("loss=5%,reorder=5%,dup=5%,corrupt=5%,seed=8", 10_000));
        // Pinned: the first fates under seed 7 never change across releases,
        // so a failure seen in CI replays on any machine.
        let first: Vec<Fate> = fates("loss=50%,seed=7", 8);
        let pinned: Vec<Fate> = {
            let mut r = SplitMix64(7);
            (0..8).map(|_| if r.unit() < 0.5 { Fate::Drop } else { Fate::Send }).collect()
        };
        assert_eq!(first, pinned);
        assert!(first.contains(&Fate::Drop) && first.contains(&Fate::Send), "{first:?}");
    }

    #[test]
    fn rates_within_tolerance() {
        let n = 200_000u64;
        let mut inj = Injector::new(Impairment::parse("loss=1%,reorder=2%,dup=0.5%,corrupt=0.1%,seed=3").unwrap());
        for _ in 0..n {
            if let Fate::Corrupt { byte, mask } = inj.fate(100) {
                assert!(byte < 100 && mask.count_ones() == 1);
            }
        }
        let s = inj.stats();
        let near = |got: u64, rate: f64| {
            let want = rate * n as f64;
            // Five standard deviations of a binomial count.
            let tol = 5.0 * (want * (1.0 - rate)).sqrt();
            assert!((got as f64 - want).abs() <= tol, "got {got}, want {want} ± {tol}");
        };
        near(s.dropped, 0.01);
        near(s.held, 0.02);
        near(s.duplicated, 0.005);
        near(s.corrupted, 0.001);
        assert_eq!(s.seen, n);
    }

    #[test]
    fn no_impairment_is_transparent() {
        let mut imp: Impairer<Vec<u8>> = Impairer::new(Impairment::default());
        let mut out = Vec::new();
        for i in 0..1000u32 {
            imp.push(i.to_le_bytes().to_vec(), |d| out.push(d));
        }
        let want: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_le_bytes().to_vec()).collect();
        assert_eq!(out, want);
    }

    #[test]
    fn impairer_conserves_datagrams() {
        // Everything offered comes out (minus drops, plus dups), held ones
        // late but never lost, corrupted ones with exactly one bit changed.
        let mut imp: Impairer<Vec<u8>> =
            Impairer::new(Impairment::parse("loss=3%,reorder=10%,dup=3%,corrupt=3%,seed=11").unwrap());
        let mut out: Vec<Vec<u8>> = Vec::new();
        let n = 5000u32;
        for i in 0..n {
            imp.push(i.to_le_bytes().to_vec(), |d| out.push(d));
        }
        imp.flush(|d| out.push(d));
        assert!(!imp.has_held());
        let s = imp.stats();
        assert_eq!(out.len() as u64, n as u64 - s.dropped + s.duplicated);
        let intact = out.iter().filter(|d| u32::from_le_bytes(d[..4].try_into().unwrap()) < n).count() as u64;
        // A flipped bit may still land below n; every other datagram is intact.
        assert!(intact >= out.len() as u64 - s.corrupted);
        let in_order = out.windows(2).all(|w| w[0] <= w[1]);
        assert!(!in_order, "reorder=10% must reorder something");
    }
}
