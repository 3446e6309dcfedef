//! The bench plot, written by hand: throughput (left axis) and p99 latency (right axis)
//! against pool size (a log scale, since sizes usually double).

use std::fmt::Write as _;

use crate::units::fmt_duration;
use crate::workload::{describe, Row};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 80.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const TICKS: usize = 5;
const THROUGHPUT_COLOR: &str = "#1f77b4";
const LATENCY_COLOR: &str = "#d62728";

/// The SVG document for `rows`, with `recommended` marked.
pub fn plot(title: &str, rows: &[Row], recommended: Option<usize>) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
    let _ = writeln!(
        svg,
        r#"<path d="M{x0},{y1} V{y0} H{x1} V{y1}" fill="none" stroke="black"/>"#
    );
    if rows.is_empty() {
        svg.push_str("</svg>\n");
        return svg;
    }

    let sizes: Vec<f64> = rows.iter().map(|r| (r.size.max(1) as f64).ln()).collect();
    let (lo, hi) = (sizes[0], sizes[sizes.len() - 1]);
    let x = |i: usize| {
        if hi > lo {
            x0 + (sizes[i] - lo) / (hi - lo) * (x1 - x0)
        } else {
            (x0 + x1) / 2.0
        }
    };
    let max_rate = rows
        .iter()
        .map(|r| r.throughput)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let max_p99 = rows
        .iter()
        .map(|r| r.p99.as_secs_f64())
        .fold(0.0, f64::max)
        .max(1e-6)
        * 1.1;
    let y_rate = |v: f64| y0 - v / max_rate * (y0 - y1);
    let y_p99 = |v: f64| y0 - v / max_p99 * (y0 - y1);

    for t in 0..=TICKS {
        let f = t as f64 / TICKS as f64;
        let y = y0 - f * (y0 - y1);
        let _ = writeln!(
            svg,
            r##"<path d="M{x0},{y} H{x1}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end" fill="{THROUGHPUT_COLOR}">{:.0}</text><text x="{}" y="{}" fill="{LATENCY_COLOR}">{}</text>"##,
            x0 - 6.0,
            y + 4.0,
            f * max_rate,
            x1 + 6.0,
            y + 4.0,
            fmt_duration(std::time::Duration::from_secs_f64(f * max_p99)),
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x(i),
            y0 + 18.0,
            row.size
        );
    }
    if let Some(i) = recommended.and_then(|size| rows.iter().position(|r| r.size == size)) {
        let _ = writeln!(
            svg,
            r##"<path d="M{},{y0} V{y1}" stroke="#2ca02c" stroke-dasharray="4 4"/><text x="{}" y="{}" text-anchor="middle" fill="#2ca02c">recommended</text>"##,
            x(i),
            x(i),
            y1 - 6.0
        );
    }
    for (values, color, y) in [
        (
            rows.iter().map(|r| r.throughput).collect::<Vec<_>>(),
            THROUGHPUT_COLOR,
            &y_rate as &dyn Fn(f64) -> f64,
        ),
        (
            rows.iter().map(|r| r.p99.as_secs_f64()).collect(),
            LATENCY_COLOR,
            &y_p99,
        ),
    ] {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            points.join(" ")
        );
        for (i, v) in values.iter().enumerate() {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>{}</title></circle>"#,
                x(i),
                y(*v),
                escape(&describe(&rows[i]))
            );
        }
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">pool size (workers, log scale)</text>"#,
        (x0 + x1) / 2.0,
        HEIGHT - 18.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})" fill="{THROUGHPUT_COLOR}">throughput (jobs/s)</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle" transform="rotate(90 {} {})" fill="{LATENCY_COLOR}">p99 latency</text>"#,
        WIDTH - 14.0,
        (y0 + y1) / 2.0,
        WIDTH - 14.0,
        (y0 + y1) / 2.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_plot_has_both_series_and_the_recommendation() {
        let rows: Vec<Row> = [1, 2, 4]
            .iter()
            .map(|&size| Row {
                size,
                wall: Duration::from_millis(10),
                throughput: 100.0 * size as f64,
                p99: Duration::from_micros(200 * size as u64),
            })
            .collect();
        let svg = plot("a <b> & c", &rows, Some(4));
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 6);
        assert!(svg.contains("recommended"));
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
    }

    #[test]
    fn one_size_or_none_still_draws() {
        let row = Row {
            size: 8,
            wall: Duration::from_millis(10),
            throughput: 50.0,
            p99: Duration::ZERO,
        };
        assert!(plot("t", &[row], None).contains("<polyline"));
        assert!(plot("t", &[], None).ends_with("</svg>\n"));
    }
}
