//! The lesson's figure: every test sample's 2-D feature, coloured by its class.
use plotters::coord::Shift;
use plotters::prelude::*;

use image::RgbImage;

use super::{draw_legend, draw_rgb, plot_err, Figure, FONT, TAB10};
use crate::error::{Error, Result};
use crate::features::Features;

/// The (low, high) ends of one axis.
type AxisRange = (f32, f32);

/// How features become plot coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalize {
    /// The original's: x and y each min-max scaled to [0, 1] on their own. Fills the
    /// square, but stretches the clusters, so shapes and angles are not comparable.
    PerAxis,
    /// One scale for both axes: distances and angles look as they are.
    EqualAspect,
}

impl Normalize {
    fn caption(self) -> &'static str {
        match self {
            Normalize::PerAxis => "axes: x, y min-max scaled separately (as the original)",
            Normalize::EqualAspect => "axes: equal scale (shapes preserved)",
        }
    }

    /// The mapping to plot coordinates that fits `pts` (finite ones only).
    fn fit(self, pts: &[(f32, f32)]) -> Axes {
        let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for &(x, y) in pts.iter().filter(|p| p.0.is_finite() && p.1.is_finite()) {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        match self {
            Normalize::PerAxis => Axes {
                normalize: self,
                origin: (x0, y0),
                scale: (1.0 / (x1 - x0).max(f32::MIN_POSITIVE), 1.0 / (y1 - y0).max(f32::MIN_POSITIVE)),
                x: (-0.02, 1.02),
                y: (-0.02, 1.02),
            },
            Normalize::EqualAspect => {
                let half = 0.52 * (x1 - x0).max(y1 - y0).max(1e-6);
                let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
                Axes { normalize: self, origin: (0.0, 0.0), scale: (1.0, 1.0), x: (cx - half, cx + half), y: (cy - half, cy + half) }
            }
        }
    }
}

/// Plot coordinates: `(p - origin) * scale`, shown over the ranges `x` and `y`. Fitted once
/// for a whole animation, so every frame has the same axes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Axes {
    normalize: Normalize,
    origin: (f32, f32),
    scale: (f32, f32),
    x: AxisRange,
    y: AxisRange,
}

impl Axes {
    fn map(&self, (x, y): (f32, f32)) -> (f32, f32) {
        ((x - self.origin.0) * self.scale.0, (y - self.origin.1) * self.scale.1)
    }
}

/// One panel: a title and a 2-D point per labelled sample.
pub(crate) struct Panel<'a> {
    pub title: String,
    pub points: Vec<(f32, f32)>,
    pub labels: &'a [u8],
}

impl<'a> Panel<'a> {
    /// Dimensions `a` and `b` of `f`.
    pub fn of(title: &str, f: &'a Features, (a, b): (usize, usize)) -> Result<Self> {
        if f.is_empty() || a.max(b) >= f.dim {
            return Err(Error::setting(
                "features",
                format!("{} points of dimension {}", f.len(), f.dim),
                &format!("need at least one point with dimensions {} and {}", a + 1, b + 1),
            ));
        }
        Ok(Panel { title: title.to_string(), points: f.projection(a, b), labels: &f.labels })
    }
}

const PANEL: u32 = 600;
const LEGEND: u32 = 150;

