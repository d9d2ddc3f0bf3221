//! Charts as SVG text (plotters' SVG backend), for inlining into HTML or
//! writing next to a Markdown report. Every chart labels its axes with
//! units and uses the Okabe–Ito palette, which stays distinguishable for the
//! common forms of colour blindness. Text in the SVG is escaped by plotters.

use plotters::prelude::*;

/// Okabe–Ito: blue, orange, bluish green, vermillion, reddish purple, sky
/// blue, yellow, black.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

const FONT: &str = "sans-serif";
const SMALL: (u32, u32) = (360, 190);
const WIDE: (u32, u32) = (720, 280);

/// One named line of a trend chart; `None` is a week without data (a gap).
pub struct Line<'a> {
    pub name: &'a str,
    pub values: Vec<Option<f64>>,
}

fn y_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let max = values.fold(0.0_f64, f64::max);
    0.0..if max > 0.0 { max * 1.15 } else { 1.0 }
}

fn svg_error(e: impl std::fmt::Display) -> String {
    format!("<svg xmlns=\"http://www.w3.org/2000/svg\"><text x=\"4\" y=\"14\">chart unavailable: {e}</text></svg>")
}

/// Week-by-week lines (one or several), x = the week labels, y in `unit`.
pub fn trend(title: &str, unit: &str, weeks: &[String], lines: &[Line<'_>]) -> String {
    let size = if lines.len() > 1 { WIDE } else { SMALL };
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        let n = weeks.len().max(1);
        let y = y_range(
            lines
                .iter()
                .flat_map(|l| l.values.iter().flatten().copied()),
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 14))
            .margin(6)
            .margin_right(if lines.len() > 1 { 130 } else { 18 })
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(0..n - 1, y)?;
        let step = n.div_ceil(6).max(1);
        chart
            .configure_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_labels(n)
            .x_label_formatter(&|i| {
                if i % step == 0 || *i == n - 1 {
                    weeks.get(*i).map(|w| short_week(w)).unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(unit)
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 11))
            .draw()?;
        for (k, line) in lines.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            // Consecutive weeks with data form a segment; gaps stay gaps.
            let mut segment: Vec<(usize, f64)> = Vec::new();
            let mut segments = Vec::new();
            for (i, v) in line.values.iter().enumerate() {
                match v {
                    Some(v) => segment.push((i, *v)),
                    None if !segment.is_empty() => segments.push(std::mem::take(&mut segment)),
                    None => {}
                }
            }
            if !segment.is_empty() {
                segments.push(segment);
            }
            let mut first = true;
            for seg in segments {
                let series =
                    chart.draw_series(LineSeries::new(seg.clone(), color.stroke_width(2)))?;
                if first && lines.len() > 1 {
                    series.label(line.name).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2))
                    });
                    first = false;
                }
                chart.draw_series(
                    seg.into_iter()
                        .map(|(x, y)| Circle::new((x, y), 3, color.filled())),
                )?;
            }
        }
        if lines.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font((FONT, 11))
                .position(SeriesLabelPosition::Coordinate(size.0 as i32 - 124, 30))
                .draw()?;
        }
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => svg,
        Err(e) => svg_error(e),
    }
}

/// Stacked bars per week: the median hours of each PR stage.
pub fn stacked_stages(title: &str, weeks: &[String], stages: &[(&str, Vec<f64>)]) -> String {
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, WIDE).into_drawing_area();
        root.fill(&WHITE)?;
        let n = weeks.len().max(1);
        let totals: Vec<f64> = (0..n)
            .map(|i| {
                stages
                    .iter()
                    .map(|(_, v)| v.get(i).copied().unwrap_or(0.0))
                    .sum()
            })
            .collect();
        let y = y_range(totals.iter().copied());
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 14))
            .margin(6)
            .margin_right(130)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..n as f64, y)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|v| {
                // Labels sit at the centre of each week's bar.
                let i = (v - 0.5).round();
                if (v - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                    weeks
                        .get(i as usize)
                        .map(|w| short_week(w))
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("hours (median per stage)")
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 11))
            .draw()?;
        let mut base = vec![0.0; n];
        for (k, (name, values)) in stages.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let bars: Vec<Rectangle<(f64, f64)>> = (0..n)
                .map(|i| {
                    let v = values.get(i).copied().unwrap_or(0.0);
                    let x = i as f64;
                    let r = Rectangle::new(
                        [(x + 0.12, base[i]), (x + 0.88, base[i] + v)],
                        color.filled(),
                    );
                    base[i] += v;
                    r
                })
                .collect();
            chart.draw_series(bars)?.label(*name).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
            });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 11))
            .position(SeriesLabelPosition::Coordinate(592, 30))
            .draw()?;
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => svg,
        Err(e) => svg_error(e),
    }
}

/// Named points: x = deployments per week, y = change failure rate (%).
pub fn speed_vs_stability(title: &str, points: &[(String, f64, f64)]) -> String {
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, WIDE).into_drawing_area();
        root.fill(&WHITE)?;
        let x = y_range(points.iter().map(|p| p.1));
        let y = y_range(points.iter().map(|p| p.2).chain([20.0]));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 14))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(48)
            .build_cartesian_2d(x, y)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_desc("deployments per week (faster →)")
            .y_desc("change failure rate, % (↑ less stable)")
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 11))
            .draw()?;
        for (k, (name, px, py)) in points.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            chart.draw_series(std::iter::once(Circle::new((*px, *py), 6, color.filled())))?;
            chart.draw_series(std::iter::once(Text::new(
                name.clone(),
                (*px, *py),
                (FONT, 12).into_font().color(&BLACK),
            )))?;
        }
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => svg,
        Err(e) => svg_error(e),
    }
}

/// `2026-W07` → `W07`.
fn short_week(label: &str) -> String {
    label
        .split_once('-')
        .map(|(_, w)| w.to_string())
        .unwrap_or_else(|| label.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trend_draws_a_path_with_gaps_and_escapes_text() {
        let weeks: Vec<String> = (1..=4).map(|w| format!("2026-W0{w}")).collect();
        let svg = trend(
            "Lead <time>",
            "hours",
            &weeks,
            &[Line {
                name: "org",
                values: vec![Some(3.0), None, Some(5.0), Some(4.0)],
            }],
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("Lead &lt;time&gt;"));
        assert!(svg.contains("<polyline") || svg.contains("<path"));
        assert!(svg.contains("hours"));
    }

    #[test]
    fn stacked_bars_and_scatter_render() {
        let weeks = vec!["2026-W01".to_string(), "2026-W02".to_string()];
        let svg = stacked_stages(
            "Stages",
            &weeks,
            &[("coding", vec![1.0, 2.0]), ("pickup", vec![3.0, 0.5])],
        );
        assert!(svg.matches("<rect").count() >= 4, "{svg}");
        let svg = speed_vs_stability(
            "Speed",
            &[("web".into(), 12.0, 4.0), ("pay".into(), 2.0, 15.0)],
        );
        assert!(svg.contains("<circle"));
        assert!(svg.contains("web") && svg.contains("pay"));
    }
}
