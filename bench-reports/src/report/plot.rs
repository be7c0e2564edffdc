//! Plotting: the SVG charts the report shows, drawn with plotters. Horizontal
//! ratio bars and sample strips share one chart shape (rows against a log
//! axis, first row at the top); thread scaling is a line plot.

use std::path::Path;

use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::{SegmentValue, SegmentedCoord};
use plotters::coord::types::RangedCoordusize;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::format::{fmt_ns, fmt_ratio};
use super::{err, ReportError, Result};

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn plot_err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> ReportError + '_ {
    move |e| err(format!("plotting {}: {e:?}", path.display()))
}

/// True for 1, 2 and 5 times a power of ten: the labelled ticks of a log axis.
fn is_round_log_tick(x: f64) -> bool {
    if !(x > 0.0 && x.is_finite()) {
        return false;
    }
    let m = x / 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .any(|t| (m - t).abs() < 1e-6 * t)
}

type Canvas<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// A white SVG canvas of `size` pixels that writes to `path`.
fn canvas(path: &Path, size: (u32, u32)) -> Result<Canvas<'_>> {
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err(path))?;
    Ok(root)
}

/// A chart of rows against a log x axis.
type RowsChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<LogCoord<f64>, SegmentedCoord<RangedCoordusize>>>;

/// The shape of a rows chart.
struct RowsAxes<'a> {
    title: &'a str,
    /// The x axis runs from `x_range.0` to `x_range.1`, log scale.
    x_range: (f64, f64),
    /// How many rows (segments of the y axis).
    rows: usize,
    /// Width of the row labels, pixels.
    label_width: u32,
    /// Names segment `i`, counted from the bottom.
    segment_label: &'a dyn Fn(usize) -> String,
    /// Labels an x tick; only round log ticks are labelled.
    tick_label: &'a dyn Fn(f64) -> String,
    x_desc: &'a str,
}

/// Builds a rows chart on `root` and draws its mesh and labels.
fn rows_chart<'a, 'b>(
    root: &'a Canvas<'b>,
    path: &Path,
    axes: &RowsAxes<'_>,
) -> Result<RowsChart<'a, 'b>> {
    let pe = plot_err(path);
    let (lo, hi) = axes.x_range;
    let mut chart = ChartBuilder::on(root)
        .caption(axes.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(axes.label_width)
        .build_cartesian_2d((lo..hi).log_scale(), (0..axes.rows).into_segmented())
        .map_err(&pe)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(axes.rows)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => (axes.segment_label)(*i),
            _ => String::new(),
        })
        .x_label_formatter(&|x| {
            if is_round_log_tick(*x) {
                (axes.tick_label)(*x)
            } else {
                String::new()
            }
        })
        .x_desc(axes.x_desc)
        .draw()
        .map_err(&pe)?;
    Ok(chart)
}

/// Draws each named series as a line in its colour, labelled for the
/// legend, with a dot at each point when `dots`.
fn draw_lines<'a, 'b: 'a, CT>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, CT>,
    series: &[(String, Vec<(f64, f64)>)],
    dots: bool,
    path: &Path,
) -> Result<()>
where
    CT: CoordTranslate<From = (f64, f64)>,
{
    let pe = plot_err(path);
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(&pe)?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        if dots {
            chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
                .map_err(&pe)?;
        }
    }
    Ok(())
}

/// Draws the legend box at `position`.
fn draw_legend<'a, 'b: 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, CT>,
    position: SeriesLabelPosition,
    path: &Path,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err(path))
}

