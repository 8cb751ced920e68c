//! The local ends of a transfer (FILE or stdin, FILE or stdout) and the copy
//! loops between them and a socket.
//!
//! The copy loops pick the cheapest path the kernel offers for the kinds of
//! descriptors at hand: `sendfile` from a regular file (the page cache goes
//! to the socket without a user-space copy), `splice` from or into a pipe
//! (`tar c . | stripecat send` moves pipe pages, not bytes), and a plain
//! read/write loop with a `--block-size` buffer otherwise. A path the kernel
//! refuses (EINVAL, ENOSYS) falls back to the plain loop.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use rustix::io::Errno;
use rustix::pipe::SpliceFlags;

use super::error::{KernelError, Result};
use crate::report::Progress;

/// What kind of descriptor an end is, which decides the copy path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file; `len` is what remains from the current offset.
    Regular {
        len: u64,
    },
    Pipe,
    Other,
}

/// One local end: an owned descriptor (stdin/stdout are duplicated, so the
/// copy loops can treat every end alike) and its kind.
#[derive(Debug)]
pub struct End {
    pub file: File,
    pub kind: Kind,
    /// For messages: the path, or "stdin"/"stdout".
    pub name: String,
}

fn is_stdio(path: Option<&Path>) -> bool {
    path.is_none_or(|p| p.as_os_str() == "-")
}

fn kind_of(file: &mut File) -> Kind {
    match file.metadata() {
        Ok(m) if m.file_type().is_file() => {
            let pos = file.stream_position().unwrap_or(0);
            Kind::Regular { len: m.len().saturating_sub(pos) }
        }
        Ok(m) if m.file_type().is_fifo() => Kind::Pipe,
        _ => Kind::Other,
    }
}

impl End {
    /// The input: FILE, or stdin when absent or "-".
    pub fn input(path: Option<&Path>) -> Result<End> {
        Self::open(path, "stdin", io::stdin().as_fd(), |p| File::open(p))
    }

    /// The output: FILE (created or truncated), or stdout when absent or "-".
    pub fn output(path: Option<&Path>) -> Result<End> {
        Self::open(path, "stdout", io::stdout().as_fd(), |p| File::create(p))
    }

    /// FILE through `open`, or a duplicate of the standard stream `stdio`.
    fn open(
        path: Option<&Path>,
        stdio_name: &str,
        stdio: std::os::fd::BorrowedFd<'_>,
        open: fn(&Path) -> io::Result<File>,
    ) -> Result<End> {
        let (mut file, name) = if is_stdio(path) {
            let fd =
                stdio.try_clone_to_owned().map_err(|e| KernelError::Open { path: stdio_name.into(), source: e })?;
            (File::from(fd), stdio_name.to_string())
        } else {
            let p = path.unwrap_or(Path::new("-"));
            let f = open(p).map_err(|e| KernelError::Open { path: p.display().to_string(), source: e })?;
            (f, p.display().to_string())
        };
        // A directory opens, but every read fails: refuse it here, at once,
        // rather than after the transport is set up.
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            let source = io::Error::from_raw_os_error(libc::EISDIR);
            return Err(KernelError::Open { path: name, source });
        }
        let kind = kind_of(&mut file);
        Ok(End { file, kind, name })
    }

    /// The input's size when it is known up front (for the ETA).
    pub fn size(&self) -> Option<u64> {
        match self.kind {
            Kind::Regular { len } => Some(len),
            _ => None,
        }
    }

    fn input_error(&self, e: io::Error) -> KernelError {
        KernelError::Input { what: self.name.clone(), source: e }
    }

    fn output_error(&self, e: io::Error) -> KernelError {
        KernelError::Output { what: self.name.clone(), source: e }
    }
}

/// Whether the kernel declined a zero-copy call for these descriptors (as
/// opposed to a real I/O error), so a plain loop should take over.
fn unsupported(e: Errno) -> bool {
    e == Errno::INVAL || e == Errno::NOSYS || e == Errno::OPNOTSUPP
}