fn draw_panel(area: &DrawingArea<BitMapBackend, Shift>, panel: &Panel, axes: &Axes) -> std::result::Result<(), String> {
    // Long titles (a sweep's settings) get a smaller font rather than running off the panel.
    let title_size = if panel.title.chars().count() > 40 { 15 } else { 22 };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, title_size))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(52)
        .build_cartesian_2d(axes.x.0..axes.x.1, axes.y.0..axes.y.1)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(axes.normalize.caption())
        .x_label_formatter(&|v| tick_label(*v, axes.x.1 - axes.x.0))
        .y_label_formatter(&|v| tick_label(*v, axes.y.1 - axes.y.0))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(plot_err)?;
    // matplotlib's s=0.4 is a dot about one pixel across; radius 1 keeps that look.
    let inside = |&(x, y): &(f32, f32)| x >= axes.x.0 && x <= axes.x.1 && y >= axes.y.0 && y <= axes.y.1;
    chart
        .draw_series(
            panel
                .points
                .iter()
                .map(|&p| axes.map(p))
                .zip(panel.labels)
                .filter(|(p, _)| inside(p))
                .map(|(p, &l)| Circle::new(p, 1, TAB10[l as usize % 10].filled())),
        )
        .map_err(plot_err)?;
    Ok(())
}

