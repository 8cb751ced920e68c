//! SIGINT and SIGTERM: flags the loops poll, and the exit code they end with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::exit::{ExitCode, Failure};

/// Set by SIGINT/SIGTERM.
pub struct Signals {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

impl Signals {
    /// Registers the handlers once per process; later calls share the same
    /// flags (set-up code deep in a command checks them too).
    pub fn install() -> Signals {
        static FLAGS: std::sync::OnceLock<(Arc<AtomicBool>, Arc<AtomicBool>)> = std::sync::OnceLock::new();
        let (int, term) = FLAGS
            .get_or_init(|| {
                let (int, term) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
                let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, int.clone());
                let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, term.clone());
                (int, term)
            })
            .clone();
        Signals { int, term }
    }

    pub fn raised(&self) -> bool {
        self.int.load(Ordering::Relaxed) || self.term.load(Ordering::Relaxed)
    }

    pub fn checker(&self) -> impl Fn() -> bool + Send + 'static {
        let (i, t) = (self.int.clone(), self.term.clone());
        move || i.load(Ordering::Relaxed) || t.load(Ordering::Relaxed)
    }

    /// 130 for SIGINT, 143 for SIGTERM (the shell convention).
    pub fn exit_code(&self) -> ExitCode {
        if self.term.load(Ordering::Relaxed) {
            ExitCode::Terminated
        } else {
            ExitCode::Interrupted
        }
    }

    /// The outcome of a command a signal stopped (see [`Failure::signal`]).
    pub fn failure(&self) -> Failure {
        Failure::signal(self.exit_code())
    }
}