/// Horizontal bars on a log axis, one per `(label, series index, ratio)`,
/// first row at the top, with a line at 1x.
pub(super) fn ratio_bars(
    path: &Path,
    title: &str,
    rows: &[(String, usize, f64)],
    series_names: &[String],
) -> Result<()> {
    let n = rows.len();
    let height = (90 + 22 * n) as u32;
    let (lo, hi) = rows
        .iter()
        .map(|r| r.2)
        .fold((1.0f64, 1.0f64), |(lo, hi), r| (lo.min(r), hi.max(r)));
    let (lo, hi) = (lo.max(1e-6) / 1.6, hi * 1.6);
    let root = canvas(path, (900, height))?;
    let pe = plot_err(path);
    // Segment n-1 is drawn at the top: row i goes to segment n-1-i.
    let at = |i: usize| n - 1 - i;
    let labels: Vec<String> = rows
        .iter()
        .rev()
        .map(|(l, s, _)| {
            if series_names.len() > 1 {
                format!(
                    "{l} ({})",
                    series_names[*s].rsplit(' ').next().unwrap_or("")
                )
            } else {
                l.clone()
            }
        })
        .collect();
    let axes = RowsAxes {
        title,
        x_range: (lo, hi),
        rows: n,
        label_width: 260,
        segment_label: &|i| labels.get(i).cloned().unwrap_or_default(),
        tick_label: &|x| format!("{x}x"),
        x_desc: "speedup (log scale), > 1 means the subject is faster",
    };
    let mut chart = rows_chart(&root, path, &axes)?;
    for (si, name) in series_names.iter().enumerate() {
        let color = COLORS[si % COLORS.len()];
        chart
            .draw_series(rows.iter().enumerate().filter(|(_, r)| r.1 == si).map(
                |(i, (_, _, ratio))| {
                    Rectangle::new(
                        [
                            (lo, SegmentValue::Exact(at(i))),
                            (*ratio, SegmentValue::Exact(at(i) + 1)),
                        ],
                        color.filled(),
                    )
                },
            ))
            .map_err(&pe)?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        chart
            .draw_series(rows.iter().enumerate().filter(|(_, r)| r.1 == si).map(
                |(i, (_, _, ratio))| {
                    Text::new(
                        fmt_ratio(*ratio),
                        (*ratio * 1.02, SegmentValue::CenterOf(at(i))),
                        ("sans-serif", 12),
                    )
                },
            ))
            .map_err(&pe)?;
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(n))],
            BLACK.stroke_width(2),
        )))
        .map_err(&pe)?;
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight, path)?;
    root.present().map_err(&pe)?;
    Ok(())
}

/// Lines with points, plus labelled horizontal reference lines.
pub(super) fn line_plot(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    hlines: &[(String, f64)],
) -> Result<()> {
    let pe = plot_err(path);
    let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
    let x_max = xs.fold(1.0f64, f64::max) + 0.5;
    let y_max = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .chain(hlines.iter().map(|h| h.1))
        .fold(0.0f64, f64::max)
        * 1.2;
    let y_max = if y_max > 0.0 { y_max } else { 1.0 };
    let root = canvas(path, (800, 480))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..x_max, 0f64..y_max)
        .map_err(&pe)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(&pe)?;
    draw_lines(&mut chart, series, true, path)?;
    for (i, (name, y)) in hlines.iter().enumerate() {
        let color = COLORS[(series.len() + i) % COLORS.len()];
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.5, *y), (x_max, *y)],
                color.stroke_width(1),
            )))
            .map_err(&pe)?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(1))
            });
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, path)?;
    root.present().map_err(&pe)?;
    Ok(())
}

