//! `--resume`: the drivers' part of resuming a stream, the same over DPDK and `--udp`.
//!
//! The protocol decides (docs/PROTOCOL.md, "Resume"): the receiver's HELLO-ACK carries
//! its output's length and digest, the sender compares them with its input's prefix,
//! and the session carries what follows. The drivers do the I/O around that:
//! - the receiver hashes its output before it listens ([`hash_output`]) and, once a
//!   session is served, writes on from the output's end without truncating it
//!   ([`open_output_at`]);
//! - the sender reads its input's prefix into the point's digest ([`PrefixCheck`]),
//!   a slab at a time so its loop keeps answering the network, and hands the result
//!   to the protocol;
//! - both name a mismatch or a refusal the same way ([`mismatch`], [`required`]).
//!
//! What a receiver's output holds is always a prefix of the stream: it writes in
//! order, and a zero run's hole is made by seeking (reads as zeros) or `ftruncate` at
//! the batch's end. So whatever interrupted it (SIGINT, SIGKILL, a dead link), the
//! output's length is where the next `--resume` starts; the digest check catches any
//! prefix that is not the stream's (another file, a crash that lost written pages).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use stripecat_proto::digest::PrefixDigest;
use stripecat_proto::wire::ResumeRepr;
use stripecat_proto::StreamDigest;

use crate::exit::{ExitCode, Failure};
use crate::report::bytes_text;

/// Bytes per read while hashing a prefix (also the DPDK reader's block while it reads past one).
pub const HASH_BLOCK: usize = 1 << 20;

/// What a resuming receiver's output holds, hashed in every digest a sender may ask
/// for. A missing FILE holds nothing; stdout, a pipe or a device cannot resume.
pub fn hash_output(path: Option<&Path>) -> Result<PrefixDigest, Failure> {
    let usage = |what: &str| {
        Failure::new(ExitCode::Usage, format!("--resume needs a regular output FILE, not {what}"))
            .hint("give recv a FILE (it may not exist yet): the bytes it holds are what the sender skips")
    };
    let Some(path) = path.filter(|p| p.as_os_str() != "-") else { return Err(usage("stdout")) };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(PrefixDigest::default()),
        Err(e) => {
            return Err(Failure::new(ExitCode::Other, format!("cannot read {} to resume: {e}", path.display()))
                .hint("check the output's permissions"))
        }
    };
    let meta = file.metadata().map_err(|e| Failure::new(ExitCode::Other, format!("{}: {e}", path.display())))?;
    if !meta.file_type().is_file() {
        return Err(usage(&format!("{} (not a regular file)", path.display())));
    }
    let mut prefix = PrefixDigest::default();
    let mut buf = vec![0u8; HASH_BLOCK];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => prefix.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Failure::new(ExitCode::Other, format!("cannot read {} to resume: {e}", path.display())))
            }
        }
    }
    Ok(prefix)
}

/// FILE opened to write on from byte `at` (its end when hashed): created if missing,
/// never truncated.
pub fn open_output_at(path: &Path, at: u64) -> io::Result<File> {
    let mut f = OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
    let len = f.metadata()?.len();
    if len != at {
        // Something else wrote to it since it was hashed: what it holds is unknown.
        return Err(io::Error::other(format!(
            "{} changed while resuming: it holds {len} bytes, {at} were hashed",
            path.display()
        )));
    }
    f.seek(SeekFrom::Start(at))?;
    Ok(f)
}

/// The sender's check of a resume point: the input's first `point.len` bytes (or all of
/// it, when it is shorter) into a digest of the point's algorithm.
#[derive(Debug)]
pub struct PrefixCheck {
    point: ResumeRepr,
    digest: StreamDigest,
    read: u64,
    ended: bool,
}

impl PrefixCheck {
    /// The check of `point`, nothing read yet.
    pub fn new(point: ResumeRepr) -> PrefixCheck {
        PrefixCheck { point, digest: StreamDigest::new(point.algorithm), read: 0, ended: false }
    }

