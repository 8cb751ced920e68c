//! The networks of issue 12, end to end over net_af_packet (and memif) on veth pairs
//! and network namespaces made here and removed at the end: 802.1Q VLANs with two ids
//! against a DPDK receiver (and one on other VLANs, which hears nothing); IPv6 DPDK to
//! DPDK over af_packet and memif, DPDK to kernel `--udp` and back, mixed IPv4/IPv6
//! members; a routed pair of members through a router namespace, and a wrong gateway;
//! bad addressing refused with exit 2.
//!
//! A kernel `recv --udp` on two VLANs as well. This machine's kernel has neither the 8021q
//! module (no VLAN sub-interfaces) nor bridge VLAN filtering, so the kernel end's veths
//! do what a VLAN sub-interface does with the kernel's own tagging helpers, in a tc
//! program (`common/vlan_tagger.bpf.c`): untag frames of their VLAN on the way in, drop
//! the rest, tag everything on the way out.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::data::assert_same_file;
use common::dpdk::{netns_with, sh, veth_pair, DpdkTest};
use common::kernel::{run_bin, scratch};
use common::transfer::{
    af_packet_ports, finish, input_output, memif_pair, start, start_in, stderr, stripecat_args, Proc,
};
use common::{assert_one_error_line, read_json};

const LIMIT: Duration = Duration::from_secs(90);

fn id() -> u32 {
    std::process::id() % 100_000
}

/// `n` veth pairs `{tag}{id}s{i}` (here) / `{tag}{id}r{i}` (in namespace `{tag}{id}`).
fn links(tag: &str, n: usize) -> (Vec<String>, Vec<String>, String) {
    let id = id();
    let s: Vec<String> = (0..n).map(|i| format!("{tag}{id}s{i}")).collect();
    let r: Vec<String> = (0..n).map(|i| format!("{tag}{id}r{i}")).collect();
    for (a, b) in s.iter().zip(&r) {
        veth_pair(a, b, 1500);
    }
    let ns = format!("{tag}{id}");
    netns_with(&ns, &r.iter().map(String::as_str).collect::<Vec<_>>());
    (s, r, ns)
}

fn ns_sh(ns: &str, args: &[&str]) -> String {
    let mut full = vec!["ip", "netns", "exec", ns];
    full.extend_from_slice(args);
    sh(&full)
}

/// Turns IPv6 back on in namespace `ns` (netns_with turns it off) and gives `dev` the
/// address `addr` at once (no duplicate address detection).
fn kernel_v6(ns: &str, dev: &str, addr: &str) {
    for key in ["net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0"] {
        ns_sh(ns, &["sysctl", "-qw", key]);
    }
    ns_sh(ns, &["sysctl", "-qw", &format!("net.ipv6.conf.{}.disable_ipv6=0", dev.replace('.', "/"))]);
    sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev, "nodad"]);
}

/// Runs a receiver (`recv_args`, in `ns`) and a sender (`send_args`, here) to the end;
/// both must exit 0 and the output equal the input.
fn transfer(
    t: &DpdkTest,
    ns: Option<&str>,
    recv_args: &[String],
    send_args: &[String],
    inp: &std::path::Path,
    out: &std::path::Path,
) -> (String, String) {
    let r = start_in(t, ns, "recv", recv_args, Stdio::null(), Stdio::null());
    let s = start(t, "send", send_args, Stdio::null(), Stdio::null());
    let so = finish(s, LIMIT);
    let ro = finish(r, LIMIT);
    assert!(
        so.status.success() && ro.status.success(),
        "send {:?}: {}\nrecv {:?}: {}",
        so.status.code(),
        stderr(&so),
        ro.status.code(),
        stderr(&ro)
    );
    assert_same_file(inp, out);
    (stderr(&so), stderr(&ro))
}

fn args(cmd: &str, ports: &[String], extra: &[&str], file: &std::path::Path) -> Vec<String> {
    stripecat_args(cmd, ports, extra, Some(file))
}

