//! Training curves of several runs, overlaid: the losses and accuracy as logged every
//! `log_every` steps, the test accuracy after each epoch, epochs marked on the axis.
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::ticks;
use super::{plot_err, Figure, FONT, TAB10};
use crate::error::{Error, Result};
use crate::language::{language, term_title, Words};
use crate::training::{term, EpochStats, StepStats};

/// One line or set of points: whose it is (the run's index) and its `(epochs, value)` points.
struct Series {
    run: usize,
    points: Vec<(f64, f64)>,
}

/// One panel: its title, lines, and points drawn as dots (the test accuracy). A loss panel
/// is drawn on a log scale when its values span a factor of 10 or more.
struct CurvePanel {
    title: String,
    lines: Vec<Series>,
    dots: Vec<Series>,
    loss: bool,
}

/// A run's logged stretches as `(epochs from the start, value)`; a history from before
/// per-step logging (no stretches) gives one point per epoch, at its end.
fn points(history: &[EpochStats], pick: &dyn Fn(&StepStats) -> f64) -> Vec<(f64, f64)> {
    history
        .iter()
        .flat_map(|e| {
            if e.steps.is_empty() {
                let whole = StepStats { step: 1, steps: 1, loss: e.loss, xent: e.xent, terms: e.terms.clone(), accuracy: e.train_accuracy };
                vec![(e.epoch as f64 + 1.0, pick(&whole))]
            } else {
                e.steps.iter().map(|s| (s.position(e.epoch), pick(s))).collect()
            }
        })
        .collect()
}

/// The epochs labelled on the x axis: whole numbers only, from 0 (the start) to `epochs`,
/// every epoch up to 10 and then every 2, 5, 10, ... so that at most about 10 are shown.
fn epoch_ticks(epochs: usize) -> Vec<usize> {
    let every = [1, 2, 5, 10, 20, 50, 100, 200, 500].into_iter().find(|&e| epochs.div_ceil(e) <= 10).unwrap_or(1000);
    (0..=epochs).filter(|e| e % every == 0 || *e == epochs).collect()
}

/// Training cross-entropy (log scale), one panel per added loss term that any run has, and
/// accuracy: training as lines, test (when recorded) as a dot after each epoch. Cross-entropy
/// rather than the total loss, because the total holds different terms in each run (and
/// goes negative with PC Loss); the log scale keeps a run that blows up from flattening the
/// others.
pub fn curves(runs: &[(&str, &[EpochStats])]) -> Result<Figure> {
    if runs.iter().all(|(_, h)| h.is_empty()) {
        return Err(Error::input("history", 0, "no epochs to plot; train first"));
    }
    let epochs = runs.iter().map(|(_, h)| h.len()).max().unwrap_or(1);
    let xent = runs.iter().enumerate().map(|(run, (_, h))| Series { run, points: points(h, &|s| s.xent) }).collect();
    let mut panels = vec![CurvePanel { title: Words::TrainingXent.text().into(), lines: xent, dots: Vec::new(), loss: true }];
    // Each added loss's term on a panel of its own, for the runs that have it, so that PC
    // Loss's growth is not flattened by cross-entropy.
    let mut terms: Vec<&str> = Vec::new();
    for (name, _) in runs.iter().flat_map(|(_, h)| h.iter().flat_map(|e| &e.terms)) {
        if !terms.contains(&name.as_str()) {
            terms.push(name);
        }
    }
    for name in terms {
        let has = |h: &[EpochStats]| h.iter().any(|e| e.terms.iter().any(|(n, _)| n == name));
        let lines = runs
            .iter()
            .enumerate()
            .filter(|(_, (_, h))| has(h))
            .map(|(run, (_, h))| Series { run, points: points(h, &|s| term(&s.terms, name)) })
            .collect();
        panels.push(CurvePanel { title: term_title(language(), name), lines, dots: Vec::new(), loss: true });
    }
    let tested = |(run, (_, h)): (usize, &(&str, &[EpochStats]))| Series {
        run,
        points: h.iter().filter_map(|e| e.test_accuracy.map(|a| (e.epoch as f64 + 1.0, a))).collect(),
    };
    panels.push(CurvePanel {
        title: Words::Accuracy.text().into(),
        lines: runs.iter().enumerate().map(|(run, (_, h))| Series { run, points: points(h, &|s| s.accuracy) }).collect(),
        dots: runs.iter().enumerate().map(tested).collect(),
        loss: false,
    });
    let names: Vec<&str> = runs.iter().map(|(n, _)| *n).collect();
    let cols = if panels.len() == 4 { 2 } else { panels.len().min(3) };
    let rows = panels.len().div_ceil(cols);
    Figure::render(600 * cols as u32, 450 * rows as u32, |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        for (panel, area) in panels.iter().zip(root.split_evenly((rows, cols))) {
            let values = panel.lines.iter().chain(&panel.dots).flat_map(|s| s.points.iter().map(|p| p.1)).filter(|v| v.is_finite());
            let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
            let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
            if panel.loss && lo > 0.0 && hi / lo >= 10.0 {
                let title = format!("{}{}", panel.title, Words::LogScale.text());
                draw_curve_panel(&area, panel, &title, &names, epochs, (lo / 1.15..hi * 1.15).log_scale(), &ticks::significant)?;
            } else {
                let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-3).max(1e-6);
                let span = hi - lo + 2.0 * pad;
                draw_curve_panel(&area, panel, &panel.title, &names, epochs, (lo - pad)..(hi + pad), &|v: &f64| ticks::linear(*v, span))?;
            }
        }
        Ok(())
    })
}

