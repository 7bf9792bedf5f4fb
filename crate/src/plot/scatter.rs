//! The lesson's figure: every test sample's 2-D feature, coloured by its class, optionally
//! over the regions where the network's last layer predicts each class, with the centers
//! the added losses learned.
use plotters::coord::Shift;
use plotters::prelude::*;

use image::RgbImage;

use super::ticks;
use super::{draw_legend, draw_marker, draw_rgb, plot_err, tint, Figure, FONT, TAB10};
use crate::error::{Error, Result};
use crate::features::{CenterMarker, Classifier, Features};
use crate::language::{centers_off_plot, dims_title, language, Words};

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

/// How a scatter plot is drawn: the axes, and what of the network to show under and over
/// the points. `Normalize::EqualAspect.regions(true).centers(true)` turns both on; a plain
/// `Normalize` draws the points alone, as the original did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub normalize: Normalize,
    /// Shade the background by the class `fc2` predicts there, with the boundaries drawn.
    pub regions: bool,
    /// Draw the added losses' learned centers as large outlined markers.
    pub centers: bool,
}

impl From<Normalize> for Style {
    fn from(normalize: Normalize) -> Self {
        Style { normalize, regions: false, centers: false }
    }
}

impl Style {
    pub fn regions(self, on: bool) -> Style {
        Style { regions: on, ..self }
    }

    pub fn centers(self, on: bool) -> Style {
        Style { centers: on, ..self }
    }
}

impl Normalize {
    pub fn regions(self, on: bool) -> Style {
        Style::from(self).regions(on)
    }

    pub fn centers(self, on: bool) -> Style {
        Style::from(self).centers(on)
    }

    fn caption(self) -> &'static str {
        match self {
            Normalize::PerAxis => Words::AxesPerAxis.text(),
            Normalize::EqualAspect => Words::AxesEqual.text(),
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
                let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
                // A collapsed run (every point in one place) still gets axes a reader can
                // label: at least a thousandth of the coordinates' size.
                let half = 0.52 * (x1 - x0).max(y1 - y0).max(1e-3 * cx.abs().max(cy.abs())).max(1e-6);
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
    pub(crate) fn map(&self, (x, y): (f32, f32)) -> (f32, f32) {
        ((x - self.origin.0) * self.scale.0, (y - self.origin.1) * self.scale.1)
    }

    /// From plot coordinates back to features.
    fn unmap(&self, (x, y): (f32, f32)) -> (f32, f32) {
        (x / self.scale.0 + self.origin.0, y / self.scale.1 + self.origin.1)
    }

    fn contains(&self, (x, y): (f32, f32)) -> bool {
        x >= self.x.0 && x <= self.x.1 && y >= self.y.0 && y <= self.y.1
    }
}

/// Where a panel's plotting area lies in the image: pixel `(left + i, top + j)` shows the
/// plot coordinates at the centre of cell `(i, j)` of a `width` x `height` grid over the
/// axes' ranges (y grows upwards, pixels downwards).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PixelMap {
    // Where the plotting area starts in the image: the tests find points' pixels with it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub left: i32,
    #[cfg_attr(not(test), allow(dead_code))]
    pub top: i32,
    pub width: i32,
    pub height: i32,
    pub axes: Axes,
}

impl PixelMap {
    /// Plot coordinates at the centre of the pixel `(i, j)` of the plotting area.
    fn plot_at(&self, i: i32, j: i32) -> (f32, f32) {
        let (x, y) = (self.axes.x, self.axes.y);
        (x.0 + (i as f32 + 0.5) / self.width as f32 * (x.1 - x.0), y.1 - (j as f32 + 0.5) / self.height as f32 * (y.1 - y.0))
    }

    /// The image pixel showing a feature point.
    #[cfg(test)]
    pub fn pixel_of(&self, point: (f32, f32)) -> (i32, i32) {
        let (px, py) = self.axes.map(point);
        let (x, y) = (self.axes.x, self.axes.y);
        let i = ((px - x.0) / (x.1 - x.0) * self.width as f32).floor() as i32;
        let j = ((y.1 - py) / (y.1 - y.0) * self.height as f32).floor() as i32;
        (self.left + i, self.top + j)
    }
}