    /// Reads at most `most` more bytes of the prefix from `input` (fewer only at its
    /// end); true once the whole prefix, or the whole input, is read.
    pub fn read_some(&mut self, input: &mut dyn Read, buf: &mut [u8], most: usize) -> io::Result<bool> {
        let want = (self.point.len - self.read).min(most as u64).min(buf.len() as u64) as usize;
        let mut filled = 0;
        while filled < want {
            match input.read(&mut buf[filled..want]) {
                Ok(0) => {
                    self.ended = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.digest.update(&buf[..filled]);
        self.read += filled as u64;
        Ok(self.ended || self.read == self.point.len)
    }

    /// The digest and length read, for [`stripecat_proto::Sender::resume_with`].
    pub fn finish(self) -> (StreamDigest, u64) {
        (self.digest, self.read)
    }
}

/// The hint for a prefix that differs, on both ends.
const MISMATCH_HINT: &str =
    "resume only with the input that output came from; to start over, remove the output or run recv without --resume";

/// Resuming failed the check: the input does not start with the `held` bytes the
/// receiver's output holds (`input`: the input's length, when shorter). Exit 5 on
/// both ends; the output is untouched. `output` names it on the receiver.
pub fn mismatch(held: u64, input: Option<u64>, output: Option<&str>) -> Failure {
    let held_text = format!("{} ({held} bytes)", bytes_text(held));
    let what = match (output, input) {
        (None, Some(n)) => {
            format!(
                "cannot resume: the input is {n} bytes long, shorter than the {held_text} the receiver's output holds"
            )
        }
        (None, None) => {
            format!("cannot resume: the input does not start with the {held_text} the receiver's output holds")
        }
        (Some(out), _) => {
            format!(
                "cannot resume: the sender's input does not start with the {held_text} {out} holds; {out} is untouched"
            )
        }
    };
    Failure::new(ExitCode::Integrity, what).hint(MISMATCH_HINT)
}

/// The receiver resumes, its output holds `held` bytes (`None` on the sender: it is not
/// told), and the sender does not resume. Exit 2 on both ends.
pub fn required(held: Option<u64>, output: Option<&str>) -> Failure {
    let what = match (held, output) {
        (Some(n), Some(out)) => format!(
            "{out} already holds {} ({n} bytes) and the sender does not resume: refused rather than overwritten",
            bytes_text(n)
        ),
        _ => "the receiver resumes (recv --resume) and its output already holds data: refused rather than overwritten"
            .to_string(),
    };
    Failure::new(ExitCode::Usage, what)
        .hint("run send with --resume to send only the rest, or recv without --resume to start over")
}

#[cfg(test)]
mod tests {
    use super::*;
    use stripecat_proto::wire::DigestAlgorithm;

    fn point_of(data: &[u8], alg: DigestAlgorithm) -> ResumeRepr {
        let mut p = PrefixDigest::default();
        p.update(data);
        p.point(alg)
    }

    #[test]
    fn the_check_reads_exactly_the_prefix_and_matches_the_receivers_digest() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 1000) as u8).collect();
        for alg in [DigestAlgorithm::Xxh3_128, DigestAlgorithm::Blake3, DigestAlgorithm::None] {
            let point = point_of(&data[..1_234_567], alg);
            let mut input = &data[..];
            let mut c = PrefixCheck::new(point);
            let mut buf = vec![0u8; HASH_BLOCK];
            while !c.read_some(&mut input, &mut buf, HASH_BLOCK).unwrap() {}
            let (d, n) = c.finish();
            assert_eq!(n, 1_234_567);
            assert_eq!(d.finish(), point.digest, "{alg:?}");
            // The rest of the input is where the session starts.
            assert_eq!(input.len(), data.len() - 1_234_567);
        }
    }

    #[test]
    fn a_short_input_ends_the_check_at_its_length() {
        let point = point_of(&[1u8; 5000], DigestAlgorithm::Xxh3_128);
        let mut input = &[1u8; 3000][..];
        let mut c = PrefixCheck::new(point);
        let mut buf = vec![0u8; 1024];
        let mut reads = 0;
        while !c.read_some(&mut input, &mut buf, 1024).unwrap() {
            reads += 1;
        }
        assert!(reads >= 2, "one slab per call");
        let (d, n) = c.finish();
        assert_eq!(n, 3000);
        assert_ne!(d.finish(), point.digest);
    }

    #[test]
    fn the_output_is_hashed_and_reopened_at_its_end_untruncated() {
        let dir = std::env::temp_dir().join(format!("stripecat-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("out.img");
        assert!(hash_output(Some(&f)).unwrap().is_empty(), "a missing FILE holds nothing");
        std::fs::write(&f, b"hello world").unwrap();
        let p = hash_output(Some(&f)).unwrap();
        assert_eq!(p.len(), 11);
        assert_eq!(p.point(DigestAlgorithm::Xxh3_128), point_of(b"hello world", DigestAlgorithm::Xxh3_128));
        let mut out = open_output_at(&f, 11).unwrap();
        std::io::Write::write_all(&mut out, b"!").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"hello world!");
        assert!(open_output_at(&f, 11).is_err(), "a FILE that changed since hashing is refused");
        assert_eq!(hash_output(None).unwrap_err().code, ExitCode::Usage);
        assert_eq!(hash_output(Some(&dir)).unwrap_err().code, ExitCode::Usage);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
