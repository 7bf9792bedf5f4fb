//! The lesson's figure: every test sample's 2-D feature, coloured by its class.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{draw_legend, plot_err, Figure, FONT, TAB10};
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

    /// Maps points into the ranges the panel will show.
    fn apply(self, pts: &[(f32, f32)]) -> (Vec<(f32, f32)>, AxisRange, AxisRange) {
        let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for &(x, y) in pts.iter().filter(|p| p.0.is_finite() && p.1.is_finite()) {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        match self {
            Normalize::PerAxis => {
                let sx = (x1 - x0).max(f32::MIN_POSITIVE);
                let sy = (y1 - y0).max(f32::MIN_POSITIVE);
                let out = pts.iter().map(|&(x, y)| ((x - x0) / sx, (y - y0) / sy)).collect();
                (out, (-0.02, 1.02), (-0.02, 1.02))
            }
            Normalize::EqualAspect => {
                let half = 0.52 * (x1 - x0).max(y1 - y0).max(1e-6);
                let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
                (pts.to_vec(), (cx - half, cx + half), (cy - half, cy + half))
            }
        }
    }
}

const PANEL: u32 = 600;
const LEGEND: u32 = 150;

fn draw_panel(area: &DrawingArea<BitMapBackend, Shift>, title: &str, f: &Features, normalize: Normalize) -> std::result::Result<(), String> {
    let (pts, xr, yr) = normalize.apply(&f.projection(0, 1));
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(52)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(normalize.caption())
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(plot_err)?;
    // matplotlib's s=0.4 is a dot about one pixel across; radius 1 keeps that look.
    chart
        .draw_series(pts.iter().zip(&f.labels).map(|(&p, &l)| Circle::new(p, 1, TAB10[l as usize % 10].filled())))
        .map_err(plot_err)?;
    Ok(())
}

fn check(f: &Features) -> Result<()> {
    if f.dim < 2 || f.is_empty() {
        return Err(Error::setting("features", format!("{} points of dimension {}", f.len(), f.dim), "need at least one 2-D point to plot"));
    }
    Ok(())
}

/// One scatter plot with a class legend.
pub fn scatter(f: &Features, class_names: &[&str], title: &str, normalize: Normalize) -> Result<Figure> {
    scatter_grid(&[(title, f)], class_names, normalize)
}

/// Several scatter plots side by side, titled, sharing one legend (the three experiments).
pub fn scatter_grid(panels: &[(&str, &Features)], class_names: &[&str], normalize: Normalize) -> Result<Figure> {
    if panels.is_empty() {
        return Err(Error::setting("panels", 0, "need at least one panel"));
    }
    for (_, f) in panels {
        check(f)?;
    }
    let width = PANEL * panels.len() as u32 + LEGEND;
    Figure::render(width, PANEL, |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        let (plots, legend) = root.split_horizontally(width - LEGEND);
        for ((title, f), area) in panels.iter().zip(plots.split_evenly((1, panels.len()))) {
            draw_panel(&area, title, f, normalize)?;
        }
        draw_legend(&legend, class_names)
    })
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
    fn per_axis_fills_the_unit_square_and_equal_aspect_keeps_units() {
        let pts = [(0.0, 0.0), (10.0, 1.0)];
        let (out, ..) = Normalize::PerAxis.apply(&pts);
        assert_eq!(out, vec![(0.0, 0.0), (1.0, 1.0)]);
        let (out, xr, yr) = Normalize::EqualAspect.apply(&pts);
        assert_eq!(out, pts.to_vec());
        assert!(((xr.1 - xr.0) - (yr.1 - yr.0)).abs() < 1e-4, "same span on both axes");
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
        assert!(scatter(&empty, &[], "e", Normalize::PerAxis).unwrap_err().to_string().contains("at least one 2-D point"));
    }
}
