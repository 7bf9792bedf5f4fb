//! The features' evolution during training as an animated GIF: one frame per recorded
//! epoch, every frame on the same axes so movement is real movement, not rescaling.
use std::path::Path;

use super::scatter::{draw_panels, fit_all, ScatterPanel};
use super::{evcxr_show, tint, Style, TAB10};
use crate::error::{Error, Result};
use crate::language::{epoch_title, language};
use crate::training::Snapshot;

/// The ten class colours and their ten region tints first, then 236 greys for the
/// background, axes and (anti-aliased) text. A fixed palette keeps every class its exact
/// colour in every frame, which a quantiser fitted to mostly-white frames does not (it
/// merged blue into grey).
fn palette() -> Vec<u8> {
    let greys = (0..GREYS).map(|i| (i * 255 / (GREYS - 1)) as u8).map(|g| [g, g, g]);
    exact_colours().map(|c| [c.0, c.1, c.2]).chain(greys).flatten().collect()
}

const GREYS: u32 = 236;

fn exact_colours() -> impl Iterator<Item = plotters::style::RGBColor> {
    TAB10.into_iter().chain((0..10).map(tint))
}

fn palette_index([r, g, b]: [u8; 3]) -> u8 {
    if let Some(i) = exact_colours().position(|c| (c.0, c.1, c.2) == (r, g, b)) {
        return i as u8;
    }
    let luma = (299 * r as u32 + 587 * g as u32 + 114 * b as u32) / 1000;
    20 + ((luma * (GREYS - 1) + 127) / 255) as u8
}

/// An animated GIF. In a notebook, a cell ending with an `Animation` plays it inline.
#[derive(Clone)]
pub struct Animation {
    pub gif: Vec<u8>,
    pub frames: usize,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Debug for Animation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Animation({} frames, {}x{} GIF, {} bytes)", self.frames, self.width, self.height, self.gif.len())
    }
}

impl Animation {
    /// Writes the GIF to `path` atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::fs::write_atomic(path.as_ref(), &self.gif)
    }

    /// evcxr calls this to show a value: the GIF, inline.
    pub fn evcxr_display(&self) {
        evcxr_show("image/gif", &self.gif);
    }
}

/// Each snapshot as a scatter frame titled `"{title}: epoch N"`, `frame_ms` apart (the last
/// frame stays three times as long, so the loop's end is visible), looping forever. With a
/// [`Style`] that asks for them, the regions and centers move with the points.
pub fn animation(snapshots: &[Snapshot], class_names: &[&str], title: &str, style: impl Into<Style>, frame_ms: u32) -> Result<Animation> {
    let style = style.into();
    if snapshots.is_empty() {
        return Err(Error::input(
            "snapshots",
            0,
            "nothing recorded; record the frames with record_or_load (or training's Record callbacks) first",
        ));
    }
    let panels = snapshots
        .iter()
        .map(|s| ScatterPanel::of(&epoch_title(language(), title, s.epoch + 1), &s.features, (0, 1), style))
        .collect::<Result<Vec<_>>>()?;
    let axes = fit_all(&panels, style.normalize);
    // Frames as palette indices (a byte per pixel), then one encoder over all of them.
    let mut frames = Vec::with_capacity(panels.len());
    let (mut width, mut height) = (0, 0);
    for panel in &panels {
        let (rgb, _) = draw_panels(std::slice::from_ref(panel), class_names, style.normalize, Some(axes))?;
        (width, height) = (rgb.width() as u16, rgb.height() as u16);
        frames.push(rgb.pixels().map(|p| palette_index(p.0)).collect::<Vec<u8>>());
    }
    let gif_err = |e: gif::EncodingError| Error::Plot(format!("encoding the GIF: {e}"));
    let mut gif = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut gif, width, height, &palette()).map_err(gif_err)?;
        encoder.set_repeat(gif::Repeat::Infinite).map_err(gif_err)?;
        for (i, indices) in frames.iter().enumerate() {
            let ms = if i + 1 == frames.len() { 3 * frame_ms } else { frame_ms };
            let frame = gif::Frame {
                width,
                height,
                delay: (ms / 10).min(u16::MAX as u32) as u16,
                buffer: std::borrow::Cow::Borrowed(indices),
                ..Default::default()
            };
            encoder.write_frame(&frame).map_err(gif_err)?;
        }
    }
    let (width, height) = (width as u32, height as u32);
    Ok(Animation { gif, frames: snapshots.len(), width, height })
}

#[cfg(test)]
mod tests {
    use super::super::Normalize;
    use super::*;
    use crate::features::Features;
    use crate::training::{Experiment, Progress, Record, TrainConfig};
    use image::AnimationDecoder;

    #[test]
    fn one_frame_per_snapshot_on_fixed_axes() {
        // Two classes drifting apart over three epochs.
        let snapshots: Vec<Snapshot> = (0..3)
            .map(|epoch| {
                let d = 1.0 + 4.0 * epoch as f32;
                let values = (0..40).flat_map(|i| [if i % 2 == 0 { -d } else { d } + (i % 5) as f32 * 0.1, (i % 3) as f32]).collect();
                Snapshot { epoch, features: Features::new(2, values, (0..40).map(|i| (i % 2) as u8).collect()).unwrap() }
            })
            .collect();
        let anim = animation(&snapshots, &["a", "b"], "drift", Normalize::EqualAspect, 200).unwrap();
        let decoder = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&anim.gif)).unwrap();
        let frames = decoder.into_frames().collect_frames().unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].buffer().dimensions(), (anim.width, anim.height));
        // Fixed axes: the first frame's clusters sit near the middle, so the panel's
        // left and right fifths hold no class colour; on the last frame they do.
        let coloured_at_edges = |f: &image::Frame| {
            let img = f.buffer();
            let panel_w = anim.width - 150;
            img.enumerate_pixels().any(|(x, _, p)| {
                (x < panel_w / 5 || (x > 4 * panel_w / 5 && x < panel_w)) && p.0 == [TAB10[0].0, TAB10[0].1, TAB10[0].2, 255]
            })
        };
        assert!(!coloured_at_edges(&frames[0]) && coloured_at_edges(&frames[2]));
        // Both class colours come through exactly.
        for c in &TAB10[..2] {
            assert!(frames[2].buffer().pixels().any(|p| p.0 == [c.0, c.1, c.2, 255]), "{c:?} lost");
        }
        assert_eq!(frames[0].delay().numer_denom_ms(), (200, 1));
        assert!(animation(&[], &[], "none", Normalize::PerAxis, 100).is_err());
    }

    #[test]
    fn the_evolution_gif_has_one_frame_per_epoch() {
        let data = crate::training::tests::synthetic(60, 6);
        let mut e =
            Experiment::new(TrainConfig { epochs: 2, batch_size: 20, lr: 0.05, ..TrainConfig::default().with_center() }, tch::Device::Cpu)
                .unwrap();
        let probe = data.first(40);
        let mut record = Record::new(&probe, |_: Progress| {});
        e.train_with(&data, &mut record).unwrap();
        let snapshots = record.frames;
        let gif = animation(&snapshots, &["a"; 10], "evolution", Normalize::EqualAspect, 100).unwrap();
        let decoder = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&gif.gif)).unwrap();
        assert_eq!(decoder.into_frames().collect_frames().unwrap().len(), 2);
    }
}