/// The class `classifier` predicts at every pixel of the plotting area, row by row: the
/// feature point under the pixel is `base` with dimensions `dims` set to the pixel's
/// coordinates.
pub(crate) fn region_classes(map: &PixelMap, classifier: &Classifier, dims: (usize, usize), base: &[f32]) -> Vec<u8> {
    let mut point = base.to_vec();
    let mut classes = Vec::with_capacity((map.width * map.height).max(0) as usize);
    for j in 0..map.height {
        for i in 0..map.width {
            let (x, y) = map.axes.unmap(map.plot_at(i, j));
            (point[dims.0], point[dims.1]) = (x, y);
            classes.push(classifier.predict(&point) as u8);
        }
    }
    classes
}

/// One panel: a title, a 2-D point per labelled sample, and what the network adds.
pub(crate) struct ScatterPanel<'a> {
    pub title: String,
    pub points: Vec<(f32, f32)>,
    pub labels: &'a [u8],
    /// `fc2`, the dimensions shown, and the feature point whose other dimensions the
    /// panel's plane goes through.
    regions: Option<(&'a Classifier, (usize, usize), Vec<f32>)>,
    /// Each loss's centers, projected to the panel's dimensions.
    centers: Vec<ProjectedCenters>,
}

impl<'a> ScatterPanel<'a> {
    /// Dimensions `a` and `b` of `f`, with the regions and centers `style` asks for.
    pub fn of(title: &str, f: &'a Features, (a, b): (usize, usize), style: Style) -> Result<Self> {
        if f.is_empty() || a.max(b) >= f.dim {
            return Err(Error::input(
                "features",
                format!("{} points of dimension {}", f.len(), f.dim),
                &format!("need at least one point with dimensions {} and {}", a + 1, b + 1),
            ));
        }
        let regions = match (style.regions, &f.classifier) {
            (false, _) => None,
            (true, Some(c)) => Some((c, (a, b), f.mean_of_class_means())),
            (true, None) => {
                return Err(Error::setting(
                    "regions",
                    true,
                    "these features have no classifier (fc2) to draw regions from; take them with experiment.features(...)",
                ))
            }
        };
        let centers = if style.centers {
            let project = |v: &[f32]| v.chunks(f.dim).map(|c| (c[a], c[b])).collect();
            let marker = |i: usize, m: Option<CenterMarker>| m.unwrap_or(CenterMarker::BY_PLACE[i % CenterMarker::BY_PLACE.len()]);
            let projected = |(i, c): (usize, &crate::features::Centers)| ProjectedCenters {
                loss: c.loss.clone(),
                marker: marker(i, c.marker),
                points: project(&c.values),
            };
            f.centers.iter().enumerate().map(projected).collect()
        } else {
            Vec::new()
        };
        Ok(ScatterPanel { title: title.to_string(), points: f.projection(a, b), labels: &f.labels, regions, centers })
    }
}

/// One loss's centers in a panel's two dimensions, with the marker the loss draws them with.
struct ProjectedCenters {
    loss: String,
    marker: CenterMarker,
    points: Vec<(f32, f32)>,
}

const PANEL: u32 = 600;
const LEGEND: u32 = 150;

/// Draws one panel and returns where its plotting area lies in the image.
fn draw_scatter_panel(
    area: &DrawingArea<BitMapBackend, Shift>,
    panel: &ScatterPanel,
    axes: &Axes,
) -> std::result::Result<PixelMap, String> {
    // Long titles (a sweep's settings) get a smaller font rather than running off the panel.
    let title_size = if panel.title.chars().count() > 40 { 15 } else { 22 };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, title_size))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(52)
        .build_cartesian_2d(axes.x.0..axes.x.1, axes.y.0..axes.y.1)
        .map_err(plot_err)?;
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let map = PixelMap { left: xs.start, top: ys.start, width: xs.end - xs.start, height: ys.end - ys.start, axes: *axes };
    if let Some((classifier, dims, base)) = &panel.regions {
        draw_regions(&chart.plotting_area().strip_coord_spec(), &map, &region_classes(&map, classifier, *dims, base))?;
    }
    let mut caption = axes.normalize.caption().to_string();
    if matches!(&panel.regions, Some((_, _, base)) if base.len() > 2) {
        caption.push_str(Words::RegionsAtMean.text());
    }
    // Centers pushed far out (PC Loss) are not drawn, but said.
    for ProjectedCenters { loss, points, .. } in &panel.centers {
        let off = points.iter().filter(|&&c| !axes.contains(axes.map(c))).count();
        if off > 0 {
            caption.push_str(&centers_off_plot(language(), off, loss));
        }
    }
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(caption)
        .x_label_formatter(&|v| ticks::linear(*v as f64, (axes.x.1 - axes.x.0) as f64))
        .y_label_formatter(&|v| ticks::linear(*v as f64, (axes.y.1 - axes.y.0) as f64))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(plot_err)?;
    // matplotlib's s=0.4 is a dot about one pixel across; radius 1 keeps that look.
    chart
        .draw_series(
            panel
                .points
                .iter()
                .map(|&p| axes.map(p))
                .zip(panel.labels)
                .filter(|(p, _)| axes.contains(*p))
                .map(|(p, &l)| Circle::new(p, 1, TAB10[l as usize % 10].filled())),
        )
        .map_err(plot_err)?;
    for ProjectedCenters { marker, points, .. } in &panel.centers {
        for (k, &c) in points.iter().enumerate() {
            let p = axes.map(c);
            if axes.contains(p) {
                draw_marker(*marker, chart.plotting_area(), p, TAB10[k % 10])?;
            }
        }
    }
    Ok(map)
}

