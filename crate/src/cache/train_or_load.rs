//! The lesson's trainings and the exercise's animation through the run cache, and what a set
//! of configurations will cost given what the cache holds.
use tch::Device;

use super::{data_identity, Lookup, RunCache};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::report::summarize;
use crate::training::{EpochStats, Estimate, Experiment, Progress, Record, Snapshot, TrainConfig, WatchTest};

/// The lesson's trainings, kept across kernel restarts. Trains `experiment` on `data.train`
/// like [`Experiment::train`] and keeps the run in the run cache
/// ([`RunCache::default_dir`]); when the cache already holds this configuration trained on
/// this data, loads its weights and history instead, and says so. Returns the history, as
/// `train` does. `experiment` must be fresh from [`Experiment::new`]: the cache's key is its
/// configuration, which says nothing of epochs trained before.
pub fn train_or_load(experiment: &mut Experiment, data: &Dataset, progress: impl FnMut(Progress)) -> Result<Vec<EpochStats>> {
    train_or_load_in(&RunCache::from_env(), experiment, data, progress)
}

pub(super) fn train_or_load_in(
    cache: &RunCache,
    experiment: &mut Experiment,
    data: &Dataset,
    progress: impl FnMut(Progress),
) -> Result<Vec<EpochStats>> {
    let identity = data_identity(data)?;
    through_cache(cache, &identity, experiment, data, progress, |e, data, progress| {
        e.train_with(&data.train, WatchTest { test: &data.test, progress })?;
        Ok(Vec::new())
    })?;
    Ok(experiment.history.clone())
}

/// The exercise's animation, kept like the lesson's trainings: trains `experiment` (fresh
/// from [`Experiment::new`]) for its `config.epochs`, recording the features of the first
/// `probe` test images after every epoch, the frames of [`animation`](crate::plot::animation);
/// or, when the run cache holds this recording, loads it (and the trained weights).
pub fn record_or_load(experiment: &mut Experiment, data: &Dataset, probe: usize, progress: impl FnMut(Progress)) -> Result<Vec<Snapshot>> {
    record_or_load_in(&RunCache::from_env(), experiment, data, probe, progress)
}

pub(super) fn record_or_load_in(
    cache: &RunCache,
    experiment: &mut Experiment,
    data: &Dataset,
    probe: usize,
    progress: impl FnMut(Progress),
) -> Result<Vec<Snapshot>> {
    let identity = format!("{}; recorded: the first {probe} test images after every epoch", data_identity(data)?);
    through_cache(cache, &identity, experiment, data, progress, |e, data, progress| {
        let probe = data.test.first(probe);
        let mut record = Record::new(&probe, progress);
        e.train_with(&data.train, &mut record)?;
        Ok(record.frames)
    })
}

/// Loads `experiment`'s run from `cache` under `identity`, replaying its per-epoch log (the
/// lesson's discussion reads it); or says how long training takes here, trains with
/// `train`, and keeps the run.
fn through_cache(
    cache: &RunCache,
    identity: &str,
    experiment: &mut Experiment,
    data: &Dataset,
    mut progress: impl FnMut(Progress),
    train: impl FnOnce(&mut Experiment, &Dataset, &mut dyn FnMut(Progress)) -> Result<Vec<Snapshot>>,
) -> Result<Vec<Snapshot>> {
    if !experiment.history.is_empty() {
        return Err(Error::input(
            "experiment",
            format!("already trained {} epochs", experiment.history.len()),
            "train_or_load and record_or_load need an Experiment fresh from Experiment::new",
        ));
    }
    match cache.load(&experiment.config, identity)? {
        Lookup::Hit(hit) => {
            experiment.load_weights(&hit.weights)?;
            experiment.history = hit.report.history.clone();
            let dir = hit.weights.parent().unwrap_or(&hit.weights).display().to_string();
            progress(Progress::Note(&format!("{} from {dir}; its training log:", hit.loaded_note())));
            for stats in &experiment.history {
                progress(Progress::Epoch(stats));
            }
            return Ok(hit.snapshots);
        }
        Lookup::Corrupt(why) => progress(Progress::Note(&format!("cache entry unusable ({why}); training again"))),
        Lookup::Missing => {}
    }
    progress(Progress::Note(&Estimate::new(&[&experiment.config], 0, data, experiment.device)?.line()));
    let snapshots = train(experiment, data, &mut progress)?;
    let run = summarize("lesson", experiment, data)?;
    let weights = cache.store(identity, experiment, &run, &snapshots)?;
    progress(Progress::Note(&format!(
        "kept in the run cache ({}): a restarted kernel loads it instead of training again",
        weights.parent().unwrap_or(&weights).display()
    )));
    Ok(snapshots)
}

/// What training `configs` on `data` will cost here, given what the run cache holds: said
/// before a long job starts (`lossviz compare` prints it first).
pub fn estimate(configs: &[TrainConfig], data: &Dataset, device: Device) -> Result<Estimate> {
    let cache = RunCache::from_env();
    let identity = data_identity(data)?;
    let mut to_train = Vec::new();
    for config in configs {
        if !cache.holds(config, &identity)? {
            to_train.push(config);
        }
    }
    Estimate::new(&to_train, configs.len() - to_train.len(), data, device)
}
