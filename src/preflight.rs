//! Checks made before EAL starts, so the common set-up mistakes get one clear
//! line and a hint instead of a page of EAL log: not root, no free
//! hugepages, a PCI device still on its kernel driver.

use std::path::{Path, PathBuf};

use crate::exit::Failure;

/// Drivers through which DPDK can drive a PCI NIC. mlx4/mlx5 are bifurcated:
/// DPDK uses them while the kernel driver stays bound.
const DPDK_PCI_DRIVERS: &[&str] = &["vfio-pci", "uio_pci_generic", "igb_uio", "mlx5_core", "mlx4_core"];

/// Where sysfs is (tests point this at a fake tree).
#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Sysfs { root: PathBuf::from("/sys") }
    }
}

/// Reserved and free hugepages, summed over page sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hugepages {
    pub total: u64,
    pub free: u64,
    /// Bytes free over all sizes.
    pub free_bytes: u64,
}

impl Sysfs {
    pub fn at(root: impl Into<PathBuf>) -> Sysfs {
        Sysfs { root: root.into() }
    }

    fn read_u64(path: &Path) -> Option<u64> {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// Sums every `hugepages-<size>kB` directory.
    pub fn hugepages(&self) -> Hugepages {
        let mut h = Hugepages::default();
        let dir = self.root.join("kernel/mm/hugepages");
        let Ok(entries) = std::fs::read_dir(&dir) else { return h };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(kb) =
                name.strip_prefix("hugepages-").and_then(|s| s.strip_suffix("kB")).and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let total = Self::read_u64(&e.path().join("nr_hugepages")).unwrap_or(0);
            let free = Self::read_u64(&e.path().join("free_hugepages")).unwrap_or(0);
            h.total += total;
            h.free += free;
            h.free_bytes += free * kb * 1024;
        }
        h
    }

    /// The kernel driver a PCI device is bound to: `Ok(None)` when unbound,
    /// `Err(NoSuchDevice)` when the bus has no device at that address.
    pub fn pci_driver(&self, addr: &str) -> Result<Option<String>, NoSuchDevice> {
        let dev = self.root.join("bus/pci/devices").join(addr);
        if !dev.exists() {
            return Err(NoSuchDevice);
        }
        Ok(std::fs::read_link(dev.join("driver"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())))
    }
}

/// The PCI bus has no device at the address asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSuchDevice;

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    effective_uid() == 0
}

/// DPDK needs root here (hugepages, device access).
pub fn check_root() -> Result<(), Failure> {
    if !is_root() {
        return Err(Failure::env("DPDK needs root for hugepages and device access")
            .hint("run stripecat with sudo (or as root)"));
    }
    Ok(())
}

fn effective_uid() -> u32 {
    // std exposes no geteuid; /proc/self/status is the portable read.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).and_then(|u| u.parse().ok()))
        })
        .unwrap_or(u32::MAX)
}

/// At least one hugepage must be free, unless EAL runs with `--no-huge`.
pub fn check_hugepages(sys: &Sysfs) -> Result<Hugepages, Failure> {
    let h = sys.hugepages();
    if h.total == 0 {
        return Err(Failure::env("no hugepages are reserved")
            .hint("run scripts/setup-hugepages.sh (as root) to reserve them as hugepages.conf says"));
    }
    if h.free == 0 {
        return Err(Failure::env(format!("all {} reserved hugepages are in use", h.total))
            .hint("another DPDK process may hold them; stop it or reserve more with scripts/setup-hugepages.sh"));
    }
    Ok(h)
}

/// A PCI member must exist and be bound to a driver DPDK can use.
pub fn check_pci_bound(sys: &Sysfs, addr: &str) -> Result<(), Failure> {
    match sys.pci_driver(addr) {
        Err(NoSuchDevice) => Err(Failure::env(format!("there is no PCI device {addr}"))
            .hint("list network devices with `dpdk-devbind.py --status` or `lspci -D | grep -i ether`")),
        Ok(Some(d)) if DPDK_PCI_DRIVERS.contains(&d.as_str()) => Ok(()),
        Ok(Some(d)) => {
            Err(Failure::env(format!("PCI device {addr} is bound to kernel driver {d}, not to a DPDK driver"))
                .hint(format!("bind it with `scripts/bind-nics.sh {addr}` (and `--restore` to give it back)")))
        }
        Ok(None) => Err(Failure::env(format!("PCI device {addr} is not bound to any driver"))
            .hint(format!("bind it with `scripts/bind-nics.sh {addr}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fake() -> (tempdir::Dir, Sysfs) {
        let d = tempdir::Dir::new();
        let s = Sysfs::at(d.path());
        (d, s)
    }

    fn hp(root: &Path, kb: u64, total: u64, free: u64) {
        let dir = root.join(format!("kernel/mm/hugepages/hugepages-{kb}kB"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("nr_hugepages"), format!("{total}\n")).unwrap();
        fs::write(dir.join("free_hugepages"), format!("{free}\n")).unwrap();
    }

    #[test]
    fn hugepages_none_reserved_names_the_setup_script() {
        let (d, s) = fake();
        hp(d.path(), 2048, 0, 0);
        let e = check_hugepages(&s).unwrap_err();
        assert!(e.to_string().contains("scripts/setup-hugepages.sh"), "{e}");
    }

    #[test]
    fn hugepages_all_in_use_is_an_error_and_some_free_is_fine() {
        let (d, s) = fake();
        hp(d.path(), 2048, 512, 0);
        hp(d.path(), 1048576, 0, 0);
        assert!(check_hugepages(&s).unwrap_err().to_string().contains("512"));
        hp(d.path(), 2048, 512, 3);
        let h = check_hugepages(&s).unwrap();
        assert_eq!((h.total, h.free, h.free_bytes), (512, 3, 3 * 2048 * 1024));
    }

    #[test]
    fn pci_binding_checks() {
        let (d, s) = fake();
        let devs = d.path().join("bus/pci/devices");
        let drivers = d.path().join("bus/pci/drivers");
        for (addr, drv) in [("0000:03:00.0", Some("ixgbe")), ("0000:03:00.1", Some("vfio-pci")), ("0000:04:00.0", None)]
        {
            fs::create_dir_all(devs.join(addr)).unwrap();
            if let Some(drv) = drv {
                fs::create_dir_all(drivers.join(drv)).unwrap();
                std::os::unix::fs::symlink(drivers.join(drv), devs.join(addr).join("driver")).unwrap();
            }
        }
        let e = check_pci_bound(&s, "0000:03:00.0").unwrap_err();
        assert!(e.to_string().contains("ixgbe") && e.to_string().contains("scripts/bind-nics.sh 0000:03:00.0"), "{e}");
        assert!(check_pci_bound(&s, "0000:03:00.1").is_ok());
        assert!(check_pci_bound(&s, "0000:04:00.0").unwrap_err().to_string().contains("not bound"));
        assert!(check_pci_bound(&s, "0000:05:00.0").unwrap_err().to_string().contains("no PCI device"));
    }

    /// A tiny self-deleting temporary directory (no extra dependency).
    mod tempdir {
        use std::path::{Path, PathBuf};
        use std::sync::atomic::{AtomicU32, Ordering};

        pub struct Dir(PathBuf);
        static N: AtomicU32 = AtomicU32::new(0);

        impl Dir {
            pub fn new() -> Dir {
                let p = std::env::temp_dir().join(format!(
                    "stripecat-preflight-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}
