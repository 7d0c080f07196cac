//! `--plot`: the measured round's latency distribution and delivery rate as
//! one SVG, to see tails and stalls that percentiles alone hide.

use std::path::Path;

use plotters::prelude::*;

use crate::Error;
use crate::tracker::{BUCKET_NS, Tracker};

pub fn write(path: &Path, t: &Tracker) -> Result<(), Error> {
    let root = SVGBackend::new(path, (1000, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(400);

    // Latency against percentile, on a log-like percentile axis: x is
    // -log10(1 - q), so 90%, 99% and 99.9% are evenly spaced.
    let h = t.histogram();
    let mut points: Vec<(f64, f64)> = Vec::new();
    if !h.is_empty() {
        for q in h.iter_quantiles(4) {
            let tail = 1.0 - q.quantile_iterated_to();
            if tail <= 0.0 {
                break;
            }
            points.push((-tail.log10(), q.value_iterated_to() as f64 / 1000.0));
        }
        points.push((4.0, h.max() as f64 / 1000.0));
    }
    let max_us = points.iter().map(|p| p.1).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&top)
        .caption("delivery latency by percentile", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..4.0f64, 0.0..max_us * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .x_labels(5)
        .x_label_formatter(&|x| format!("{}%", 100.0 * (1.0 - 10f64.powf(-x.round()))))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    chart.draw_series(LineSeries::new(points, &RED))?;

    let per_s = 1e9 / BUCKET_NS as f64;
    let series: Vec<(f64, f64)> = t
        .timeline()
        .iter()
        .enumerate()
        .map(|(i, &n)| (i as f64 / per_s, n as f64 * per_s))
        .collect();
    let max_rate = series.iter().map(|p| p.1).fold(1.0, f64::max);
    let max_t = series.last().map_or(1.0, |p| p.0.max(0.1));
    let mut chart = ChartBuilder::on(&bottom)
        .caption("deliveries per second", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..max_t, 0.0..max_rate * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the round began")
        .y_desc("deliveries/s")
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    chart.draw_series(LineSeries::new(series, &BLUE))?;
    root.present()?;
    Ok(())
}
