//! Finds the system DPDK with pkg-config (dynamic linking: Debian's static
//! archives do not link), generates bindings with bindgen, and builds the C
//! shim for DPDK's static-inline fast path with the same flags.

use std::env;
use std::path::PathBuf;

const HINT: &str = "install DPDK and its build tools with `sudo scripts/install-deps.sh`";

/// Structs whose packed-and-aligned layout bindgen cannot express on 22.11;
/// stripecat parses these headers itself in `src/wire/`, so opaque is enough.
const OPAQUE: &[&str] = &["rte_arp_ipv4", "rte_arp_hdr", "rte_l2tpv2_combined_msg_hdr", "rte_gtp_psc_generic_hdr"];

fn main() {
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-changed=shim/wrapper.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let dpdk = match pkg_config::Config::new().statik(false).atleast_version("22.11").probe("libdpdk") {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!("error: DPDK (pkg-config `libdpdk` >= 22.11) was not found: {e}");
            eprintln!("hint: {HINT}");
            std::process::exit(1);
        }
    };
    // The ring PMD's constructor API (`rte_eth_from_rings`) is not in
    // libdpdk.pc's Libs on Debian (PMDs are plugins there); link it by name.
    println!("cargo:rustc-link-lib=dylib=rte_net_ring");
    println!("cargo:rustc-link-lib=dylib=rte_bus_vdev");

    // The exact cflags pkg-config gives (-I, -include rte_config.h, -march=...).
    let cflags = pkg_config_cflags();

    let mut build = cc::Build::new();
    build.file("shim/shim.c").include("shim").warnings(true).opt_level(3);
    for f in &cflags {
        build.flag(f);
    }
    build.compile("stripecat_shim");

    if let Err(e) = clang_sys_present() {
        eprintln!("error: libclang is needed by bindgen and was not found: {e}");
        eprintln!("hint: {HINT}");
        std::process::exit(1);
    }

    let mut builder = bindgen::Builder::default()
        .header("shim/wrapper.h")
        .clang_arg("-Ishim")
        .clang_args(cflags.iter())
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .layout_tests(true)
        .derive_default(true)
        .derive_debug(false)
        .prepend_enum_name(false)
        .generate_comments(false);
    for pattern in [
        "sc_.*",
        "rte_eal_.*",
        "rte_lcore_.*",
        "rte_get_.*_lcore",
        "rte_get_tsc_hz",
        "rte_thread_register",
        "rte_thread_unregister",
        "rte_socket_id",
        "rte_strerror",
        "rte_version",
        "rte_log_set_global_level",
        "rte_log_set_level_pattern",
        "rte_openlog_stream",
        "rte_eal_get_runtime_dir",
        "rte_dev_probe",
        "rte_dev_remove",
        "rte_vdev_init",
        "rte_vdev_uninit",
        "rte_eth_.*",
        "rte_pktmbuf_pool_create",
        "rte_pktmbuf_free_bulk",
        "rte_pktmbuf_clone",
        "rte_mempool_.*",
        "rte_ring_create",
        "rte_ring_free",
        "rte_ring_lookup",
        "rte_epoll_wait",
    ] {
        builder = builder.allowlist_function(pattern);
    }
    for pattern in [
        "rte_mbuf",
        "rte_mempool",
        "rte_ring",
        "rte_ether_addr",
        "rte_ether_hdr",
        "rte_ipv4_hdr",
        "rte_udp_hdr",
        "rte_icmp_hdr",
        "rte_eth_.*",
        "rte_lcore_.*",
        "rte_proc_type_t",
        "rte_epoll_event",
    ] {
        builder = builder.allowlist_type(pattern);
    }
    for pattern in [
        "RTE_ETH_.*",
        "RTE_MBUF_.*",
        "RTE_PKTMBUF_.*",
        "RTE_MAX_LCORE",
        "RTE_MAX_ETHPORTS",
        "RTE_ETHER_.*",
        "RTE_LOG_.*",
        "RTE_VER_.*",
        "RTE_MEMPOOL_.*",
        "RTE_RING_.*",
        "SOCKET_ID_ANY",
        "RTE_EPOLL_PER_THREAD",
        "RTE_INTR_EVENT_.*",
        "E.*",
    ] {
        builder = builder.allowlist_var(pattern);
    }
    for name in OPAQUE {
        builder = builder.opaque_type(name);
    }

    let bindings = builder.generate().unwrap_or_else(|e| {
        eprintln!("error: bindgen failed on the DPDK headers: {e}");
        eprintln!("hint: {HINT}");
        std::process::exit(1);
    });
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings.write_to_file(out.join("bindings.rs")).expect("write bindings.rs");

    // Exposed to dependents as DEP_DPDK_VERSION (see `links = "dpdk"`).
    println!("cargo:version={}", dpdk.version);
    println!("cargo:rustc-env=STRIPECAT_DPDK_VERSION={}", dpdk.version);
}

fn pkg_config_cflags() -> Vec<String> {
    let out = std::process::Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|e| {
            eprintln!("error: could not run pkg-config: {e}");
            eprintln!("hint: {HINT}");
            std::process::exit(1);
        });
    let text = String::from_utf8_lossy(&out.stdout);
    let mut flags = Vec::new();
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-include" {
            if let Some(file) = words.next() {
                flags.push(format!("-include{file}"));
            }
        } else {
            flags.push(w.to_string());
        }
    }
    flags
}

/// bindgen panics with a long message when libclang is missing; check first
/// so the user sees one line and the hint instead.
fn clang_sys_present() -> Result<(), String> {
    let candidates =
        ["/usr/lib/llvm-14/lib", "/usr/lib/llvm-15/lib", "/usr/lib/llvm-16/lib", "/usr/lib/x86_64-linux-gnu"];
    if env::var_os("LIBCLANG_PATH").is_some() {
        return Ok(());
    }
    for dir in candidates {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with("libclang") && name.contains(".so") {
                    return Ok(());
                }
            }
        }
    }
    Err("no libclang*.so under /usr/lib/llvm-*/lib (set LIBCLANG_PATH to override)".into())
}
