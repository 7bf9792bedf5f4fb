//! Figures as PNG bytes: the lesson's per-class scatter, a grid of them, and training
//! curves. Drawn with plotters into memory and encoded with `image`; their text is in the
//! notebook's language (`language`) and font (`font`).
mod animation;
mod curves;
mod font;
mod scatter;
mod ticks;

use std::path::Path;

use plotters::prelude::*;

pub(crate) use crate::language::Words;
pub use crate::language::{set_figure_language, Language};
pub use animation::{animation, Animation};
pub use curves::curves;
pub use font::{describe_font, missing_glyphs};
pub use scatter::{projections, scatter, scatter_grid, Normalize, Style};

use crate::error::{Error, Result};
use crate::features::CenterMarker;

/// matplotlib's default colour cycle ("tab10"), which the original's plots used.
pub const TAB10: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

const FONT: &str = "sans-serif";

/// A rendered figure. In a notebook, a cell ending with a `Figure` shows the image.
#[derive(Clone)]
pub struct Figure {
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Debug for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Figure({}x{} PNG, {} bytes)", self.width, self.height, self.png.len())
    }
}

impl Figure {
    /// Draws into an RGB buffer of `width` x `height` with `draw`, then encodes it as PNG.
    pub(crate) fn render(
        width: u32,
        height: u32,
        draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> std::result::Result<(), String>,
    ) -> Result<Figure> {
        Figure::from_rgb(&draw_rgb(width, height, draw)?)
    }

    pub(crate) fn from_rgb(image: &image::RgbImage) -> Result<Figure> {
        let mut png = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).map_err(|e| Error::Plot(e.to_string()))?;
        Ok(Figure { png, width: image.width(), height: image.height() })
    }

    /// Writes the PNG to `path` atomically (a temporary name, then a rename), so an
    /// interrupted run never leaves half a file where a good one was.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::fs::write_atomic(path.as_ref(), &self.png)
    }

    /// evcxr calls this to show a value: the PNG, inline.
    pub fn evcxr_display(&self) {
        evcxr_show("image/png", &self.png);
    }
}

/// Draws into a white-initialised RGB image of `width` x `height` with `draw`.
pub(crate) fn draw_rgb(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> std::result::Result<(), String>,
) -> Result<image::RgbImage> {
    font::register();
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        draw(&root).map_err(Error::Plot)?;
        root.present().map_err(|e| Error::Plot(e.to_string()))?;
    }
    image::RgbImage::from_raw(width, height, rgb).ok_or_else(|| Error::Plot("buffer size".into()))
}

/// Hands binary output (an image) to evcxr, which shows it in the notebook.
pub(crate) fn evcxr_show(mime: &str, bytes: &[u8]) {
    use base64::Engine;
    println!("EVCXR_BEGIN_CONTENT {mime}\n{}\nEVCXR_END_CONTENT", base64::engine::general_purpose::STANDARD.encode(bytes));
}

/// Turns any plotters error into the `String` our drawing closures return.
pub(crate) fn plot_err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// The background of class `k`'s decision region: its colour, mostly white.
pub(crate) fn tint(k: usize) -> RGBColor {
    let c = TAB10[k % 10];
    let light = |v: u8| 255 - ((255 - v as u32) * 22 / 100) as u8;
    RGBColor(light(c.0), light(c.1), light(c.2))
}

/// Draws one center: `marker`'s shape in the class's colour over a black outline.
pub(crate) fn draw_marker<DB: DrawingBackend, CT: plotters::coord::CoordTranslate>(
    marker: CenterMarker,
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    colour: RGBColor,
) -> std::result::Result<(), String>
where
    CT::From: Clone,
{
    let (outline, fill) = (BLACK.filled(), colour.filled());
    let diamond = |r: i32| vec![(0, -r), (r, 0), (0, r), (-r, 0)];
    let r = match marker {
        CenterMarker::Circle => area.draw(&Circle::new(at.clone(), 9, outline)).and_then(|_| area.draw(&Circle::new(at, 7, fill))),
        CenterMarker::Triangle => {
            area.draw(&TriangleMarker::new(at.clone(), 14, outline)).and_then(|_| area.draw(&TriangleMarker::new(at, 10, fill)))
        }
        CenterMarker::Square => area
            .draw(&(EmptyElement::at(at.clone()) + Rectangle::new([(-8, -8), (8, 8)], outline)))
            .and_then(|_| area.draw(&(EmptyElement::at(at) + Rectangle::new([(-6, -6), (6, 6)], fill)))),
        CenterMarker::Diamond => area
            .draw(&(EmptyElement::at(at.clone()) + Polygon::new(diamond(11), outline)))
            .and_then(|_| area.draw(&(EmptyElement::at(at) + Polygon::new(diamond(8), fill)))),
    };
    r.map_err(plot_err)
}

/// The class legend: one coloured dot and name per class, top to bottom, then the marker
/// of each loss whose centers are drawn.
pub(crate) fn draw_legend(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    names: &[&str],
    markers: &[(&str, CenterMarker)],
) -> std::result::Result<(), String> {
    for (i, name) in names.iter().enumerate() {
        let y = 60 + 26 * i as i32;
        area.draw(&Circle::new((14, y), 6, TAB10[i % 10].filled())).map_err(plot_err)?;
        area.draw(&Text::new(name.to_string(), (26, y - 9), (FONT, 17).into_font())).map_err(plot_err)?;
    }
    let below = 60 + 26 * names.len() as i32 + 20;
    for (i, &(loss, marker)) in markers.iter().enumerate() {
        let y = below + 44 * i as i32;
        draw_marker(marker, area, (14, y), RGBColor(0xc0, 0xc0, 0xc0))?;
        area.draw(&Text::new(loss.to_string(), (30, y - 16), (FONT, 14).into_font())).map_err(plot_err)?;
        area.draw(&Text::new(Words::Centers.text(), (30, y + 1), (FONT, 14).into_font())).map_err(plot_err)?;
    }
    Ok(())
}