#[test]
fn vlan_members_with_two_ids_to_a_dpdk_receiver() {
    let Some(t) = DpdkTest::start("net-vlan-dpdk", LIMIT + Duration::from_secs(30)) else { return };
    let (s, r, ns) = links("svd", 2);
    let (inp, out) = input_output(&t, 16 << 20, 0x71a0);
    let vl = ["--vlan", "210,211"];
    let ra = args("recv", &af_packet_ports(&r), &vl, &out);
    let sa = args("send", &af_packet_ports(&s), &vl, &inp);
    transfer(&t, Some(&ns), &ra, &sa, &inp, &out);
    // A receiver on other VLANs hears nothing: the sender's ARP goes unanswered, naming both members.
    let ra = args("recv", &af_packet_ports(&r), &["--vlan", "310,311"], &out);
    let rcv = start_in(&t, Some(&ns), "recv", &ra, Stdio::null(), Stdio::null());
    let so = finish(start(&t, "send", &sa, Stdio::null(), Stdio::null()), LIMIT);
    let e = stderr(&so);
    assert_eq!(so.status.code(), Some(4), "{e}");
    assert!(
        e.contains("peer 198.18.0.2 did not answer ARP on member net_af_packet0") && e.contains("net_af_packet1"),
        "{e}"
    );
    rcv.signal("TERM");
    let _ = finish(rcv, LIMIT);
}

/// Makes `dev` (in namespace `ns`) behave as a VLAN sub-interface for `vid`: frames
/// tagged `vid` arrive untagged, other frames are dropped, and every frame leaves
/// tagged (`common/vlan_tagger.bpf.c`, built here, loaded with tc).
fn vlan_tagger(t: &DpdkTest, ns: &str, dev: &str, vid: u16) {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/common/vlan_tagger.bpf.c");
    let obj = t.path(&format!("vlan{vid}.bpf.o"));
    let multiarch = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let vid_def = format!("-DVID={vid}");
    let obj_s = obj.to_str().unwrap();
    sh(&["clang", "-O2", "-g", "-target", "bpf", &multiarch, &vid_def, "-c", src, "-o", obj_s]);
    ns_sh(ns, &["tc", "qdisc", "add", "dev", dev, "clsact"]);
    for dir in ["ingress", "egress"] {
        let sec = format!("tc/{dir}");
        ns_sh(ns, &["tc", "filter", "add", "dev", dev, dir, "bpf", "da", "obj", obj_s, "sec", &sec]);
    }
}