/// Light tints of the class colours, and a darker line where the class changes.
fn draw_regions(area: &DrawingArea<BitMapBackend, Shift>, map: &PixelMap, classes: &[u8]) -> std::result::Result<(), String> {
    let (w, h) = (map.width, map.height);
    let at = |i: i32, j: i32| classes[(j * w + i) as usize];
    for j in 0..h {
        for i in 0..w {
            let k = at(i, j);
            let edge = (i + 1 < w && at(i + 1, j) != k) || (j + 1 < h && at(i, j + 1) != k);
            let colour = if edge { RGBColor(0x80, 0x80, 0x80) } else { tint(k as usize) };
            area.draw_pixel((i, j), &colour).map_err(plot_err)?;
        }
    }
    Ok(())
}

/// Panels in rows of at most four (three when that balances the rows better), one legend
/// on the right. `axes` fixes the axes of every panel; `None` fits each panel to its points.
/// Returns the image and where each panel's plotting area lies in it.
pub(crate) fn draw_panels(
    panels: &[ScatterPanel],
    class_names: &[&str],
    normalize: Normalize,
    axes: Option<Axes>,
) -> Result<(RgbImage, Vec<PixelMap>)> {
    if panels.is_empty() {
        return Err(Error::input("panels", 0, "need at least one panel"));
    }
    let n = panels.len() as u32;
    let cols = if n <= 4 {
        n
    } else if n <= 9 {
        3
    } else {
        4
    };
    let rows = n.div_ceil(cols);
    let width = PANEL * cols + LEGEND;
    let mut maps = Vec::with_capacity(panels.len());
    let markers = legend_markers(panels);
    let image = draw_rgb(width, PANEL * rows, |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        let (plots, legend) = root.split_horizontally(width - LEGEND);
        for (panel, area) in panels.iter().zip(plots.split_evenly((rows as usize, cols as usize))) {
            maps.push(draw_scatter_panel(&area, panel, &axes.unwrap_or_else(|| normalize.fit(&panel.points)))?);
        }
        draw_legend(&legend, class_names, &markers)
    })?;
    Ok((image, maps))
}

/// Every loss whose centers some panel draws, with its marker, in the order they first
/// appear: a sweep's panels can each add a different loss (the student's own beside Center
/// Loss), and the shared legend has to explain every marker on the figure.
fn legend_markers<'a>(panels: &'a [ScatterPanel<'_>]) -> Vec<(&'a str, CenterMarker)> {
    let mut markers = Vec::new();
    for centers in panels.iter().flat_map(|p| &p.centers) {
        let named = (centers.loss.as_str(), centers.marker);
        if !markers.contains(&named) {
            markers.push(named);
        }
    }
    markers
}

/// One scatter plot with a class legend. `style` is a [`Normalize`] for the points alone,
/// or a [`Style`] with regions and centers.
pub fn scatter(f: &Features, class_names: &[&str], title: &str, style: impl Into<Style>) -> Result<Figure> {
    scatter_grid(&[(title, f)], class_names, style)
}

/// Several scatter plots, titled, sharing one legend (the three experiments, a sweep).
pub fn scatter_grid(panels: &[(&str, &Features)], class_names: &[&str], style: impl Into<Style>) -> Result<Figure> {
    let style = style.into();
    let panels = panels.iter().map(|(title, f)| ScatterPanel::of(title, f, (0, 1), style)).collect::<Result<Vec<_>>>()?;
    Figure::from_rgb(&draw_panels(&panels, class_names, style.normalize, None)?.0)
}

