//! Which CPUs run what. EAL pins every lcore; by default stripecat runs its
//! poll loop on the main lcore and lets it float over all CPUs (so two
//! processes and their I/O threads share a small machine). `--lcores LIST`
//! names dedicated CPUs for poll loops: worker lcores 1..=k pinned there.

use crate::exit::{ExitCode, Failure};

/// Parses a CPU list like `1-3,5`.
pub fn parse_cpu_list(s: &str) -> Result<Vec<u32>, Failure> {
    let bad = || {
        Failure::new(ExitCode::Usage, format!("--lcores {s:?} is not a CPU list like 1-3 or 1,3"))
            .hint("name CPUs by number, ranges with '-', separated by ','")
    };
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>().map_err(|_| bad())?, b.trim().parse::<u32>().map_err(|_| bad())?),
            None => {
                let v = part.parse::<u32>().map_err(|_| bad())?;
                (v, v)
            }
        };
        if a > b || b >= 1024 {
            return Err(bad());
        }
        for c in a..=b {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// The EAL `--lcores` map: main lcore 0 floating over every CPU, then one
/// worker lcore per listed CPU.
pub fn eal_lcore_map(workers: &[u32]) -> String {
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut map = if ncpu > 1 { format!("0@(0-{})", ncpu - 1) } else { "0@0".to_string() };
    for (i, cpu) in workers.iter().enumerate() {
        map.push_str(&format!(",{}@{}", i + 1, cpu));
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("1-3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_cpu_list("1,3, 2").unwrap(), vec![1, 3, 2]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("a").is_err());
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn map_has_floating_main_and_pinned_workers() {
        let m = eal_lcore_map(&[1]);
        assert!(m.starts_with("0@"), "{m}");
        assert!(m.ends_with(",1@1"), "{m}");
    }
}