#[test]
fn vlan_members_with_two_ids_to_a_kernel_udp_receiver() {
    let Some(t) = DpdkTest::start("net-vlan-kernel", LIMIT + Duration::from_secs(30)) else { return };
    let (s, r, ns) = links("svk", 2);
    for (i, (dev, vid)) in r.iter().zip([210, 211]).enumerate() {
        sh(&["ip", "-n", &ns, "addr", "add", &format!("198.18.{}.2/24", 10 + i), "dev", dev]);
        // veth leaves UDP checksums for "hardware"; af_packet on the DPDK end would read them unfilled.
        ns_sh(&ns, &["ethtool", "-K", dev, "tx", "off"]);
        vlan_tagger(&t, &ns, dev, vid);
    }
    let (inp, out) = input_output(&t, 16 << 20, 0x71a1);
    let stats = t.path("recv.json");
    let ra: Vec<String> =
        ["recv", "--quiet", "--udp", "--listen", "0.0.0.0:47100", "--stats-json", stats.to_str().unwrap()]
            .iter()
            .chain([&out.to_str().unwrap()])
            .map(|s| s.to_string())
            .collect();
    let members = ["--local-ip", "198.18.10.1/24,198.18.11.1/24", "--peer-ip", "198.18.10.2,198.18.11.2"];
    let tagged = |vlans: &'static str| -> Vec<String> {
        let mut extra = members.to_vec();
        extra.extend(["--vlan", vlans]);
        args("send", &af_packet_ports(&s), &extra, &inp)
    };
    let rp = start_in(&t, Some(&ns), "recv", &ra, Stdio::null(), Stdio::null());
    std::thread::sleep(Duration::from_millis(300));
    let so = finish(start(&t, "send", &tagged("210,211"), Stdio::null(), Stdio::null()), LIMIT);
    let ro = finish(rp, LIMIT);
    assert!(so.status.success() && ro.status.success(), "send: {}\nrecv: {}", stderr(&so), stderr(&ro));
    assert_same_file(&inp, &out);
    // Both VLANs carried the stream: the receiver took a share of it on each path.
    let paths = read_json(&stats)["paths"].as_array().cloned().unwrap_or_default();
    assert_eq!(paths.len(), 2, "{paths:?}");
    for p in &paths {
        assert!(p["bytes"].as_u64().unwrap_or(0) > 4 << 20, "{p}");
    }
    // Tags for other VLANs are not taken: the receiver's ARP answers never come.
    let rp = start_in(&t, Some(&ns), "recv", &ra, Stdio::null(), Stdio::null());
    let so = finish(start(&t, "send", &tagged("310,311"), Stdio::null(), Stdio::null()), LIMIT);
    let e = stderr(&so);
    assert_eq!(so.status.code(), Some(4), "{e}");
    assert!(e.contains("did not answer ARP on member net_af_packet0") && e.contains("net_af_packet1"), "{e}");
    rp.signal("TERM");
    let _ = finish(rp, LIMIT);
}

