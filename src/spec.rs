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
}