/// A tick's label: decimals enough for the axis's span, trailing zeros dropped, and never
/// "-0.0" (plotters' default printed that for a tick a rounding error below zero).
fn tick_label(value: f32, span: f32) -> String {
    let decimals = (3 - span.abs().max(1e-12).log10().floor() as i32).max(0) as usize;
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    if text.trim_start_matches('-').chars().all(|c| c == '0') {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Panels in rows of at most four (three when that balances the rows better), one legend
/// on the right. `axes` fixes the axes of every panel; `None` fits each panel to its points.
pub(crate) fn draw_panels(panels: &[Panel], class_names: &[&str], normalize: Normalize, axes: Option<Axes>) -> Result<RgbImage> {
    if panels.is_empty() {
        return Err(Error::setting("panels", 0, "need at least one panel"));
    }
    let n = panels.len() as u32;
    let cols = if n <= 4 { n } else if n <= 9 { 3 } else { 4 };
    let rows = n.div_ceil(cols);
    let width = PANEL * cols + LEGEND;
    draw_rgb(width, PANEL * rows, |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        let (plots, legend) = root.split_horizontally(width - LEGEND);
        for (panel, area) in panels.iter().zip(plots.split_evenly((rows as usize, cols as usize))) {
            draw_panel(&area, panel, &axes.unwrap_or_else(|| normalize.fit(&panel.points)))?;
        }
        draw_legend(&legend, class_names)
    })
}

/// One scatter plot with a class legend.
pub fn scatter(f: &Features, class_names: &[&str], title: &str, normalize: Normalize) -> Result<Figure> {
    scatter_grid(&[(title, f)], class_names, normalize)
}

/// Several scatter plots, titled, sharing one legend (the three experiments, a sweep).
pub fn scatter_grid(panels: &[(&str, &Features)], class_names: &[&str], normalize: Normalize) -> Result<Figure> {
    let panels = panels.iter().map(|(title, f)| Panel::of(title, f, (0, 1))).collect::<Result<Vec<_>>>()?;
    Figure::from_rgb(&draw_panels(&panels, class_names, normalize, None)?)
}

/// Features of more than two dimensions (e.g. `hidden_dim = 3`) as every pair of
/// dimensions side by side: 1-2, 1-3, 2-3 for three.
pub fn projections(f: &Features, class_names: &[&str], title: &str, normalize: Normalize) -> Result<Figure> {
    if f.dim < 2 {
        return Err(Error::setting("features", format!("dimension {}", f.dim), "need at least 2 dimensions to project"));
    }
    let pairs: Vec<(usize, usize)> = (0..f.dim).flat_map(|a| (a + 1..f.dim).map(move |b| (a, b))).collect();
    let panels = pairs
        .iter()
        .map(|&(a, b)| Panel::of(&format!("{title}: dims {} and {}", a + 1, b + 1), f, (a, b)))
        .collect::<Result<Vec<_>>>()?;
    Figure::from_rgb(&draw_panels(&panels, class_names, normalize, None)?)
}

/// Axes that fit every frame of an animation at once.
pub(crate) fn fit_all(frames: &[Panel], normalize: Normalize) -> Axes {
    let all: Vec<(f32, f32)> = frames.iter().flat_map(|p| p.points.iter().copied()).collect();
    normalize.fit(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_clusters() -> Features {
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for i in 0..200 {
            let l = (i % 2) as u8;
            values.extend([l as f32 * 100.0 + (i % 7) as f32, (i % 5) as f32]);
            labels.push(l);
        }
        Features::new(2, values, labels).unwrap()
    }

    #[test]
    fn tick_labels_have_no_negative_zero_and_no_trailing_zeros() {
        assert_eq!(tick_label(-1.5e-8, 1.0), "0");
        assert_eq!(tick_label(-0.1, 1.0), "-0.1");
        assert_eq!(tick_label(0.300_000_1, 1.0), "0.3");
        assert_eq!(tick_label(0.05, 0.4), "0.05");
        assert_eq!(tick_label(250.0, 1000.0), "250");
        // A collapsed run (lambda too large) still gets distinct labels.
        assert_eq!(tick_label(0.000_02, 0.000_1), "0.00002");
    }

    #[test]
    fn per_axis_fills_the_unit_square_and_equal_aspect_keeps_units() {
        let pts = [(0.0, 0.0), (10.0, 1.0)];
        let axes = Normalize::PerAxis.fit(&pts);
        assert_eq!(pts.map(|p| axes.map(p)), [(0.0, 0.0), (1.0, 1.0)]);
        let axes = Normalize::EqualAspect.fit(&pts);
        assert_eq!(pts.map(|p| axes.map(p)), pts);
        assert!(((axes.x.1 - axes.x.0) - (axes.y.1 - axes.y.0)).abs() < 1e-4, "same span on both axes");
    }

    #[test]
    fn scatter_is_a_png_with_coloured_points() {
        let fig = scatter(&two_clusters(), &["a", "b"], "test", Normalize::EqualAspect).unwrap();
        let img = image::load_from_memory(&fig.png).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (PANEL + LEGEND, PANEL));
        let has = |c: RGBColor| img.pixels().any(|p| p.0 == [c.0, c.1, c.2]);
        assert!(has(TAB10[0]) && has(TAB10[1]) && !has(TAB10[2]));
    }

    #[test]
    fn grid_has_one_panel_per_run_and_rejects_nothing_to_draw() {
        let f = two_clusters();
        let fig = scatter_grid(&[("a", &f), ("b", &f), ("c", &f)], &["x", "y"], Normalize::PerAxis).unwrap();
        assert_eq!(fig.width, 3 * PANEL + LEGEND);
        let empty = Features::new(2, vec![], vec![]).unwrap();
        assert!(scatter(&empty, &[], "e", Normalize::PerAxis).unwrap_err().to_string().contains("at least one point"));
        let six: Vec<_> = (0..6).map(|_| ("p", &f)).collect();
        let fig = scatter_grid(&six, &["x", "y"], Normalize::PerAxis).unwrap();
        assert_eq!((fig.width, fig.height), (3 * PANEL + LEGEND, 2 * PANEL), "six panels: two rows of three");
    }

    #[test]
    fn three_dimensions_give_three_projections_and_two_give_one() {
        let values: Vec<f32> = (0..90).map(|i| (i % 13) as f32).collect();
        let f3 = Features::new(3, values, (0..30).map(|i| (i % 3) as u8).collect()).unwrap();
        let fig = projections(&f3, &["a", "b", "c"], "3-D", Normalize::EqualAspect).unwrap();
        assert_eq!(fig.width, 3 * PANEL + LEGEND);
        let fig = projections(&two_clusters(), &["a", "b"], "2-D", Normalize::EqualAspect).unwrap();
        assert_eq!(fig.width, PANEL + LEGEND);
        let f1 = Features::new(1, vec![1.0, 2.0], vec![0, 1]).unwrap();
        assert!(projections(&f1, &[], "1-D", Normalize::PerAxis).is_err());
    }
}
