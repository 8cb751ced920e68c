//! `stripecat ports`: what EAL sees, one line per port.

use crate::dpdk::{self, PortId};
use crate::exit::Failure;
use crate::spec::PortSpec;
use crate::startup::Startup;

/// What `stripecat ports` lists and how.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The ports to probe (vdevs are created); empty: every port EAL finds.
    pub ports: Vec<PortSpec>,
    pub eal: Option<String>,
    /// One JSON object per port instead of a table.
    pub json: bool,
}

/// One row of the listing.
#[derive(Debug, Clone)]
pub struct PortRow {
    pub id: u16,
    pub name: String,
    pub driver: String,
    pub mac: String,
    pub link_up: bool,
    pub speed_mbps: u32,
    pub mtu: Option<u16>,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub numa: Option<i32>,
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn row(id: PortId) -> Result<PortRow, Failure> {
    let info = dpdk::device_info(id).map_err(|e| Failure::env(e.to_string()))?;
    let link = dpdk::link_status(id).ok();
    Ok(PortRow {
        id: id.0,
        name: info.name,
        driver: info.driver,
        mac: dpdk::mac_address(id).map(mac_text).unwrap_or_else(|_| "-".into()),
        link_up: link.map(|l| l.up).unwrap_or(false),
        speed_mbps: link.map(|l| l.speed_mbps).unwrap_or(0),
        mtu: dpdk::mtu(id).ok(),
        max_rx_queues: info.max_rx_queues,
        max_tx_queues: info.max_tx_queues,
        numa: info.socket,
    })
}

fn speed_text(mbps: u32) -> String {
    match mbps {
        0 => "-".into(),
        m if m >= 1000 && m % 1000 == 0 => format!("{}G", m / 1000),
        m if m >= 1000 => format!("{:.1}G", m as f64 / 1000.0),
        m => format!("{m}M"),
    }
}

/// Renders rows as an aligned table with a header.
pub fn table(rows: &[PortRow]) -> String {
    let mut out = vec![["PORT", "NAME", "DRIVER", "MAC", "LINK", "SPEED", "MTU", "MAX-RXQ", "MAX-TXQ", "NUMA"]
        .map(String::from)
        .to_vec()];
    for r in rows {
        out.push(vec![
            r.id.to_string(),
            r.name.clone(),
            r.driver.clone(),
            r.mac.clone(),
            if r.link_up { "up".into() } else { "down".into() },
            speed_text(r.speed_mbps),
            r.mtu.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
            r.max_rx_queues.to_string(),
            r.max_tx_queues.to_string(),
            r.numa.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
        ]);
    }
    let widths: Vec<usize> = (0..out[0].len()).map(|c| out.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let mut s = String::new();
    for r in &out {
        let line: Vec<String> = r.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    s
}

fn json_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

/// Renders rows as a JSON array.
pub fn json(rows: &[PortRow]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{{\"id\":{},\"name\":\"{}\",\"driver\":\"{}\",\"mac\":\"{}\",\"link_up\":{},\"speed_mbps\":{},\"mtu\":{},\"max_rx_queues\":{},\"max_tx_queues\":{},\"numa\":{}}}",
                r.id,
                json_escape(&r.name),
                json_escape(&r.driver),
                r.mac,
                r.link_up,
                r.speed_mbps,
                r.mtu.map(|m| m.to_string()).unwrap_or_else(|| "null".into()),
                r.max_rx_queues,
                r.max_tx_queues,
                r.numa.map(|n| n.to_string()).unwrap_or_else(|| "null".into()),
            )
        })
        .collect();
    format!("[{}]\n", items.join(","))
}

pub fn run(args: &Plan, verbose: u8) -> Result<(), Failure> {
    let started = Startup {
        ports: args.ports.clone(),
        eal: args.eal.clone(),
        verbose,
        scan_pci_when_empty: true,
        ..Default::default()
    }
    .start()?;
    let ids = if args.ports.is_empty() { started.eal.ports() } else { started.ports.clone() };
    let rows = ids.into_iter().map(row).collect::<Result<Vec<_>, _>>()?;
    let text = if args.json { json(&rows) } else { table(&rows) };
    print!("{text}");
    if rows.is_empty() && !args.json {
        eprintln!(
            "stripecat: no DPDK ports found (bind NICs with scripts/bind-nics.sh, or name vdevs with --port net_...)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PortRow {
        PortRow {
            id: 0,
            name: "net_ring0".into(),
            driver: "net_ring".into(),
            mac: "02:00:00:00:00:00".into(),
            link_up: true,
            speed_mbps: 10000,
            mtu: Some(1500),
            max_rx_queues: 1024,
            max_tx_queues: 1024,
            numa: None,
        }
    }

    #[test]
    fn table_has_header_and_aligned_columns() {
        let t = table(&[sample()]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("PORT  NAME"));
        assert!(lines[1].contains("net_ring0") && lines[1].contains("10G") && lines[1].ends_with('-'));
        assert_eq!(lines[0].find("DRIVER"), lines[1].find("net_ring "));
    }

    #[test]
    fn json_is_well_formed() {
        let j = json(&[sample()]);
        assert!(j.starts_with("[{\"id\":0,\"name\":\"net_ring0\""));
        assert!(j.contains("\"numa\":null"));
        assert_eq!(json_escape("a\"b\\c\n"), "a\\\"b\\\\c\\u000a");
    }

    #[test]
    fn speeds_read_naturally() {
        assert_eq!(speed_text(0), "-");
        assert_eq!(speed_text(100), "100M");
        assert_eq!(speed_text(25000), "25G");
        assert_eq!(speed_text(2500), "2.5G");
    }
}
