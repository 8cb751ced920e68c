//! `--port SPEC`: a PCI address (given to EAL as `-a`) or vdev devargs
//! starting with `net_` (given as `--vdev`).

use std::fmt;
use std::str::FromStr;

/// One member port as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// `DDDD:BB:DD.F[,devargs]`, domain added when omitted.
    Pci { addr: String, args: Option<String> },
    /// `net_NAME[,key=value...]`.
    Vdev { name: String, args: Option<String> },
}

impl PortSpec {
    /// The name DPDK gives the port (the PCI address or the vdev name).
    pub fn port_name(&self) -> &str {
        match self {
            PortSpec::Pci { addr, .. } => addr,
            PortSpec::Vdev { name, .. } => name,
        }
    }

    /// A memif port in the client role: its driver does not retry a
    /// connection by itself, so a down link is restarted while waiting.
    pub fn is_memif_client(&self) -> bool {
        matches!(self, PortSpec::Vdev { name, args }
            if name.starts_with("net_memif") && args.as_deref().is_some_and(|a| a.split(',').any(|kv| kv.trim() == "role=client")))
    }

    /// The socket path of a memif port (`socket=`), if given.
    pub fn memif_socket(&self) -> Option<&str> {
        match self {
            PortSpec::Vdev { name, args: Some(a) } if name.starts_with("net_memif") => {
                a.split(',').find_map(|kv| kv.trim().strip_prefix("socket="))
            }
            _ => None,
        }
    }

    /// The string handed to EAL.
    pub fn eal_arg(&self) -> String {
        let (base, args) = match self {
            PortSpec::Pci { addr, args } => (addr, args),
            PortSpec::Vdev { name, args } => (name, args),
        };
        match args {
            Some(a) => format!("{base},{a}"),
            None => base.clone(),
        }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.eal_arg())
    }
}

/// Why a SPEC is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("empty port spec")]
    Empty,
    #[error("{0:?} is neither a PCI address (like 0000:03:00.0) nor vdev devargs starting with net_ (like net_ring0)")]
    Unrecognised(String),
    #[error("vdev name {0:?} must be net_ followed by letters, digits or _")]
    BadVdevName(String),
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Normalises `BB:DD.F` or `DDDD:BB:DD.F` to `dddd:bb:dd.f`; `None` otherwise.
pub fn parse_pci_addr(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (domain, bus, devfn) = match parts.as_slice() {
        [bus, devfn] => ("0000", *bus, *devfn),
        [domain, bus, devfn] => (*domain, *bus, *devfn),
        _ => return None,
    };
    let (dev, func) = devfn.split_once('.')?;
    let func_ok = func.len() == 1 && matches!(func.as_bytes()[0], b'0'..=b'7');
    if is_hex(domain, 4) && is_hex(bus, 2) && is_hex(dev, 2) && func_ok {
        Some(format!("{domain}:{bus}:{dev}.{func}").to_ascii_lowercase())
    } else {
        None
    }
}

impl FromStr for PortSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(SpecError::Empty);
        }
        let (base, args) = match s.split_once(',') {
            Some((b, a)) => (b, (!a.is_empty()).then(|| a.to_string())),
            None => (s, None),
        };
        if let Some(rest) = base.strip_prefix("net_") {
            if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(SpecError::BadVdevName(base.into()));
            }
            return Ok(PortSpec::Vdev { name: base.into(), args });
        }
        if let Some(addr) = parse_pci_addr(base) {
            return Ok(PortSpec::Pci { addr, args });
        }
        Err(SpecError::Unrecognised(s.into()))
    }
}

/// memif's default packet buffer size (DPDK 22.11 `ETH_MEMIF_DEFAULT_PKT_BUFFER_SIZE`).
const MEMIF_DEFAULT_BSIZE: u32 = 2048;
/// af_packet's defaults (DPDK 22.11): 512 frames of 2048 bytes in page-sized blocks, 1 MiB a ring.
const AFP_DEFAULT_FRAMESZ: u32 = 2048;
const AFP_DEFAULT_FRAMECNT: u32 = 512;
const PAGE: u32 = 4096;
/// Where the kernel puts a frame's first byte in a TPACKET_V2 receive slot:
/// `TPACKET_ALIGN(TPACKET2_HDRLEN + 16) - ETH_HLEN` = 80 - 14 = 66; a slot of
/// `framesz` holds a frame of up to `framesz - 66` bytes untruncated.
const AFP_RX_MAC_OFFSET: u32 = 66;

fn has_key(args: Option<&str>, key: &str) -> bool {
    args.is_some_and(|a| a.split(',').any(|kv| kv.split_once('=').map_or(kv, |(k, _)| k).trim() == key))
}

fn push_args(args: &mut Option<String>, extra: &str) {
    *args = Some(match args.take() {
        Some(a) if !a.is_empty() => format!("{a},{extra}"),
        _ => extra.to_string(),
    });
}

