//! Writing delivered pieces to the output, for the DPDK writer thread and the kernel
//! `--udp` receiver alike: bytes in gathered writes; a run of zeros (a ZEROS record,
//! [`Piece::Zeros`]) as a hole in a regular output file, or as zeros written out
//! anywhere else (a pipe, a device, `--no-sparse`).
//!
//! A hole is made by seeking past the run. That reads back as zeros only beyond the
//! file's end, so holes are used only when the output is a regular file positioned at
//! its end (created or truncated, as `recv` opens FILE) and not in append mode (where
//! every write lands at the end whatever the position). A batch that ends in a hole
//! sets the file's length at once (`ftruncate`), so the length is right even when the
//! stream ends inside a zero run, and the bytes counted as written are in the file.

use std::fs::File;
use std::io::{self, IoSlice, Seek, SeekFrom, Write};

use stripecat_proto::Piece;

/// How zero runs reach one output.
#[derive(Debug, Clone, Copy)]
pub struct PieceWriter {
    holes: bool,
}

impl PieceWriter {
    /// For `out`: holes when `sparse` and the output can take them (see the module).
    pub fn new(out: &mut File, sparse: bool) -> PieceWriter {
        PieceWriter { holes: sparse && can_hole(out) }
    }

    /// Whether zero runs become holes (otherwise they are written as zeros).
    pub fn holes(&self) -> bool {
        self.holes
    }

    /// Writes `pieces` in order. Returns the bytes written (zero runs included); on an
    /// error, also how many reached the output before it.
    pub fn write<B: AsRef<[u8]>>(&self, out: &mut File, pieces: &[Piece<B>]) -> Result<u64, (io::Error, u64)> {
        if !self.holes {
            // A zero run's bytes read as zeros from a static buffer: write them all.
            return write_vectored(out, pieces);
        }
        let mut done = 0u64;
        let mut rest = pieces;
        while !rest.is_empty() {
            let bytes = rest.iter().take_while(|p| p.zeros().is_none()).count();
            if bytes > 0 {
                done += write_vectored(out, &rest[..bytes]).map_err(|(e, n)| (e, done + n))?;
                rest = &rest[bytes..];
                continue;
            }
            let zeros = rest.iter().take_while(|p| p.zeros().is_some()).count();
            let run: u64 = rest[..zeros].iter().map(|p| p.len() as u64).sum();
            rest = &rest[zeros..];
            let at = out.seek(SeekFrom::Current(run as i64)).map_err(|e| (e, done))?;
            if rest.is_empty() {
                // The batch ends in a hole: the file must be this long now.
                out.set_len(at).map_err(|e| (e, done))?;
            }
            done += run;
        }
        Ok(done)
    }
}

/// A regular file at its end, not in append mode.
fn can_hole(out: &mut File) -> bool {
    let Ok(meta) = out.metadata() else { return false };
    if !meta.file_type().is_file() {
        return false;
    }
    let append = rustix::fs::fcntl_getfl(&*out).is_ok_and(|f| f.contains(rustix::fs::OFlags::APPEND));
    !append && out.stream_position().is_ok_and(|pos| pos == meta.len())
}

/// Writes every piece's bytes, in order, coping with partial writes (at most
/// `IOV_MAX` pieces at a time).
fn write_vectored<B: AsRef<[u8]>>(out: &mut File, pieces: &[Piece<B>]) -> Result<u64, (io::Error, u64)> {
    let mut done = 0u64;
    for group in pieces.chunks(512) {
        let mut slices: Vec<IoSlice<'_>> = group.iter().map(|p| IoSlice::new(p.as_ref())).collect();
        let mut bufs: &mut [IoSlice<'_>] = &mut slices;
        while !bufs.is_empty() {
            match out.write_vectored(bufs) {
                Ok(0) => return Err((io::Error::new(io::ErrorKind::WriteZero, "the output took no bytes"), done)),
                Ok(n) => {
                    done += n as u64;
                    IoSlice::advance_slices(&mut bufs, n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err((e, done)),
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    fn pieces() -> Vec<Piece<Vec<u8>>> {
        let z = Piece::Zeros(60000);
        let mut v = vec![z.clone(); 40];
        v.insert(0, Piece::Bytes(b"head".to_vec()));
        v.insert(20, Piece::Bytes(b"middle".to_vec()));
        v
    }

    fn expected() -> Vec<u8> {
        let mut e = b"head".to_vec();
        e.extend(std::iter::repeat_n(0u8, 19 * 60000));
        e.extend(b"middle");
        e.extend(std::iter::repeat_n(0u8, 21 * 60000));
        e
    }

    /// Writes `pieces()` into a new file, holes allowed or not; the writer's word on
    /// whether it makes holes, the bytes it reports, and the file (in a dir kept alive).
    fn write_pieces(holes: bool) -> (bool, u64, tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut f = File::create(&path).unwrap();
        let w = PieceWriter::new(&mut f, holes);
        let makes_holes = w.holes();
        let n = w.write(&mut f, &pieces()).unwrap();
        (makes_holes, n, dir, path)
    }

    #[test]
    fn holes_in_a_regular_file_with_the_right_length() {
        let (holes, n, _dir, path) = write_pieces(true);
        assert!(holes);
        assert_eq!(n, expected().len() as u64);
        let mut got = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut got).unwrap();
        assert_eq!(got, expected());
        let meta = std::fs::metadata(&path).unwrap();
        assert!(meta.blocks() * 512 < meta.len() / 4, "{} blocks for {} bytes", meta.blocks(), meta.len());
    }

    #[test]
    fn zeros_written_out_when_off_or_appending() {
        let (holes, _, _dir, path) = write_pieces(false);
        assert!(!holes);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), expected().len() as u64);
        assert!(meta.blocks() * 512 >= meta.len(), "not written out");
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        assert!(!PieceWriter::new(&mut f, true).holes(), "append mode cannot take holes");
    }
}
