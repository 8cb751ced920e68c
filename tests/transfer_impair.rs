//! `--impair` at the DPDK port boundary: transfers through seeded loss,
//! reordering, duplication and corruption still deliver every byte, and the
//! reports show the resends and the drops by reason.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::transfer::{assert_both_ok, assert_same_file, finish, memif_pair, random_file, start};
use common::DpdkTest;

const LIMIT: Duration = Duration::from_secs(120);

fn impaired(
    name: &str,
    len: usize,
    send_spec: &str,
    recv_spec: &str,
) -> Option<(serde_json::Value, serde_json::Value)> {
    let t = DpdkTest::start(name, LIMIT + Duration::from_secs(30))?;
    let (server, client) = memif_pair(&t, 2, None);
    let (input, output) = (t.path("in.bin"), t.path("out.bin"));
    let (sj, rj) = (t.path("send.json"), t.path("recv.json"));
    random_file(&input, len, 4242);
    let mut r: Vec<String> = vec![
        "recv".into(),
        "-q".into(),
        "--impair".into(),
        recv_spec.into(),
        "--stats-json".into(),
        rj.display().to_string(),
    ];
    let mut s: Vec<String> = vec![
        "send".into(),
        "-q".into(),
        "--impair".into(),
        send_spec.into(),
        "--stats-json".into(),
        sj.display().to_string(),
    ];
    for p in &server {
        r.extend(["--port".to_string(), p.clone()]);
    }
    for p in &client {
        s.extend(["--port".to_string(), p.clone()]);
    }
    r.push(output.display().to_string());
    s.push(input.display().to_string());
    let rp = start(&t, "recv", &r, Stdio::null(), Stdio::null());
    let sp = start(&t, "send", &s, Stdio::null(), Stdio::null());
    let so = finish(sp, LIMIT);
    let ro = finish(rp, LIMIT);
    assert_both_ok(&so, &ro);
    assert_same_file(&input, &output);
    let read =
        |p: &std::path::Path| serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(p).unwrap()).unwrap();
    Some((read(&sj), read(&rj)))
}

fn count(v: &serde_json::Value, path: &[&str]) -> u64 {
    let mut x = v;
    for k in path {
        x = &x[*k];
    }
    x.as_u64().unwrap_or(0)
}

#[test]
fn one_percent_loss_both_ways() {
    let Some((s, r)) = impaired("imp-1pct", 16 << 20, "loss=1%,seed=11", "loss=1%,seed=12") else { return };
    assert!(count(&s, &["impaired", "dropped"]) > 0 && count(&r, &["impaired", "dropped"]) > 0, "{s}\n{r}");
    assert!(count(&s, &["resends"]) > 0, "lost data was resent: {s}");
}

#[test]
fn five_percent_loss_with_reordering_duplication_and_corruption() {
    let Some((s, r)) =
        impaired("imp-5pct", 16 << 20, "loss=5%,reorder=2%,dup=1%,corrupt=0.5%,seed=7", "loss=1%,dup=1%,seed=8")
    else {
        return;
    };
    for k in ["dropped", "duplicated", "reordered", "corrupted"] {
        assert!(count(&s, &["impaired", k]) > 0, "sender impairer {k}: {s}");
    }
    assert!(count(&s, &["resends"]) > 0, "{s}");
    // Corrupted frames are caught (by the protocol's CRC or a lower checksum)
    // and duplicates are recognised, each counted by reason.
    let drops = &r["drops"];
    let caught: u64 = [
        "bad_checksum",
        "bad_ip_checksum",
        "bad_udp_checksum",
        "malformed_frame",
        "truncated",
        "wrong_udp_port",
        "not_for_us",
        "other_ethertype",
        "bad_magic",
        "unsupported_version",
        "unknown_type",
    ]
    .iter()
    .map(|k| drops[*k].as_u64().unwrap_or(0))
    .sum();
    assert!(caught > 0, "corruption counted by reason: {r}");
    assert!(drops["duplicate"].as_u64().unwrap_or(0) > 0, "duplicates counted: {r}");
}

#[test]
fn bad_impair_spec_is_a_usage_error() {
    let (code, out, err) =
        common::run_stripecat(&["send", "--port", "net_null0", "--impair", "loss=150%"], Duration::from_secs(30));
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty() && err.contains("impair"), "{err}");
}
