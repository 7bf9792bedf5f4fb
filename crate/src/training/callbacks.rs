//! What a training does besides its steps, handed to [`Experiment::train`]: report progress,
//! measure the test set after every epoch, record an animation's frames, train another number
//! of epochs than the config's. A closure over [`Progress`] is the plainest: progress only.
use super::{EpochStats, Experiment, Progress, Snapshot};
use crate::data::Split;
use crate::error::Result;

pub trait Callbacks {
    /// Epochs this call trains, after those in the history: `None` is the config's `epochs`.
    fn epochs(&self) -> Option<usize> {
        None
    }
    /// A progress report: a step line, an epoch's summary, a note.
    fn progress(&mut self, _: Progress) {}
    /// After each epoch's steps, before the epoch is reported: may measure the network into
    /// `stats` or keep something of it.
    fn epoch_done(&mut self, _: &Experiment, _: &mut EpochStats) -> Result<()> {
        Ok(())
    }
}

impl<F: FnMut(Progress)> Callbacks for F {
    fn progress(&mut self, p: Progress) {
        self(p)
    }
}

/// `epochs` more epochs, whatever the config says; `progress` sees them.
pub struct Epochs<P>(pub usize, pub P);

impl<P: FnMut(Progress)> Callbacks for Epochs<P> {
    fn epochs(&self) -> Option<usize> {
        Some(self.0)
    }
    fn progress(&mut self, p: Progress) {
        (self.1)(p)
    }
}

/// The accuracy on `test` after every epoch, kept in the history (`curves` draws it; it costs
/// one evaluation per epoch).
pub struct WatchTest<'a, P> {
    pub test: &'a Split,
    pub progress: P,
}

impl<P: FnMut(Progress)> Callbacks for WatchTest<'_, P> {
    fn progress(&mut self, p: Progress) {
        (self.progress)(p)
    }
    fn epoch_done(&mut self, experiment: &Experiment, stats: &mut EpochStats) -> Result<()> {
        if !self.test.is_empty() {
            stats.test_accuracy = Some(experiment.evaluate(self.test)?.accuracy);
        }
        Ok(())
    }
}

/// The features of `probe` after every epoch: the frames of an animation.
pub struct Record<'a, P> {
    pub probe: &'a Split,
    pub frames: Vec<Snapshot>,
    pub progress: P,
}

impl<'a, P> Record<'a, P> {
    pub fn new(probe: &'a Split, progress: P) -> Self {
        Record { probe, frames: Vec::new(), progress }
    }
}

impl<P: FnMut(Progress)> Callbacks for &mut Record<'_, P> {
    fn progress(&mut self, p: Progress) {
        (self.progress)(p)
    }
    fn epoch_done(&mut self, experiment: &Experiment, stats: &mut EpochStats) -> Result<()> {
        self.frames.push(Snapshot { epoch: stats.epoch, features: experiment.features(self.probe)? });
        Ok(())
    }
}
