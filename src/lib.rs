//! stripecat: one byte stream striped across every member NIC, over DPDK.
//!
//! `unsafe` lives only in [`dpdk`] (the thin safe layer over `dpdk-sys`);
//! every other module is safe Rust.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod bench;
pub mod cli;
pub mod cmd;
pub mod dataplane;
pub mod dpdk;
pub mod exit;
pub mod impair;
pub mod kernel;
pub mod key;
pub mod limits;
pub mod preflight;
pub mod report;
pub mod resume;
pub mod spec;
pub mod startup;
pub mod stats_lines;
pub mod wire;
