//! Loss and training accuracy per epoch, several runs overlaid.
use plotters::prelude::*;

use super::{plot_err, Figure, FONT, TAB10};
use crate::error::{Error, Result};
use crate::training::EpochStats;

/// Two panels: mean training loss (left) and training accuracy (right) per epoch.
pub fn curves(runs: &[(&str, &[EpochStats])]) -> Result<Figure> {
    if runs.iter().all(|(_, h)| h.is_empty()) {
        return Err(Error::setting("history", 0, "no epochs to plot; train first"));
    }
    let epochs = runs.iter().map(|(_, h)| h.len()).max().unwrap_or(1).max(2) as f64;
    type Pick = fn(&EpochStats) -> f64;
    let panels: [(&str, Pick); 2] = [("training loss", |s| s.loss), ("training accuracy (%)", |s| s.train_accuracy)];
    Figure::render(1200, 450, |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        for ((title, pick), area) in panels.iter().zip(root.split_evenly((1, 2))) {
            let values = runs.iter().flat_map(|(_, h)| h.iter().map(pick)).filter(|v| v.is_finite());
            let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
            let pad = ((hi - lo) * 0.05).max(1e-3);
            let mut chart = ChartBuilder::on(&area)
                .caption(*title, (FONT, 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(1.0..epochs, (lo - pad)..(hi + pad))
                .map_err(plot_err)?;
            chart.configure_mesh().x_desc("epoch").label_style((FONT, 13)).axis_desc_style((FONT, 13)).draw().map_err(plot_err)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn history(acc: &[f64]) -> Vec<EpochStats> {
        acc.iter()
            .enumerate()
            .map(|(epoch, &a)| EpochStats { epoch, loss: 1.0 / (epoch as f64 + 1.0), xent: 0.0, center: 0.0, pc: 0.0, train_accuracy: a, seconds: 1.0 })
            .collect()
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