fn draw_curve_panel<Y>(
    area: &DrawingArea<BitMapBackend, Shift>,
    panel: &CurvePanel,
    title: &str,
    names: &[&str],
    epochs: usize,
    y: Y,
    y_label: &dyn Fn(&f64) -> String,
) -> std::result::Result<(), String>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..epochs as f64, y)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(0)
        .x_desc(Words::Epoch.text())
        .y_label_formatter(y_label)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(plot_err)?;
    // The epoch axis: whole-number labels under the axis and a faint line at each epoch's end.
    let (_, ys) = chart.plotting_area().get_pixel_range();
    let base = area.get_base_pixel();
    let boundary = RGBColor(0xd0, 0xd0, 0xd0);
    for e in 1..epochs {
        let (x, _) = chart.backend_coord(&(e as f64, 0.0));
        let (x, y0, y1) = (x - base.0, ys.start - base.1, ys.end - base.1);
        area.draw(&PathElement::new([(x, y0), (x, y1 - 1)], boundary.stroke_width(1))).map_err(plot_err)?;
    }
    for e in epoch_ticks(epochs) {
        let (x, _) = chart.backend_coord(&(e as f64, 0.0));
        let (x, y) = (x - base.0, ys.end - base.1);
        area.draw(&PathElement::new([(x, y), (x, y + 5)], BLACK.stroke_width(1))).map_err(plot_err)?;
        let style = TextStyle::from((FONT, 13).into_font()).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ));
        area.draw(&Text::new(e.to_string(), (x, y + 8), style)).map_err(plot_err)?;
    }
    for s in &panel.lines {
        let colour = TAB10[s.run % 10];
        chart
            .draw_series(LineSeries::new(s.points.iter().copied().filter(|p| p.1.is_finite()), colour.stroke_width(2)))
            .map_err(plot_err)?
            .label(names[s.run])
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    for s in &panel.dots {
        let colour = TAB10[s.run % 10];
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 5, colour.filled()))).map_err(plot_err)?;
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 5, BLACK.stroke_width(1)))).map_err(plot_err)?;
    }
    // Losses fall and accuracy rises towards the upper right: keep the legend off the lines.
    let corner = if panel.loss { SeriesLabelPosition::UpperRight } else { SeriesLabelPosition::MiddleRight };
    chart
        .configure_series_labels()
        .position(corner)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `epochs` epochs of `steps` logged stretches each, with Center Loss on when `center`.
    fn history(epochs: usize, steps: usize, center: bool) -> Vec<EpochStats> {
        (0..epochs)
            .map(|epoch| EpochStats {
                epoch,
                xent: 2.0 / (epoch as f64 + 1.0),
                terms: if center { vec![("center".to_string(), 1.0)] } else { vec![] },
                train_accuracy: 50.0 + epoch as f64,
                test_accuracy: Some(55.0 + epoch as f64),
                steps: (1..=steps)
                    .map(|step| StepStats {
                        step,
                        steps,
                        xent: 2.0 / (step as f64),
                        terms: if center { vec![("center".to_string(), 0.5)] } else { vec![] },
                        accuracy: 40.0 + step as f64,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn epoch_labels_are_whole_numbers_from_zero_to_the_last_epoch() {
        assert_eq!(epoch_ticks(3), vec![0, 1, 2, 3]);
        assert_eq!(epoch_ticks(1), vec![0, 1]);
        assert_eq!(epoch_ticks(20), vec![0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
        let many = epoch_ticks(37);
        assert!(many.len() <= 12 && many.first() == Some(&0) && many.last() == Some(&37), "{many:?}");
    }

    #[test]
    fn steps_are_placed_within_their_epoch_and_old_histories_per_epoch() {
        let h = history(2, 4, false);
        let p = points(&h, &|s| s.xent);
        assert_eq!(p.len(), 8);
        assert_eq!(p.iter().map(|p| p.0).collect::<Vec<_>>(), vec![0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]);
        let old: Vec<EpochStats> = h.into_iter().map(|e| EpochStats { steps: vec![], ..e }).collect();
        assert_eq!(points(&old, &|s| s.xent), vec![(1.0, 2.0), (2.0, 1.0)]);
    }

    #[test]
    fn draws_each_run_in_its_colour_with_a_panel_per_added_term() {
        let (a, b) = (history(3, 5, false), history(3, 5, true));
        let fig = curves(&[("a", &a), ("b", &b)]).unwrap();
        // cross-entropy, Center Loss, accuracy: three panels in a row.
        assert_eq!((fig.width, fig.height), (1800, 450));
        let img = image::load_from_memory(&fig.png).unwrap().to_rgb8();
        for c in &TAB10[..2] {
            assert!(img.pixels().any(|p| p.0 == [c.0, c.1, c.2]), "{c:?} missing");
        }
        let fig = curves(&[("a", &a)]).unwrap();
        assert_eq!(fig.width, 1200, "no added term: cross-entropy and accuracy only");
        assert!(curves(&[("none", &[])]).is_err());
    }
}