/// Latency against percentile: x is the number of nines (1 = p90, 2 = p99,
/// 3 = p99.9), y the latency on a log axis; one line per series.
pub(super) fn percentile_plot(
    path: &Path,
    title: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<()> {
    let pe = plot_err(path);
    let pts = || series.iter().flat_map(|s| s.1.iter().copied());
    let x_max = pts().map(|p| p.0).fold(1.0f64, f64::max);
    let (lo, hi) = pts().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    if lo > hi {
        return Err(err(format!("plotting {}: no points", path.display())));
    }
    let (lo, hi) = (lo.max(1.0) / 1.5, hi.max(lo * 2.0) * 1.5);
    let root = canvas(path, (800, 480))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max, (lo..hi).log_scale())
        .map_err(&pe)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (log scale)")
        .max_light_lines(1)
        .y_labels(12)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() > 1e-9 {
                return String::new();
            }
            match x.round() as i32 {
                0 => "p0".into(),
                n => format!("p{}", 100.0 - 10f64.powi(2 - n)),
            }
        })
        .y_label_formatter(&|y| {
            if is_round_log_tick(*y) {
                fmt_ns(*y)
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(&pe)?;
    draw_lines(&mut chart, series, false, path)?;
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, path)?;
    root.present().map_err(&pe)?;
    Ok(())
}

/// One row per benchmark: its samples as dots on a log time axis, the mean
/// as a vertical bar.
pub(super) fn strip_plot(path: &Path, title: &str, rows: &[(String, Vec<f64>, f64)]) -> Result<()> {
    let pe = plot_err(path);
    let n = rows.len();
    let all = rows.iter().flat_map(|r| r.1.iter().copied().chain([r.2]));
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (lo, hi) = (lo.max(1e-3) / 1.5, hi.max(lo * 2.0) * 1.5);
    let height = (90 + 22 * n) as u32;
    let root = canvas(path, (900, height))?;
    let axes = RowsAxes {
        title,
        x_range: (lo, hi),
        rows: n,
        label_width: 280,
        segment_label: &|j| {
            n.checked_sub(1 + j)
                .and_then(|k| rows.get(k))
                .map(|r| r.0.clone())
                .unwrap_or_default()
        },
        tick_label: &fmt_ns,
        x_desc: "time per operation (log scale)",
    };
    let mut chart = rows_chart(&root, path, &axes)?;
    for (i, (_, samples, mean)) in rows.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let i = n - 1 - i; // first row at the top
        chart
            .draw_series(
                samples.iter().map(|s| {
                    Circle::new((*s, SegmentValue::CenterOf(i)), 3, color.mix(0.6).filled())
                }),
            )
            .map_err(&pe)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![
                    (*mean, SegmentValue::Exact(i)),
                    (*mean, SegmentValue::Exact(i + 1)),
                ],
                BLACK.stroke_width(2),
            )))
            .map_err(&pe)?;
    }
    root.present().map_err(&pe)?;
    Ok(())
}

/// One row of a stacked share chart: counts, one per part.
#[derive(Clone, Debug, PartialEq)]
pub struct StackedRow {
    /// The row's label.
    pub label: String,
    /// A count per part, in the order of the part names.
    pub parts: Vec<f64>,
}

/// Horizontal bars, one per row, each split into its parts' shares of the
/// row's total (0-100%), first row at the top; `colors` gives each part's
/// colour.
pub fn stacked_shares(
    path: &Path,
    title: &str,
    rows: &[StackedRow],
    part_names: &[&str],
    colors: &[RGBColor],
) -> Result<()> {
    let pe = plot_err(path);
    let n = rows.len().max(1);
    let legend_height = 20 * part_names.len() as u32;
    let root = canvas(path, (900, 110 + 24 * n as u32 + legend_height))?;
    let (chart_area, legend_area) = root.split_vertically(80 + 24 * n as u32);
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(230)
        .build_cartesian_2d(0f64..100f64, (0..n).into_segmented())
        .map_err(&pe)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => n
                .checked_sub(1 + *i)
                .and_then(|k| rows.get(k))
                .map(|r| r.label.clone())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|x| format!("{x:.0}%"))
        .x_desc("share of the module's mutants")
        .draw()
        .map_err(&pe)?;
    for (i, row) in rows.iter().enumerate() {
        let total: f64 = row.parts.iter().sum();
        if total <= 0.0 {
            continue;
        }
        let at = n - 1 - i;
        let mut left = 0.0;
        for (p, count) in row.parts.iter().enumerate() {
            let width = 100.0 * count / total;
            if width <= 0.0 {
                continue;
            }
            let color = colors[p % colors.len()];
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [
                        (left, SegmentValue::Exact(at)),
                        (left + width, SegmentValue::Exact(at + 1)),
                    ],
                    color.filled(),
                )))
                .map_err(&pe)?;
            left += width;
        }
    }
    for (p, name) in part_names.iter().enumerate() {
        let color = colors[p % colors.len()];
        let y = 5 + 20 * p as i32;
        legend_area
            .draw(&Rectangle::new([(240, y), (254, y + 14)], color.filled()))
            .map_err(&pe)?;
        legend_area
            .draw(&Text::new(
                name.to_string(),
                (262, y + 1),
                ("sans-serif", 13),
            ))
            .map_err(&pe)?;
    }
    root.present().map_err(&pe)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks() {
        assert!(is_round_log_tick(1.0) && is_round_log_tick(200.0) && is_round_log_tick(0.5));
        assert!(!is_round_log_tick(3.0) && !is_round_log_tick(0.0) && !is_round_log_tick(70.0));
    }
}
