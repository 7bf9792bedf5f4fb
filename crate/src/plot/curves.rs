//! Loss and training accuracy per epoch, several runs overlaid.
use plotters::prelude::*;

use super::{plot_err, Figure, FONT, TAB10};
use crate::error::{Error, Result};
use crate::training::EpochStats;

/// Two panels per epoch: training cross-entropy (left, log scale) and training accuracy
/// (right). Cross-entropy rather than the total loss, because the total holds different
/// terms in each run (and goes negative with PC Loss); the log scale keeps a run that blows
/// up from flattening the others.
pub fn curves(runs: &[(&str, &[EpochStats])]) -> Result<Figure> {
    if runs.iter().all(|(_, h)| h.is_empty()) {
        return Err(Error::setting("history", 0, "no epochs to plot; train first"));
    }
    let epochs = runs.iter().map(|(_, h)| h.len()).max().unwrap_or(1).max(2) as f64;
    type Pick = fn(&EpochStats) -> f64;
    type Label = fn(&f64) -> String;
    let panels: [(&str, Pick, Label); 2] = [
        ("training cross-entropy (log scale)", |s| s.xent.max(1e-6).log10(), |v| significant(10f64.powf(*v))),
        ("training accuracy (%)", |s| s.train_accuracy, |v| format!("{v:.0}")),
    ];
    Figure::render(1200, 450, |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        for ((title, pick, label), area) in panels.iter().zip(root.split_evenly((1, 2))) {
            let values = runs.iter().flat_map(|(_, h)| h.iter().map(pick)).filter(|v| v.is_finite());
            let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
            let pad = ((hi - lo) * 0.05).max(1e-3);
            let mut chart = ChartBuilder::on(&area)
                .caption(*title, (FONT, 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(1.0..epochs, (lo - pad)..(hi + pad))
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .x_label_formatter(&|e| format!("{e:.0}"))
                .y_label_formatter(label)
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(plot_err)?;
            for (i, (name, history)) in runs.iter().enumerate() {
                let color = TAB10[i % 10];
                chart
                    .draw_series(LineSeries::new(history.iter().map(|s| (s.epoch as f64 + 1.0, pick(s))), color.stroke_width(2)))
                    .map_err(plot_err)?
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
            }
            chart
                .configure_series_labels()
                .label_font((FONT, 14))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

/// Three significant digits, so log-scale ticks read 0.316, 3.16, 316 rather than 316.228.
fn significant(v: f64) -> String {
    let decimals = (2 - v.abs().max(1e-12).log10().floor() as i32).max(0) as usize;
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(acc: &[f64]) -> Vec<EpochStats> {
        acc.iter()
            .enumerate()
            .map(|(epoch, &a)| EpochStats { epoch, loss: 1.0 / (epoch as f64 + 1.0), xent: 2.0 / (epoch as f64 + 1.0), train_accuracy: a, seconds: 1.0, ..Default::default() })
            .collect()
    }

    #[test]
    fn tick_labels_keep_three_significant_digits() {
        assert_eq!(significant(316.2278), "316");
        assert_eq!(significant(3.162278), "3.16");
        assert_eq!(significant(0.3162278), "0.316");
    }

    #[test]
    fn draws_each_run_in_its_colour() {
        let (a, b) = (history(&[50.0, 70.0, 80.0]), history(&[40.0, 60.0, 90.0]));
        let fig = curves(&[("a", &a), ("b", &b)]).unwrap();
        let img = image::load_from_memory(&fig.png).unwrap().to_rgb8();
        for c in &TAB10[..2] {
            assert!(img.pixels().any(|p| p.0 == [c.0, c.1, c.2]), "{c:?} missing");
        }
        assert!(curves(&[("none", &[])]).is_err());
    }
}
