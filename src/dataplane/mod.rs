//! The DPDK data plane: `send`, `recv` and `selftest`.
//!
//! Shape (see docs/DATAPLANE.md):
//! - a reader thread reads the input straight into mbuf data rooms, one
//!   protocol chunk per mbuf, and hands them over a lock-free queue;
//! - the poll loop (on the main lcore, or a worker with `--lcores`; with
//!   several `--lcores`, one lane per lcore, see `lanes.rs`) bursts
//!   frames in from every member queue, drives the sans-IO protocol core,
//!   and bursts frames out: a fresh header mbuf per packet with the payload
//!   mbuf chained behind it, so data waiting for its ACK is resent by
//!   reference, never copied;
//! - the receiver's loop hands in-order payloads (still in their mbufs) to a
//!   writer thread, which writes them with `writev` and frees them in bulk.

pub mod addr;
pub mod backoff;
pub mod clock;
pub mod framing;
pub mod impair_port;
pub mod io;
pub mod lanes;
pub mod lcores;
pub mod members;
pub mod neighbor;
pub mod packet_check;
pub mod payload;
pub mod receiver_lane;
pub mod receiver_loop;
pub mod run;
pub mod selftest;
pub mod sender_lane;
pub mod sender_loop;
