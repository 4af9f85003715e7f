//! `bank.svg`, for bank runs: the total of every read of the accounts over
//! time (a read that sums to anything else is a red cross), the total the
//! accounts were opened with as a line, and the fault periods shaded behind.

use super::ops::Analysis;
use super::plots::{draw_legend, plot_err, secs, shade_faults, x_max, SIZE};
use faultline_checkers::bank;
use faultline_checkers::History;
use plotters::prelude::*;

pub const FILE: &str = "bank.svg";

/// The plot, or `None` when the history is not a bank history.
pub fn svg(history: &History, a: &Analysis<'_>) -> anyhow::Result<Option<String>> {
    let Ok(parsed) = bank::parse(history) else {
        return Ok(None);
    };
    let expected = parsed.total as f64;
    let points: Vec<(f64, f64)> = bank::totals(history)
        .into_iter()
        .map(|(t, total)| (secs(a, t), total as f64))
        .collect();
    let lo = points.iter().map(|p| p.1).fold(expected, f64::min);
    let hi = points.iter().map(|p| p.1).fold(expected, f64::max);
    let pad = ((hi - lo) * 0.1).max(expected.abs() * 0.1).max(1.0);
    let y = (lo - pad, hi + pad);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let xm = x_max(a);
        let mut chart = ChartBuilder::on(&root)
            .caption("Total of each read of the accounts", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..xm, y.0..y.1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("sum of the balances read")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_err)?;
        shade_faults(&mut chart, a, y)?;
        let green = RGBColor(44, 160, 44);
        chart
            .draw_series(LineSeries::new(
                [(0.0, expected), (xm, expected)],
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(plot_err)?
            .label(format!("opening total {}", parsed.total))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.mix(0.5)));
        let (good, bad): (Vec<_>, Vec<_>) = points.into_iter().partition(|p| p.1 == expected);
        chart
            .draw_series(
                good.into_iter()
                    .map(move |p| Circle::new(p, 2, green.mix(0.7).filled())),
            )
            .map_err(plot_err)?
            .label("read: right total")
            .legend(move |(x, y)| Circle::new((x + 6, y), 3, green.filled()));
        chart
            .draw_series(
                bad.into_iter()
                    .map(|p| Cross::new(p, 4, RED.stroke_width(2))),
            )
            .map_err(plot_err)?
            .label("read: wrong total")
            .legend(|(x, y)| Cross::new((x + 6, y), 4, RED.stroke_width(2)));
        draw_legend(&mut chart)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Some(svg))
}
