//! Draws the PNG plots of `scripts/bench` from its JSON results:
//!
//! - `throughput-links.png`: Gbit/s against the number of links (stripecat
//!   over memif, wall time and its own transfer time; the loopback TCP tools
//!   as reference lines; the shaped veth links);
//! - `throughput-frame-size.png`: `stripecat bench tx` against `dpdk-testpmd`
//!   txonly, Mpps and Gbit/s on the wire against the frame size;
//! - `latency-cdf.png`: the round-trip CDF through `bench reflect`, memif and
//!   veth.
//!
//! Usage: `bench-plot RESULTS.json OUT_DIR FONT.ttf`. A plot whose data is
//! missing from the JSON (a part that did not run) is skipped.

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontStyle;
use serde_json::Value;

type Res<T> = Result<T, Box<dyn Error>>;

const SIZE: (u32, u32) = (1000, 640);
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: bench-plot RESULTS.json OUT_DIR FONT.ttf");
        std::process::exit(2);
    }
    if let Err(e) = run(&args[1], Path::new(&args[2]), &args[3]) {
        eprintln!("bench-plot: error: {e}");
        std::process::exit(1);
    }
}

fn run(json: &str, out: &Path, font: &str) -> Res<()> {
    let bytes: &'static [u8] = Box::leak(std::fs::read(font).map_err(|e| format!("{font}: {e}"))?.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| format!("{font} is not a usable font"))?;
    let v: Value = serde_json::from_str(&std::fs::read_to_string(json).map_err(|e| format!("{json}: {e}"))?)?;
    let title_tail = format!(
        "{} CPUs, {} ({})",
        v["machine"]["nproc"],
        v["revision"].as_str().unwrap_or("?"),
        v["date_utc"].as_str().unwrap_or("?")
    );
    let mut drawn = Vec::new();
    if links(&v, &out.join("throughput-links.png"), &title_tail)? {
        drawn.push("throughput-links.png");
    }
    if frame_sizes(&v, &out.join("throughput-frame-size.png"), &title_tail)? {
        drawn.push("throughput-frame-size.png");
    }
    if latency(&v, &out.join("latency-cdf.png"), &title_tail)? {
        drawn.push("latency-cdf.png");
    }
    eprintln!(
        "bench-plot: wrote {}",
        if drawn.is_empty() { "nothing (no data)".to_string() } else { drawn.join(", ") }
    );
    Ok(())
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn links(v: &Value, path: &Path, tail: &str) -> Res<bool> {
    let s = &v["summary"];
    let mut wall = Vec::new();
    let mut own = Vec::new();
    for n in [1u32, 2, 4] {
        let c = &s[format!("memif{n}")];
        if let Some(g) = num(&c["gbit_s"]) {
            wall.push((n as f64, g));
        }
        if let Some(g) = num(&c["transfer_gbit_s"]) {
            own.push((n as f64, g));
        }
    }
    let refs: Vec<(&str, f64)> =
        ["nc", "ncat", "socat", "iperf3"].iter().filter_map(|t| num(&s[*t]["gbit_s"]).map(|g| (*t, g))).collect();
    let sh = &v["shaped"]["summary"];
    let shaped_s = num(&sh["stripecat_gbit_s"]);
    let shaped_sx = num(&sh["stripecat_transfer_gbit_s"]);
    let shaped_n = num(&sh["nc_gbit_s"]);
    if wall.is_empty() && shaped_s.is_none() {
        return Ok(false);
    }
    let ymax = wall
        .iter()
        .chain(&own)
        .map(|p| p.1)
        .chain(refs.iter().map(|r| r.1))
        .chain([shaped_s, shaped_sx, shaped_n].into_iter().flatten())
        .fold(1.0f64, f64::max)
        * 1.15;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Throughput against links, file to /dev/null - {tail}"), ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..4.5f64, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("links")
        .y_desc("Gbit/s")
        .x_labels(8)
        .x_label_formatter(&|x| {
            if (x.fract()).abs() < 1e-9 && [1.0, 2.0, 4.0].contains(x) {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .label_style(("sans-serif", 15))
        .draw()?;
    let mut ci = 0;
    for (name, pts) in [("stripecat over memif, wall time", &wall), ("stripecat over memif, own transfer time", &own)] {
        if pts.is_empty() {
            continue;
        }
        let c = COLORS[ci % COLORS.len()];
        ci += 1;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 5, c.filled())))?;
    }
    for (name, g) in &refs {
        let c = COLORS[ci % COLORS.len()];
        ci += 1;
        chart
            .draw_series(DashedLineSeries::new([(0.5, *g), (4.5, *g)], 6, 4, c.stroke_width(1)))?
            .label(format!("{name}, loopback TCP, wall time"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(1)));
    }
    let shaped_pts: Vec<(&str, (f64, f64))> = [
        ("stripecat, 4 veth links shaped to 1 Gbit/s (wall)", shaped_s.map(|g| (4.0, g))),
        ("stripecat, 4 shaped links (own transfer time)", shaped_sx.map(|g| (4.0, g))),
        ("nc, 1 veth link shaped to 1 Gbit/s", shaped_n.map(|g| (1.0, g))),
    ]
    .into_iter()
    .filter_map(|(n, p)| p.map(|p| (n, p)))
    .collect();
    for (name, p) in shaped_pts {
        let c = COLORS[ci % COLORS.len()];
        ci += 1;
        chart
            .draw_series([TriangleMarker::new(p, 8, c.filled())])?
            .label(name)
            .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 6, c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(true)
}

fn frame_sizes(v: &Value, path: &Path, tail: &str) -> Res<bool> {
    let Some(rows) = v["capacity"]["summary"].as_array().filter(|r| !r.is_empty()) else { return Ok(false) };
    let get = |key: &str| -> Vec<(f64, f64)> {
        rows.iter().filter_map(|r| Some((num(&r["frame_size"])?, num(&r[key])?))).collect()
    };
    let series = [
        ("stripecat bench tx", get("stripecat_tx_mpps")),
        ("dpdk-testpmd txonly", get("testpmd_tx_mpps")),
        ("stripecat bench rx", get("stripecat_rx_mpps")),
        ("dpdk-testpmd rxonly", get("testpmd_rx_mpps")),
    ];
    let xmax = rows.iter().filter_map(|r| num(&r["frame_size"])).fold(64.0, f64::max) * 1.1;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.draw_text(
        &format!("One memif pair: packet rate and wire rate against frame size - {tail}"),
        &("sans-serif", 20).into_font().color(&BLACK),
        (15, 12),
    )?;
    let (left, right) = body.split_horizontally(SIZE.0 / 2);
    for (area, wire) in [(left, false), (right, true)] {
        let val = |size: f64, mpps: f64| if wire { mpps * 1e6 * (size + 20.0) * 8.0 / 1e9 } else { mpps };
        let ymax = series.iter().flat_map(|(_, pts)| pts.iter().map(|&(s, m)| val(s, m))).fold(0.1f64, f64::max) * 1.2;
        let mut chart = ChartBuilder::on(&area)
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..xmax, 0f64..ymax)?;
        chart
            .configure_mesh()
            .x_desc("frame size, bytes (FCS included)")
            .y_desc(if wire { "Gbit/s on the wire (+20 B per frame)" } else { "Mpps" })
            .label_style(("sans-serif", 14))
            .draw()?;
        for (i, (name, pts)) in series.iter().enumerate() {
            if pts.is_empty() {
                continue;
            }
            let c = COLORS[i % COLORS.len()];
            let style = if i < 2 { c.stroke_width(2) } else { c.stroke_width(1) };
            let pts: Vec<(f64, f64)> = pts.iter().map(|&(s, m)| (s, val(s, m))).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), style))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    root.present()?;
    Ok(true)
}