/// af_packet ring geometry for `mtu`: `(framesz, blocksz, framecnt)`.
///
/// DPDK 22.11's af_packet finds receive frame `i` at `i * framesz` from the ring's start, so a block
/// must hold whole frames with nothing left over (`blocksz` a multiple of `framesz`), and the kernel
/// wants `blocksz` a multiple of the page. Its receive queue also refuses (ENOMEM) a `framesz - 32`
/// above the mbuf's data room, and the data plane's receive mbufs hold MTU + 82 bytes (MTU + 14 + 4
/// + 64; 16384-byte frames at MTU 9000 failed exactly so). Hence:
/// - `framesz`: 2048 (the default) when an MTU-sized frame fits in it; else, among the multiples of
///   16 from the receive offset (66) plus the frame (MTU + 14) up to what the mbufs take (MTU + 114),
///   the one with the most factors of two (the smallest block): 9088 = 71 x 128 for MTU 9000.
/// - `blocksz`: the least common multiple of `framesz` and the page: 290816 (71 pages, 32 frames).
/// - `framecnt`: whole blocks, as many as come nearest to the default ring's 1 MiB: 128 at MTU 9000.
pub fn af_packet_geometry(mtu: u16) -> (u32, u32, u32) {
    let need = AFP_RX_MAC_OFFSET + mtu as u32 + 14;
    if need <= AFP_DEFAULT_FRAMESZ {
        return (AFP_DEFAULT_FRAMESZ, PAGE, AFP_DEFAULT_FRAMECNT);
    }
    let lo = need.div_ceil(16) * 16;
    let hi = (mtu as u32 + 14 + 4 + 64 + 32).max(lo);
    let framesz = (lo..=hi).step_by(16).max_by_key(|f| (f.trailing_zeros(), std::cmp::Reverse(*f))).unwrap_or(lo);
    let gcd = |mut a: u32, mut b: u32| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let blocksz = framesz / gcd(framesz, PAGE) * PAGE;
    let ring = AFP_DEFAULT_FRAMECNT * AFP_DEFAULT_FRAMESZ;
    let blocks = ((ring + blocksz / 2) / blocksz).max(1);
    (framesz, blocksz, blocksz / framesz * blocks)
}