/// Features of more than two dimensions (e.g. `hidden_dim = 3`) as every pair of
/// dimensions side by side: 1-2, 1-3, 2-3 for three. With regions, each panel's plane goes
/// through the mean of the class means in the dimensions it does not show.
pub fn projections(f: &Features, class_names: &[&str], title: &str, style: impl Into<Style>) -> Result<Figure> {
    let style = style.into();
    if f.dim < 2 {
        return Err(Error::input("features", format!("dimension {}", f.dim), "need at least 2 dimensions to project"));
    }
    let pairs: Vec<(usize, usize)> = (0..f.dim).flat_map(|a| (a + 1..f.dim).map(move |b| (a, b))).collect();
    let panels = pairs
        .iter()
        .map(|&(a, b)| ScatterPanel::of(&dims_title(language(), title, a + 1, b + 1), f, (a, b), style))
        .collect::<Result<Vec<_>>>()?;
    Figure::from_rgb(&draw_panels(&panels, class_names, style.normalize, None)?.0)
}

/// Axes that fit every frame of an animation at once.
pub(crate) fn fit_all(frames: &[ScatterPanel], normalize: Normalize) -> Axes {
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
    fn per_axis_fills_the_unit_square_and_equal_aspect_keeps_units() {
        let pts = [(0.0, 0.0), (10.0, 1.0)];
        let axes = Normalize::PerAxis.fit(&pts);
        assert_eq!(pts.map(|p| axes.map(p)), [(0.0, 0.0), (1.0, 1.0)]);
        let axes = Normalize::EqualAspect.fit(&pts);
        assert_eq!(pts.map(|p| axes.map(p)), pts);
        assert!(((axes.x.1 - axes.x.0) - (axes.y.1 - axes.y.0)).abs() < 1e-4, "same span on both axes");
        // Every point in one place far from the origin (PC Loss's collapse): axes wide
        // enough that five ticks get five different labels.
        let axes = Normalize::EqualAspect.fit(&[(160.110_6, 5.0); 3]);
        let span = axes.x.1 - axes.x.0;
        let labels: std::collections::BTreeSet<String> =
            (0..5).map(|i| ticks::linear((axes.x.0 + span * i as f32 / 4.0) as f64, span as f64)).collect();
        assert_eq!(labels.len(), 5, "{labels:?}");
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

    /// A network trained a few epochs on ten synthetic classes, with Center Loss and PC
    /// Loss on, and its test features.
    fn trained() -> (crate::training::Experiment, crate::data::Split, Features) {
        use crate::training::{Experiment, PcConfig, TrainConfig};
        let train = crate::training::tests::synthetic(300, 3);
        let test = crate::training::tests::synthetic(200, 4);
        let config = TrainConfig { epochs: 4, batch_size: 20, lr: 0.05, log_every: 5, ..TrainConfig::default() }.with_center();
        let config = config.with(PcConfig::default());
        let mut e = Experiment::new(config, tch::Device::Cpu).unwrap();
        e.train(&train, |_| {}).unwrap();
        let f = e.features(&test).unwrap();
        (e, test, f)
    }

    #[test]
    fn every_point_lies_in_the_region_of_the_class_the_network_predicts() {
        let (e, test, f) = trained();
        let (logits, _) = tch::no_grad(|| e.model.forward(&test.images)).unwrap();
        let predicted = Vec::<i64>::try_from(logits.argmax(1, false)).unwrap();
        assert!(predicted.iter().any(|&p| p != predicted[0]), "the network predicts one class only: nothing to test");
        for normalize in [Normalize::EqualAspect, Normalize::PerAxis] {
            let panel = ScatterPanel::of("t", &f, (0, 1), normalize.regions(true)).unwrap();
            let (_, maps) = draw_panels(std::slice::from_ref(&panel), &[], normalize, None).unwrap();
            let map = maps[0];
            let (classifier, dims, base) = panel.regions.as_ref().unwrap();
            let classes = region_classes(&map, classifier, *dims, base);
            let class_at = |i: i32, j: i32| classes[(j * map.width + i) as usize];
            let (mut checked, mut on_edge) = (0, 0);
            for (p, &want) in panel.points.iter().zip(&predicted) {
                let (x, y) = map.pixel_of(*p);
                let (i, j) = (x - map.left, y - map.top);
                assert!(i >= 0 && j >= 0 && i < map.width && j < map.height, "{p:?} is off the plot");
                // A point within a pixel of a boundary may fall on either side of it.
                let near = [(i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)]
                    .iter()
                    .any(|&(a, b)| a >= 0 && b >= 0 && a < map.width && b < map.height && class_at(a, b) != class_at(i, j));
                if near {
                    on_edge += 1;
                    continue;
                }
                assert_eq!(class_at(i, j) as i64, want, "{normalize:?}: the point at {p:?} is drawn in the wrong region");
                checked += 1;
            }
            assert!(checked > 9 * on_edge, "{normalize:?}: {checked} points checked, {on_edge} on a boundary");
        }
    }

    #[test]
    fn the_features_carry_the_network_s_centers_and_they_are_drawn_where_they_map() {
        let (e, _, f) = trained();
        let centers = Vec::<f32>::try_from(e.center_loss_centers().unwrap().flatten(0, -1)).unwrap();
        assert_eq!(f.centers.iter().map(|c| c.loss.as_str()).collect::<Vec<_>>(), ["Center Loss", "PC Loss"]);
        assert_eq!(f.centers[0].values, centers);

        // Centers away from the points, one per class: each marker's middle pixel is filled
        // with its class colour, in both normalisation modes.
        let mut f = two_clusters();
        let spots = [(30.0, 2.0), (70.0, 2.0)];
        f.centers = vec![crate::features::Centers {
            loss: "Center Loss".into(),
            values: spots.iter().flat_map(|&(x, y)| [x, y]).collect(),
            marker: None,
        }];
        for normalize in [Normalize::EqualAspect, Normalize::PerAxis] {
            let panel = ScatterPanel::of("t", &f, (0, 1), normalize.centers(true)).unwrap();
            let (img, maps) = draw_panels(std::slice::from_ref(&panel), &["a", "b"], normalize, None).unwrap();
            for (k, &spot) in spots.iter().enumerate() {
                let (x, y) = maps[0].pixel_of(spot);
                let c = TAB10[k];
                assert_eq!(img.get_pixel(x as u32, y as u32).0, [c.0, c.1, c.2], "{normalize:?}: center {k} not at {spot:?}");
            }
        }
        // Without `centers(true)`, no marker.
        let panel = ScatterPanel::of("t", &f, (0, 1), Normalize::EqualAspect.into()).unwrap();
        let (img, maps) = draw_panels(std::slice::from_ref(&panel), &["a", "b"], Normalize::EqualAspect, None).unwrap();
        let (x, y) = maps[0].pixel_of(spots[0]);
        assert_eq!(img.get_pixel(x as u32, y as u32).0, [255, 255, 255]);
    }

    #[test]
    fn the_legend_names_the_centers_of_every_panel_once() {
        let with = |losses: &[(&str, Option<CenterMarker>)]| {
            let mut f = two_clusters();
            f.centers =
                losses.iter().map(|&(loss, marker)| crate::features::Centers { loss: loss.into(), values: vec![0.0; 4], marker }).collect();
            f
        };
        let features = [
            with(&[]),
            with(&[("Center Loss", Some(CenterMarker::Circle))]),
            with(&[("my_center", Some(CenterMarker::Diamond)), ("Center Loss", Some(CenterMarker::Circle))]),
        ];
        let panels: Vec<_> =
            features.iter().map(|f| ScatterPanel::of("t", f, (0, 1), Normalize::EqualAspect.centers(true)).unwrap()).collect();
        assert_eq!(legend_markers(&panels), [("Center Loss", CenterMarker::Circle), ("my_center", CenterMarker::Diamond)]);
    }

    #[test]
    fn regions_need_a_classifier_and_three_dimensions_cut_through_the_class_means() {
        let err = ScatterPanel::of("t", &two_clusters(), (0, 1), Normalize::PerAxis.regions(true)).err().unwrap().to_string();
        assert!(err.contains("experiment.features"), "{err}");
        let values: Vec<f32> = (0..90).map(|i| (i % 13) as f32).collect();
        let mut f3 = Features::new(3, values, (0..30).map(|i| (i % 3) as u8).collect()).unwrap();
        f3.classifier = Some(Classifier::new(3, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], vec![0.0; 3]).unwrap());
        let panel = ScatterPanel::of("t", &f3, (0, 2), Normalize::EqualAspect.regions(true)).unwrap();
        assert_eq!(panel.regions.as_ref().unwrap().2, f3.mean_of_class_means());
        assert!(projections(&f3, &["a", "b", "c"], "3-D", Normalize::EqualAspect.regions(true)).is_ok());
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
