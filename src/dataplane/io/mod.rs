//! The I/O threads beside the poll loop: the reader ([`reader`], sender: input
//! straight into mbuf data rooms, one chunk per mbuf) and the writer ([`writer`],
//! receiver: in-order payloads written with `writev` straight from the mbufs,
//! then freed in bulk). Both are EAL-registered non-EAL threads, unpinned so
//! they float beside the poll loop.

mod reader;
mod writer;

pub use reader::{spawn_reader, ReaderShared};
pub use writer::{spawn_writer, Output, WriterShared};

/// How long an I/O thread sleeps when it has nothing to do or no room.
pub(crate) const IDLE: std::time::Duration = std::time::Duration::from_micros(50);

/// Short sleeps an idle I/O thread takes before it parks until the loop wakes it.
const IDLE_SLEEPS: u32 = 20;
/// Longest park: bounds a wake-up that crossed the thread going to sleep (the loop
/// reads the parked flag without a fence, so it can miss one just being set).
const PARK_MAX: std::time::Duration = std::time::Duration::from_millis(2);

/// How an I/O thread waits for the poll loop: a few short sleeps (work usually comes
/// back within a millisecond), then parked until the loop calls [`Waker::wake`], so a
/// thread whose transfer has not started or is held back does not spend a core polling.
#[derive(Default)]
pub struct Waker {
    thread: std::sync::OnceLock<std::thread::Thread>,
    /// The thread is parked or about to be: only then does [`Waker::wake`] unpark it
    /// (so a busy loop pays one shared read per call, not an atomic swap).
    parked: std::sync::atomic::AtomicBool,
}

impl Waker {
    /// Called by the I/O thread itself, once, before it first waits.
    fn register(&self) {
        let _ = self.thread.set(std::thread::current());
    }

    /// Wakes the I/O thread if it is parked.
    pub fn wake(&self) {
        if self.parked.load(std::sync::atomic::Ordering::SeqCst) {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }

    /// One idle round of the I/O thread: `rounds` counts them since it last had work.
    fn idle_wait(&self, rounds: &mut u32) {
        *rounds = rounds.saturating_add(1);
        if *rounds <= IDLE_SLEEPS {
            std::thread::sleep(IDLE);
        } else {
            self.parked.store(true, std::sync::atomic::Ordering::SeqCst);
            std::thread::park_timeout(PARK_MAX);
            self.parked.store(false, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
