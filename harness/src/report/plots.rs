//! `latency.svg` and `rate.svg`, drawn with plotters: latency of every op over
//! time and throughput over time, by function and outcome, with the fault
//! periods shaded behind.
//!
//! A scatter of 100k ops would make a huge SVG of mostly overlapping dots, so
//! points of one series that fall in the same 3x3 pixels are drawn once: the image
//! is the same, the file is a fraction of the size.

use super::ops::{Analysis, FaultPeriod, Outcome};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::{BTreeMap, HashSet};

pub(super) const SIZE: (u32, u32) = (1000, 520);
/// Side of the square of pixels in which one scatter point stands for all.
const CELL: u32 = 3;

/// Colours for functions, in order of first appearance.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
];

pub fn fault_color(kind: &str) -> RGBColor {
    match kind {
        "partition" => RGBColor(59, 111, 216),
        "kill" => RGBColor(192, 57, 43),
        "pause" => RGBColor(142, 68, 173),
        "stall" => RGBColor(22, 160, 133),
        "reset" => RGBColor(211, 84, 0),
        "clock" => RGBColor(127, 140, 141),
        "loss" => RGBColor(183, 149, 11),
        _ => RGBColor(85, 85, 85),
    }
}

/// The series legend both plots draw, in the upper right corner.
pub(super) fn draw_legend<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(plot_err)
}

pub(super) fn plot_err<E: std::error::Error + Send + Sync>(
    e: DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow::anyhow!("drawing a plot: {e}")
}

/// Seconds since the start of the history.
pub(super) fn secs(a: &Analysis<'_>, t: u64) -> f64 {
    (t.saturating_sub(a.first_time)) as f64 / 1e9
}

pub(super) fn x_max(a: &Analysis<'_>) -> f64 {
    secs(a, a.last_time).max(1e-6)
}

/// Shades each fault period across the whole y range, and gives each fault
/// kind one legend entry.
pub(super) fn shade_faults<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    a: &Analysis<'_>,
    y: (f64, f64),
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let mut labelled = HashSet::new();
    for FaultPeriod {
        fault, start, end, ..
    } in &a.faults
    {
        let color = fault_color(fault);
        let x0 = secs(a, *start);
        let x1 = secs(a, end.unwrap_or(a.last_time)).max(x0 + x_max(a) / 1000.0);
        let series = chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, y.0), (x1, y.1)],
                color.mix(0.15).filled(),
            )))
            .map_err(plot_err)?;
        if labelled.insert(fault.clone()) {
            series
                .label(format!("{fault} (fault)"))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.mix(0.3).filled())
                });
        }
    }
    Ok(())
}

fn empty(root: &DrawingArea<SVGBackend<'_>, Shift>, title: &str) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(plot_err)?;
    root.draw(&Text::new(
        format!("{title}: no client operations in this history"),
        (40, 40),
        ("sans-serif", 18),
    ))
    .map_err(plot_err)?;
    Ok(())
}

