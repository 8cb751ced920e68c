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
