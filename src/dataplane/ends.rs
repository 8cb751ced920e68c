//! The local ends of a data-plane transfer: the input (FILE or stdin) and the
//! output (FILE or stdout), opened before any DPDK set-up so a bad path fails at
//! once. The kernel transports' opener does the work; this gives its refusals
//! the data plane's messages and exit code.

use std::fs::File;
use std::path::Path;

use crate::exit::{ExitCode, Failure};
use crate::kernel::error::KernelError;
use crate::kernel::io::End;

/// The input and its length when known up front (a regular file).
pub fn input(path: Option<&Path>) -> Result<(File, Option<u64>), Failure> {
    let end = End::input(path).map_err(|e| refused("open input", e))?;
    let len = end.size();
    Ok((end.file, len))
}

/// The output, created or truncated.
pub fn output(path: Option<&Path>) -> Result<File, Failure> {
    Ok(End::output(path).map_err(|e| refused("create output", e))?.file)
}

fn refused(what: &str, e: KernelError) -> Failure {
    match e {
        KernelError::Open { path, source } => Failure::new(ExitCode::Other, format!("cannot {what} {path}: {source}"))
            .hint("check the path names a regular file, pipe or device, and its permissions"),
        other => Failure::new(ExitCode::Other, other.to_string()),
    }
}
