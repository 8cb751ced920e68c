//! `stripecat selftest`: both ends in one process over in-memory ring ports.
//! Generated data and files go through the real loops, protocol, reader and
//! writer; what arrives is compared byte for byte with what went in, and
//! the end-to-end digest must verify (exit 0).

mod common;

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use common::data::{assert_same_bytes, assert_same_file, random_file};
use common::dpdk::DpdkTest;
use common::{read_json, run_stripecat};
use stripecat::dataplane::selftest::Generator;

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `stripecat selftest ARGS` under the test's EAL file prefix; returns
/// its stderr after asserting exit 0 and the digest line.
fn selftest(t: &DpdkTest, args: &[&str]) -> String {
    let eal = t.eal();
    let mut all = vec!["selftest", "--eal", &eal];
    all.extend_from_slice(args);
    let began = Instant::now();
    let (code, stdout, stderr) = run_stripecat(&all, LIMIT);
    eprintln!("selftest {args:?}: exit {code} in {:.1} s", began.elapsed().as_secs_f64());
    assert_eq!(code, 0, "selftest {args:?} failed; stderr: {stderr}");
    assert!(stderr.contains("digest verified"), "selftest {args:?}: no 'digest verified' line; stderr: {stderr}");
    assert!(stdout.is_empty(), "selftest {args:?} wrote to stdout: {stdout:?}");
    stderr
}

/// Asserts `path` holds exactly the generated stream of `size` bytes.
fn assert_generated(path: &Path, size: u64) {
    let mut want = Vec::with_capacity(size as usize);
    Generator::new(size).read_to_end(&mut want).unwrap();
    assert_same_bytes(&path.display().to_string(), &std::fs::read(path).unwrap(), &want);
}

#[test]
fn generated_64mib_digest_verified_and_bytes_identical() {
    let Some(t) = DpdkTest::start("st-64m", LIMIT + Duration::from_secs(30)) else { return };
    let out = t.path("out.bin");
    let o = out.display().to_string();
    let stderr = selftest(&t, &["--size", "64M", "--output", &o]);
    assert!(stderr.contains("64.0 MiB") || stderr.contains("67108864"), "size not in the summary: {stderr}");
    assert_generated(&out, 64 << 20);
}

#[test]
fn input_file_of_odd_length_comes_out_identical() {
    let Some(t) = DpdkTest::start("st-file", LIMIT + Duration::from_secs(30)) else { return };
    let (input, output) = (t.path("in.bin"), t.path("out.bin"));
    // Odd, and not a multiple of the 8952-byte chunk of the 9000-byte MTU.
    random_file(&input, (16 << 20) + 12_345, 0x5e1f_7e57);
    selftest(&t, &["--input", &input.display().to_string(), "--output", &output.display().to_string()]);
    assert_same_file(&input, &output);
}

#[test]
fn one_link_and_four_links() {
    let Some(t) = DpdkTest::start("st-links", LIMIT * 2 + Duration::from_secs(30)) else { return };
    let input = t.path("in.bin");
    random_file(&input, (24 << 20) + 777, 0x11_4444);
    for links in ["1", "4"] {
        let output = t.path(&format!("out{links}.bin"));
        let stderr = selftest(
            &t,
            &["--links", links, "--input", &input.display().to_string(), "--output", &output.display().to_string()],
        );
        let phrase = if links == "1" { "over 1 ring link " } else { "over 4 ring links" };
        assert!(stderr.contains(phrase), "--links {links}: expected {phrase:?} in: {stderr}");
        assert_same_file(&input, &output);
    }
}

#[test]
fn stats_json_has_both_ends() {
    let Some(t) = DpdkTest::start("st-json", LIMIT + Duration::from_secs(30)) else { return };
    let json = t.path("stats.json");
    let size: u64 = 32 << 20;
    selftest(&t, &["--size", "32M", "--links", "2", "--stats-json", &json.display().to_string()]);
    let v = read_json(&json);
    let text = v.to_string();
    for (end, role) in [("send", "send"), ("recv", "recv")] {
        let e = &v[end];
        assert!(e.is_object(), "no {end:?} object in {text}");
        assert_eq!(e["role"], role, "{end}.role");
        assert_eq!(e["transport"], "selftest", "{end}.transport");
        assert_eq!(e["bytes"].as_u64(), Some(size), "{end}.bytes");
        assert_eq!(e["verified"], true, "{end}.verified");
        assert!(e["error"].is_null(), "{end}.error: {}", e["error"]);
        assert!(e["seconds"].as_f64().is_some_and(|s| s > 0.0), "{end}.seconds");
        let ports = e["ports"].as_array().unwrap_or_else(|| panic!("{end}.ports not an array"));
        assert_eq!(ports.len(), 2, "{end}: one port per link");
    }
    assert_eq!(v["send"]["paths"].as_array().map(|p| p.len()), Some(2), "sender: one path per link");
}