fn latency(v: &Value, path: &Path, tail: &str) -> Res<bool> {
    let Some(runs) = v["latency"].as_array().filter(|r| !r.is_empty()) else { return Ok(false) };
    let mut series = Vec::new();
    for r in runs {
        let link = r["link"].as_str().unwrap_or("?").to_string();
        let Some(cdf) = r["latency"]["cdf"].as_array() else { continue };
        let pts: Vec<(f64, f64)> =
            cdf.iter().filter_map(|p| Some(((num(&p[1])? / 1000.0).max(0.01), num(&p[0])?))).collect();
        if !pts.is_empty() {
            series.push((format!("{link} ({} at {})", r["latency"]["count"], r["rate"].as_str().unwrap_or("?")), pts));
        }
    }
    if series.is_empty() {
        return Ok(false);
    }
    let xs = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0));
    let (lo, hi) = xs.fold((f64::MAX, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Round trip through bench reflect: CDF - {tail}"), ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((lo * 0.8..hi * 1.25).log_scale(), 0f64..100f64)?;
    chart
        .configure_mesh()
        .x_desc("round trip, microseconds (log scale)")
        .y_desc("percentile")
        .label_style(("sans-serif", 15))
        .draw()?;
    for (i, (name, pts)) in series.into_iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(true)
}
