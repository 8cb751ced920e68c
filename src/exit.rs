//! The documented exit codes, and the one-line error a user sees.

use std::fmt;

/// Process exit codes (documented in the README; scripts rely on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Done: delivered and digest verified, or the command succeeded.
    Success = 0,
    /// Anything not covered below.
    Other = 1,
    /// Bad command line (clap's own code).
    Usage = 2,
    /// Environment or set-up: EAL, hugepages, ports, permissions.
    Environment = 3,
    /// The transfer failed: peer unreachable, idle timeout, reset.
    Transfer = 4,
    /// Integrity failure: digest mismatch.
    Integrity = 5,
    /// Authentication failed: the two ends hold different keys, or one has none.
    Auth = 6,
    /// Interrupted by SIGINT (the shell's 128 + 2).
    Interrupted = 130,
    /// Terminated by SIGTERM (128 + 15).
    Terminated = 143,
}

/// An error that knows its exit code and carries a hint for the user.
/// Printed as one line: `stripecat: error: MESSAGE (hint: HINT)`.
#[derive(Debug)]
pub struct Failure {
    pub code: ExitCode,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into(), hint: None }
    }

    pub fn env(message: impl Into<String>) -> Failure {
        Failure::new(ExitCode::Environment, message)
    }

    /// The end of a command stopped by a signal: its report was written, and no
    /// error line follows (the user asked for the stop).
    pub fn signal(code: ExitCode) -> Failure {
        Failure::new(code, String::new())
    }

    /// Whether this is [`Failure::signal`] (nothing to print).
    pub fn is_silent(&self) -> bool {
        self.message.is_empty()
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, always: newlines from lower layers are folded.
        let msg = self.message.replace('\n', "; ");
        write!(f, "{msg}")?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {})", h.replace('\n', "; "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}