/// Runs a zero-copy call (`sendfile`, `splice`) until end of stream: `Ok(true)`.
/// `Ok(false)`: the kernel declined it before any byte moved, so a plain loop
/// takes over; an error is the caller's to name.
fn zero_copy(
    total: &mut u64,
    progress: &mut Progress,
    mut call: impl FnMut() -> rustix::io::Result<usize>,
) -> std::result::Result<bool, Errno> {
    loop {
        match call() {
            Ok(0) => return Ok(true),
            Ok(n) => {
                *total += n as u64;
                progress.update(*total, "");
            }
            Err(e) if e == Errno::INTR => {}
            Err(e) if unsupported(e) && *total == 0 => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// Copies all of `input` to `sock` and returns the byte count. Socket errors
/// are the peer's doing (reset, closed); input errors are ours.
pub fn send_all<S: AsFd + Write>(input: &mut End, sock: &mut S, block: usize, progress: &mut Progress) -> Result<u64> {
    let mut total = 0u64;
    let pipe = match input.kind {
        Kind::Regular { .. } => Some(false),
        Kind::Pipe => Some(true),
        Kind::Other => None,
    };
    // Zero copy first: sendfile from a file, splice from a pipe.
    if let Some(pipe) = pipe {
        let moved = zero_copy(&mut total, progress, || {
            if pipe {
                rustix::pipe::splice(&input.file, None, &*sock, None, block, SpliceFlags::MORE)
            } else {
                rustix::fs::sendfile(&*sock, &input.file, None, block)
            }
        });
        match moved {
            Ok(true) => return Ok(total),
            Ok(false) => {}
            // splice cannot tell us which side failed; a socket error is
            // by far the likelier, but report both names.
            Err(e) if pipe && e != Errno::PIPE && e != Errno::CONNRESET => return Err(input.input_error(e.into())),
            Err(e) => return Err(KernelError::socket(e.into())),
        }
    }
    let mut buf = vec![0u8; block];
    loop {
        let n = match input.file.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(input.input_error(e)),
        };
        sock.write_all(&buf[..n]).map_err(KernelError::socket)?;
        total += n as u64;
        progress.update(total, "");
    }
}

/// Copies `sock` to `output` until the peer's end of stream; returns the
/// byte count.
pub fn recv_all<S: AsFd + Read>(sock: &mut S, output: &mut End, block: usize, progress: &mut Progress) -> Result<u64> {
    let mut total = 0u64;
    if output.kind == Kind::Pipe {
        let moved = zero_copy(&mut total, progress, || {
            rustix::pipe::splice(&*sock, None, &output.file, None, block, SpliceFlags::MORE)
        });
        match moved {
            Ok(true) => return Ok(total),
            Ok(false) => {}
            Err(e) if e == Errno::PIPE => return Err(output.output_error(e.into())),
            Err(e) => return Err(KernelError::socket(e.into())),
        }
    }
    let mut buf = vec![0u8; block];
    loop {
        let n = match sock.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(KernelError::socket(e)),
        };
        output.file.write_all(&buf[..n]).map_err(|e| output.output_error(e))?;
        total += n as u64;
        progress.update(total, "");
    }
}

/// The output of a receiver that opens it only once a session is worth it: a keyed
/// receiver must not create or truncate FILE for a sender that did not authenticate.
#[derive(Debug)]
pub struct LazyOutput<'a> {
    path: Option<&'a Path>,
    end: Option<End>,
    borrowed: Option<&'a mut End>,
    /// `--resume`: FILE is opened to write on from this length, not truncated.
    resume_at: Option<u64>,
}

impl<'a> LazyOutput<'a> {
    /// FILE (or stdout), opened by the first [`LazyOutput::get`].
    pub fn new(path: Option<&'a Path>) -> LazyOutput<'a> {
        LazyOutput { path, end: None, borrowed: None, resume_at: None }
    }

    /// FILE, opened by the first [`LazyOutput::get`] to write on from byte `at` (what
    /// it held when hashed), never truncated: `recv --resume`.
    pub fn resuming(path: &'a Path, at: u64) -> LazyOutput<'a> {
        LazyOutput { path: Some(path), end: None, borrowed: None, resume_at: Some(at) }
    }

    /// An output already open.
    pub fn ready(end: &'a mut End) -> LazyOutput<'a> {
        LazyOutput { path: None, end: None, borrowed: Some(end), resume_at: None }
    }

    /// The output, opening (creating or truncating) it now if it is not open yet.
    pub fn get(&mut self) -> Result<&mut End> {
        if let Some(b) = self.borrowed.as_deref_mut() {
            return Ok(b);
        }
        if self.end.is_none() {
            self.end = Some(match (self.resume_at, self.path) {
                (Some(at), Some(p)) => {
                    let name = p.display().to_string();
                    let file = crate::resume::open_output_at(p, at)
                        .map_err(|source| KernelError::Open { path: name.clone(), source })?;
                    End { file, kind: Kind::Regular { len: 0 }, name }
                }
                _ => End::output(self.path)?,
            });
        }
        Ok(self.end.as_mut().expect("opened above"))
    }

    /// Whether it is open.
    pub fn is_open(&self) -> bool {
        self.borrowed.is_some() || self.end.is_some()
    }

    /// Flushes it if it is open (never opens it).
    pub fn flush(&mut self) {
        if let Some(b) = self.borrowed.as_deref_mut() {
            let _ = b.file.flush();
        } else if let Some(e) = self.end.as_mut() {
            let _ = e.file.flush();
        }
    }

    /// Its name for messages, open or not.
    pub fn name(&self) -> String {
        match (&self.borrowed, &self.end) {
            (Some(b), _) => b.name.clone(),
            (None, Some(e)) => e.name.clone(),
            (None, None) => {
                self.path.filter(|p| p.as_os_str() != "-").map_or("stdout".into(), |p| p.display().to_string())
            }
        }
    }
}
