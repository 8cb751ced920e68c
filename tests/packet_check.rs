//! The per-packet check per member port (`src/dataplane/packet_check.rs`) end to end, over
//! memif between two processes: the mode each end chose shows in `--stats-json`, the data
//! arrives byte for byte, and where an `--impair` corrupts frames the CRC32C stays on and
//! catches them (on whichever end's impairer does the corrupting).

mod common;

use std::time::Duration;

use common::dpdk::DpdkTest;
use common::transfer::memif_transfer;

const LIMIT: Duration = Duration::from_secs(120);

/// A 2-link memif transfer of `len` bytes; returns both ends' `--stats-json`.
fn transfer(name: &str, len: usize, recv_extra: &[&str], send_extra: &[&str]) -> Option<[serde_json::Value; 2]> {
    let t = DpdkTest::start(name, LIMIT + Duration::from_secs(30))?;
    Some(memif_transfer(&t, len, 0xc4ec, recv_extra, send_extra, LIMIT))
}

/// Every port of a report has this mode, for this reason.
fn assert_ports(v: &serde_json::Value, mode: &str, reason: &str) {
    let ports = v["ports"].as_array().expect("ports in the stats");
    assert_eq!(ports.len(), 2, "{v}");
    for p in ports {
        assert_eq!(p["packet_check"], mode, "{p}");
        assert_eq!(p["packet_check_reason"], reason, "{p}");
    }
}

fn drops(v: &serde_json::Value, why: &str) -> u64 {
    v["drops"][why].as_u64().unwrap_or(0)
}

#[test]
fn memif_chooses_no_check_on_both_ends_and_moves_the_data_whole() {
    let Some([s, r]) = transfer("pc-memif", 32 << 20, &[], &[]) else { return };
    assert_ports(&s, "none", "shared memory");
    assert_ports(&r, "none", "shared memory");
    for v in [&s, &r] {
        assert_eq!(v["verified"], true, "the end-to-end digest stays: {v}");
        assert_eq!(drops(v, "missing_checksum") + drops(v, "bad_checksum"), 0, "{v}");
    }
}

#[test]
fn forced_crc_on_one_end_keeps_the_crc_both_ways() {
    // The receiver allows none, the sender insists: the receiver sees no offer from the
    // sender, so its ACKs carry the CRC too (the sender would refuse them otherwise).
    let Some([s, r]) = transfer("pc-forced", 8 << 20, &[], &["--packet-check", "crc32c"]) else { return };
    assert_ports(&s, "crc32c", "forced");
    assert_ports(&r, "none", "shared memory");
    for v in [&s, &r] {
        assert_eq!(drops(v, "missing_checksum"), 0, "{v}");
    }
}

#[test]
fn impaired_corruption_keeps_the_crc_and_is_caught_on_either_end() {
    // Corruption on the receiver's side only: its ports keep the CRC32C, it never offers
    // to do without, so the sender (whose own policy is none) keeps sending the CRC and
    // every corrupted frame is caught by reason. Then the same on the sender's side.
    let spec = "corrupt=2%,seed=21";
    let Some([s, r]) = transfer("pc-imp-r", 8 << 20, &["--impair", spec], &[]) else { return };
    assert_ports(&s, "none", "shared memory");
    assert_ports(&r, "crc32c", "impair corrupts");
    assert!(r["impaired"]["corrupted"].as_u64().unwrap_or(0) > 0, "{r}");
    assert!(drops(&r, "bad_checksum") > 0, "corrupted DATA caught by the CRC: {r}");
    assert_eq!(drops(&r, "missing_checksum") + drops(&s, "missing_checksum"), 0, "{s}\n{r}");

    let Some([s, r]) = transfer("pc-imp-s", 8 << 20, &[], &["--impair", spec]) else { return };
    assert_ports(&s, "crc32c", "impair corrupts");
    assert_ports(&r, "none", "shared memory");
    assert!(s["impaired"]["corrupted"].as_u64().unwrap_or(0) > 0, "{s}");
    assert!(drops(&r, "bad_checksum") > 0, "corrupted DATA caught by the CRC: {r}");
    assert_eq!(drops(&r, "missing_checksum") + drops(&s, "missing_checksum"), 0, "{s}\n{r}");
}