/// The devargs a port needs at `mtu` that its driver's defaults do not give, unless the user gave
/// them: memif `bsize` at least the frame (MTU + 14 + 4) rounded up to a power of two (16384 for MTU
/// 9000; DPDK 22.11's memif crashes on multi-buffer jumbo frames); af_packet `framesz`, `blocksz` and
/// `framecnt` from [`af_packet_geometry`] (each only when the user gave none of the three, since
/// they constrain each other). Other ports, and MTUs the defaults already cover, are returned as
/// they are.
pub fn with_mtu_defaults(spec: PortSpec, mtu: u16) -> PortSpec {
    let PortSpec::Vdev { name, mut args } = spec else { return spec };
    if name.starts_with("net_memif") {
        let bsize = (mtu as u32 + 14 + 4).next_power_of_two();
        if bsize > MEMIF_DEFAULT_BSIZE && !has_key(args.as_deref(), "bsize") {
            push_args(&mut args, &format!("bsize={bsize}"));
        }
    } else if name.starts_with("net_af_packet") {
        let (framesz, blocksz, framecnt) = af_packet_geometry(mtu);
        let given = ["framesz", "blocksz", "framecnt"].iter().any(|k| has_key(args.as_deref(), k));
        if framesz > AFP_DEFAULT_FRAMESZ && !given {
            push_args(&mut args, &format!("framesz={framesz},blocksz={blocksz},framecnt={framecnt}"));
        }
    }
    PortSpec::Vdev { name, args }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memif_clients_are_named_by_their_role() {
        let client = |s: &str| s.parse::<PortSpec>().unwrap().is_memif_client();
        assert!(client("net_memif0,role=client,socket=/tmp/a.sock"));
        assert!(client("net_memif1,socket=/tmp/a.sock, role=client"));
        assert!(!client("net_memif0,role=server,socket=/tmp/a.sock"));
        assert!(!client("net_memif0,socket=/tmp/a.sock"), "memif's default role is server");
        assert!(!client("net_af_packet0,iface=veth0,role=client"));
        assert!(!client("net_memif0,socket=/tmp/role=client"));
        let socket = |s: &str| s.parse::<PortSpec>().unwrap().memif_socket().map(str::to_owned);
        assert_eq!(socket("net_memif1,role=client,socket=/tmp/a.sock,id=1").as_deref(), Some("/tmp/a.sock"));
        assert_eq!(socket("net_memif0,role=client"), None);
        assert_eq!(socket("net_af_packet0,iface=x,socket=/y"), None);
    }

    #[test]
    fn vdev_with_and_without_args() {
        assert_eq!("net_ring0".parse(), Ok(PortSpec::Vdev { name: "net_ring0".into(), args: None }));
        let s: PortSpec = "net_memif0,role=server,socket=/tmp/a.sock".parse().unwrap();
        assert_eq!(s.port_name(), "net_memif0");
        assert_eq!(s.eal_arg(), "net_memif0,role=server,socket=/tmp/a.sock");
    }

    #[test]
    fn pci_short_and_long_forms_normalise() {
        let s: PortSpec = "03:00.1".parse().unwrap();
        assert_eq!(s.port_name(), "0000:03:00.1");
        let s: PortSpec = "0000:AF:00.0,rxq_cqe_comp_en=0".parse().unwrap();
        assert_eq!(s.port_name(), "0000:af:00.0");
        assert_eq!(s.eal_arg(), "0000:af:00.0,rxq_cqe_comp_en=0");
    }

    #[test]
    fn rejects_what_is_neither() {
        assert!(matches!("eth0".parse::<PortSpec>(), Err(SpecError::Unrecognised(_))));
        assert!(matches!("03:00.8".parse::<PortSpec>(), Err(SpecError::Unrecognised(_))));
        assert!(matches!("0:03:00.0".parse::<PortSpec>(), Err(SpecError::Unrecognised(_))));
        assert!(matches!("net_".parse::<PortSpec>(), Err(SpecError::BadVdevName(_))));
        assert!(matches!("net_a b".parse::<PortSpec>(), Err(SpecError::BadVdevName(_))));
        assert_eq!("".parse::<PortSpec>(), Err(SpecError::Empty));
    }

    fn defaults(s: &str, mtu: u16) -> String {
        with_mtu_defaults(s.parse().unwrap(), mtu).eal_arg()
    }

    #[test]
    fn memif_bsize_follows_the_mtu_unless_given() {
        assert_eq!(
            defaults("net_memif0,role=server,socket=/tmp/a.sock", 9000),
            "net_memif0,role=server,socket=/tmp/a.sock,bsize=16384"
        );
        assert_eq!(defaults("net_memif0", 9000), "net_memif0,bsize=16384");
        assert_eq!(defaults("net_memif0,socket=/tmp/a", 4000), "net_memif0,socket=/tmp/a,bsize=4096");
        // 1500 + 18 fits memif's default 2048: nothing added
        assert_eq!(defaults("net_memif0,socket=/tmp/a", 1500), "net_memif0,socket=/tmp/a");
        assert_eq!(defaults("net_memif0,bsize=32768,socket=/tmp/a", 9000), "net_memif0,bsize=32768,socket=/tmp/a");
        assert_eq!(defaults("net_memif0,socket=/tmp/a, bsize=4096", 9000), "net_memif0,socket=/tmp/a, bsize=4096");
    }

    #[test]
    fn af_packet_ring_follows_the_mtu_unless_given() {
        assert_eq!(defaults("net_af_packet0,iface=v0a", 1500), "net_af_packet0,iface=v0a");
        assert_eq!(
            defaults("net_af_packet0,iface=v0a,qdisc_bypass=0", 9000),
            "net_af_packet0,iface=v0a,qdisc_bypass=0,framesz=9088,blocksz=290816,framecnt=128"
        );
        // one of the three given: the user's geometry stands as it is
        assert_eq!(defaults("net_af_packet0,iface=v0a,framesz=16384", 9000), "net_af_packet0,iface=v0a,framesz=16384");
        assert_eq!(defaults("net_af_packet0,iface=v0a,framecnt=64", 9000), "net_af_packet0,iface=v0a,framecnt=64");
    }

    #[test]
    fn af_packet_geometry_is_one_the_kernel_and_dpdk_accept() {
        for mtu in [576u16, 1500, 1986, 2000, 3000, 4000, 8000, 9000] {
            let (f, b, n) = af_packet_geometry(mtu);
            assert_eq!(f % 16, 0, "mtu {mtu}: framesz {f} is not TPACKET_ALIGNMENT-aligned");
            assert!(f >= mtu as u32 + 14 + 66, "mtu {mtu}: framesz {f} truncates a full frame");
            // DPDK's receive queue needs framesz - 32 within the data plane's mbuf data room
            assert!(f - 32 <= (mtu as u32 + 14 + 4 + 64).max(2048), "mtu {mtu}: framesz {f} does not fit the rx mbufs");
            // DPDK finds frame i at i * framesz: whole frames per block, blocks of whole pages
            assert!(b % 4096 == 0 && b % f == 0, "mtu {mtu}: blocksz {b} is not whole pages and whole frames of {f}");
            let per = b / f;
            assert_eq!(n % per, 0, "mtu {mtu}: framecnt {n} is not whole blocks of {per}");
            let ring = n as u64 * f as u64;
            assert!((640 << 10..=1600 << 10).contains(&ring), "mtu {mtu}: ring of {ring} bytes is far from 1 MiB");
        }
        assert_eq!(af_packet_geometry(1500), (2048, 4096, 512), "MTU 1500 keeps the driver's defaults");
        assert_eq!(af_packet_geometry(9000), (9088, 290816, 128));
        assert_eq!(af_packet_geometry(4000), (4096, 4096, 256));
    }

    #[test]
    fn other_ports_are_left_alone() {
        assert_eq!(defaults("net_ring0", 9000), "net_ring0");
        assert_eq!(defaults("0000:03:00.0,rxq_cqe_comp_en=0", 9000), "0000:03:00.0,rxq_cqe_comp_en=0");
    }
}