/// Latency of every op (invocation time on x, latency on a log y axis),
/// coloured by function, marked by outcome.
pub fn latency_svg(a: &Analysis<'_>) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let points: Vec<(usize, Outcome, f64, f64)> = {
            let fns = a.functions();
            a.spans
                .iter()
                .filter_map(|s| {
                    let lat = s.latency()? as f64 / 1e6;
                    let f = fns.iter().position(|f| *f == s.invoke.f)?;
                    Some((f, s.outcome, secs(a, s.start()), lat))
                })
                .collect()
        };
        if points.is_empty() {
            empty(&root, "latency")?;
            root.present().map_err(plot_err)?;
            drop(root);
            return Ok(svg);
        }
        root.fill(&WHITE).map_err(plot_err)?;
        let lat_min = points
            .iter()
            .map(|p| p.3)
            .fold(f64::MAX, f64::min)
            .max(1e-3);
        let lat_max = points
            .iter()
            .map(|p| p.3)
            .fold(0.0, f64::max)
            .max(lat_min * 10.0);
        let y = (lat_min / 1.5, lat_max * 1.5);
        let mut chart = ChartBuilder::on(&root)
            .caption("Latency of each op", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max(a), (y.0..y.1).log_scale())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("latency (ms)")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_err)?;
        shade_faults(&mut chart, a, y)?;

        let fns = a.functions();
        let mut series: BTreeMap<(usize, Outcome), Vec<(f64, f64)>> = BTreeMap::new();
        let mut seen = HashSet::new();
        let (xm, ly0, ly1) = (x_max(a), y.0.ln(), y.1.ln());
        for (f, o, x, l) in points {
            // The cell of CELL x CELL pixels the point lands on; a marker
            // covers its cell, so one point a cell a series looks the same.
            let px = (x / xm * (SIZE.0 / CELL) as f64) as u32;
            let py = ((l.ln() - ly0) / (ly1 - ly0) * (SIZE.1 / CELL) as f64) as u32;
            if seen.insert((f, o, px, py)) {
                series.entry((f, o)).or_default().push((x, l));
            }
        }
        for ((f, o), pts) in series {
            let color = PALETTE[f % PALETTE.len()];
            let label = format!("{} {}", fns[f], o.name());
            let drawn = match o {
                Outcome::Ok => chart.draw_series(
                    pts.into_iter()
                        .map(move |p| Circle::new(p, 2, color.mix(0.7).filled())),
                ),
                Outcome::Fail => chart.draw_series(
                    pts.into_iter()
                        .map(move |p| TriangleMarker::new(p, 4, color.filled())),
                ),
                _ => chart.draw_series(
                    pts.into_iter()
                        .map(move |p| Cross::new(p, 3, color.stroke_width(2))),
                ),
            }
            .map_err(plot_err)?;
            // The legend shows the colour; the marker's shape is told by outline.
            let legend_style = match o {
                Outcome::Ok => color.filled(),
                Outcome::Fail => color.stroke_width(2),
                _ => color.mix(0.4).filled(),
            };
            drawn
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 6, y), 3, legend_style));
        }
        draw_legend(&mut chart)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Completions a second over time, one line a function and outcome.
pub fn rate_svg(a: &Analysis<'_>) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        if a.spans.iter().all(|s| s.completion.is_none()) {
            empty(&root, "rate")?;
            root.present().map_err(plot_err)?;
            drop(root);
            return Ok(svg);
        }
        root.fill(&WHITE).map_err(plot_err)?;
        let xm = x_max(a);
        let bucket = bucket_width(xm);
        let n_buckets = (xm / bucket).ceil() as usize + 1;
        let fns = a.functions();
        let mut counts: BTreeMap<(usize, Outcome), Vec<u32>> = BTreeMap::new();
        for s in &a.spans {
            let Some(end) = s.end() else { continue };
            let f = fns.iter().position(|f| *f == s.invoke.f).unwrap_or(0);
            let b = ((secs(a, end) / bucket) as usize).min(n_buckets - 1);
            counts
                .entry((f, s.outcome))
                .or_insert_with(|| vec![0; n_buckets])[b] += 1;
        }
        let y_max = counts
            .values()
            .flat_map(|v| v.iter())
            .map(|&c| c as f64 / bucket)
            .fold(1.0, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Throughput ({} s buckets)", trim_float(bucket)),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..xm, 0f64..y_max)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("completions / s")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_err)?;
        shade_faults(&mut chart, a, (0.0, y_max))?;
        for ((f, o), per_bucket) in counts {
            let color = PALETTE[f % PALETTE.len()];
            let style = match o {
                Outcome::Ok => color.stroke_width(2),
                _ => color.mix(0.6).stroke_width(1),
            };
            let pts: Vec<(f64, f64)> = per_bucket
                .iter()
                .enumerate()
                .map(|(i, &c)| ((i as f64 + 0.5) * bucket, c as f64 / bucket))
                .collect();
            chart
                .draw_series(LineSeries::new(pts, style))
                .map_err(plot_err)?
                .label(format!("{} {}", fns[f], o.name()))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        }
        draw_legend(&mut chart)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// A round bucket width giving about 100 buckets over `span` seconds.
fn bucket_width(span: f64) -> f64 {
    const STEPS: [f64; 3] = [1.0, 2.0, 5.0];
    let raw = span / 100.0;
    let mut decade = 10f64.powf(raw.log10().floor());
    loop {
        for s in STEPS {
            if s * decade >= raw {
                return s * decade;
            }
        }
        decade *= 10.0;
    }
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_round() {
        assert_eq!(bucket_width(30.0), 0.5);
        assert_eq!(bucket_width(100.0), 1.0);
        let small = bucket_width(0.002);
        assert!((0.00002..0.00005).contains(&small), "{small}");
        assert_eq!(trim_float(0.5), "0.5");
        assert_eq!(trim_float(2.0), "2");
    }
}