/// Bytes a link in namespace `ns` counted in direction `dir` ("RX:" or "TX:").
fn link_bytes(ns: &str, dev: &str, dir: &str) -> u64 {
    let st = sh(&["ip", "-n", ns, "-s", "link", "show", dev]);
    st.lines()
        .skip_while(|l| !l.contains(dir))
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn ipv6_dpdk_to_dpdk_over_af_packet_and_memif_and_mixed_members() {
    let Some(t) = DpdkTest::start("net-v6-dpdk", LIMIT * 2) else { return };
    let (s, r, ns) = links("s6d", 2);
    let (inp, out) = input_output(&t, 16 << 20, 0x7160);
    // Both members IPv6.
    let ra = args("recv", &af_packet_ports(&r), &["--local-ip", "2001:2::2/64"], &out);
    let sa = args("send", &af_packet_ports(&s), &["--local-ip", "2001:2::1/64", "--peer-ip", "2001:2::2"], &inp);
    transfer(&t, Some(&ns), &ra, &sa, &inp, &out);
    // Mixed: member 0 IPv4, member 1 IPv6, in one session.
    let ra = args("recv", &af_packet_ports(&r), &["--local-ip", "198.18.0.2/24,2001:2::2/64"], &out);
    let sa = args(
        "send",
        &af_packet_ports(&s),
        &["--local-ip", "198.18.0.1/24,2001:2::1/64", "--peer-ip", "198.18.0.2,2001:2::2"],
        &inp,
    );
    transfer(&t, Some(&ns), &ra, &sa, &inp, &out);
    // memif, tagged too.
    let (server, client) = memif_pair(&t, 2, None);
    let v6 = ["--local-ip", "2001:2::2/64", "--vlan", "42"];
    let ra = args("recv", &server, &v6, &out);
    let sa = args("send", &client, &["--local-ip", "2001:2::1/64", "--peer-ip", "2001:2::2", "--vlan", "42"], &inp);
    transfer(&t, None, &ra, &sa, &inp, &out);
}

#[test]
fn ipv6_dpdk_and_kernel_udp_interoperate_both_ways() {
    let Some(t) = DpdkTest::start("net-v6-kernel", LIMIT * 2) else { return };
    let (s, r, ns) = links("s6k", 1);
    kernel_v6(&ns, &r[0], "2001:2::2/64");
    // veth leaves the UDP checksum for "hardware" to fill: af_packet on the other end
    // would read it unfilled. A real NIC fills it; here the kernel must.
    ns_sh(&ns, &["ethtool", "-K", &r[0], "tx", "off"]);
    let (inp, out) = input_output(&t, 16 << 20, 0x7161);
    // DPDK sender, kernel receiver.
    let ra: Vec<String> = ["recv", "--quiet", "--udp", "--listen", "[::]:47100", out.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let sa = args("send", &af_packet_ports(&s), &["--local-ip", "2001:2::1/64", "--peer-ip", "2001:2::2"], &inp);
    let rp = start_in(&t, Some(&ns), "recv", &ra, Stdio::null(), Stdio::null());
    std::thread::sleep(Duration::from_millis(300));
    let so = finish(start(&t, "send", &sa, Stdio::null(), Stdio::null()), LIMIT);
    let ro = finish(rp, LIMIT);
    assert!(so.status.success() && ro.status.success(), "send: {}\nrecv: {}", stderr(&so), stderr(&ro));
    assert_same_file(&inp, &out);
    // Kernel sender (two paths), DPDK receiver.
    std::fs::remove_file(&out).unwrap();
    let ra = args("recv", &af_packet_ports(&s), &["--local-ip", "2001:2::1/64"], &out);
    let rp: Proc = start(&t, "recv", &ra, Stdio::null(), Stdio::null());
    std::thread::sleep(Duration::from_secs(2));
    let sa: Vec<String> = ["send", "--quiet", "--udp", "[2001:2::1]:47100", "--paths", "2", inp.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let so = finish(start_in(&t, Some(&ns), "send", &sa, Stdio::null(), Stdio::null()), LIMIT);
    let ro = finish(rp, LIMIT);
    assert!(so.status.success() && ro.status.success(), "send: {}\nrecv: {}", stderr(&so), stderr(&ro));
    assert_same_file(&inp, &out);
}

#[test]
fn routed_members_through_a_router_namespace_and_a_wrong_gateway() {
    let Some(t) = DpdkTest::start("net-routed", LIMIT * 2) else { return };
    let id = id();
    // sender s{i} -- a{i} [router ns] b{i} -- r{i} receiver; member i on 198.18.(2i+1).0/24
    // at the sender and 198.18.(2i+2).0/24 at the receiver.
    let (rt, rx) = (format!("srt{id}"), format!("srr{id}"));
    let mut s = Vec::new();
    let mut r = Vec::new();
    let mut rdevs = Vec::new();
    for i in 0..2 {
        let (sd, a, b, rd) =
            (format!("srt{id}s{i}"), format!("srt{id}a{i}"), format!("srt{id}b{i}"), format!("srt{id}r{i}"));
        veth_pair(&sd, &a, 1500);
        veth_pair(&rd, &b, 1500);
        rdevs.push((a, b));
        s.push(sd);
        r.push(rd);
    }
    let all: Vec<&str> = rdevs.iter().flat_map(|(a, b)| [a.as_str(), b.as_str()]).collect();
    netns_with(&rt, &all);
    netns_with(&rx, &r.iter().map(String::as_str).collect::<Vec<_>>());
    ns_sh(&rt, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    for key in ["net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"] {
        ns_sh(&rt, &["sysctl", "-qw", key]);
    }
    for (i, (a, b)) in rdevs.iter().enumerate() {
        sh(&["ip", "-n", &rt, "addr", "add", &format!("198.18.{}.1/24", 2 * i + 1), "dev", a]);
        sh(&["ip", "-n", &rt, "addr", "add", &format!("198.18.{}.1/24", 2 * i + 2), "dev", b]);
    }
    let (inp, out) = input_output(&t, 16 << 20, 0x7170);
    let ra = args(
        "recv",
        &af_packet_ports(&r),
        &["--local-ip", "198.18.2.2/24,198.18.4.2/24", "--gateway", "198.18.2.1,198.18.4.1"],
        &out,
    );
    let sa = args(
        "send",
        &af_packet_ports(&s),
        &[
            "--local-ip",
            "198.18.1.2/24,198.18.3.2/24",
            "--gateway",
            "198.18.1.1,198.18.3.1",
            "--peer-ip",
            "198.18.2.2,198.18.4.2",
        ],
        &inp,
    );
    transfer(&t, Some(&rx), &ra, &sa, &inp, &out);
    // The router forwarded both members' data.
    for (_, b) in &rdevs {
        let tx = link_bytes(&rt, b, "TX:");
        assert!(tx > 4 << 20, "router port {b} sent {tx} bytes");
    }
    // A gateway nobody answers for: a clear error naming the member.
    let rcv = start_in(&t, Some(&rx), "recv", &ra, Stdio::null(), Stdio::null());
    let sa = args(
        "send",
        &af_packet_ports(&s),
        &[
            "--local-ip",
            "198.18.1.2/24,198.18.3.2/24",
            "--gateway",
            "198.18.1.1,198.18.3.9",
            "--peer-ip",
            "198.18.2.2,198.18.4.2",
        ],
        &inp,
    );
    let so = finish(start(&t, "send", &sa, Stdio::null(), Stdio::null()), LIMIT);
    let e = stderr(&so);
    assert_eq!(so.status.code(), Some(4), "{e}");
    assert!(e.contains("gateway 198.18.3.9 did not answer ARP on member net_af_packet1 (hint: check --gateway"), "{e}");
    assert!(!e.contains("net_af_packet0"), "{e}");
    rcv.signal("TERM");
    let _ = finish(rcv, LIMIT);
}

#[test]
fn bad_member_addressing_exits_2_with_one_line() {
    let dir = scratch();
    let p = ["--port", "net_null0", "--port", "net_null1"];
    let with = |cmd: &'static str, extra: &[&'static str]| -> Vec<&'static str> {
        let mut v: Vec<&'static str> = vec![cmd];
        v.extend_from_slice(&p);
        v.extend_from_slice(extra);
        v.push("/dev/null");
        v
    };
    let cases = [
        (with("send", &["--local-ip", "198.18.0.300"]), "is not an IP address"),
        (with("send", &["--local-ip", "198.18.0.1/40"]), "prefix length"),
        (with("send", &["--gateway", "198.18.9.1"]), "gateway 198.18.9.1 is not on its subnet 198.18.0.1/24"),
        (with("send", &["--vlan", "0"]), "VLAN id 1 to 4094"),
        (with("send", &["--vlan", "4095"]), "VLAN id 1 to 4094"),
        (with("send", &["--vlan", "1,2,3"]), "--vlan gives 3 values for 2 --port members"),
        (with("send", &["--peer-ip", "198.18.0.2,198.18.0.3,198.18.0.4"]), "--peer-ip gives 3 values"),
        (with("send", &["--local-ip", "2001:2::1"]), "give its --peer-ip"),
        (with("send", &["--local-ip", "2001:2::1", "--peer-ip", "198.18.0.2"]), "different IP versions"),
        (with("send", &["--peer-ip", "198.18.7.2"]), "outside 198.18.0.1/24: give --gateway"),
        (with("recv", &["--local-ip", "2001:2::zz"]), "is not an IP address"),
        (with("recv", &["--vlan", "4095"]), "VLAN id 1 to 4094"),
        (with("recv", &["--local-ip", "198.18.0.2/24,198.18.1.2/24,198.18.2.2/24"]), "--local-ip gives 3 values"),
    ];
    for (argv, needle) in cases {
        let d = run_bin(dir.path(), &argv, 20);
        assert_eq!(d.code(), Some(2), "{argv:?}: {}", d.stderr);
        assert_one_error_line(&d.stderr, needle);
    }
}
