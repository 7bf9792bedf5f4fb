//! How long trainings will take here, said before they start: measured on this machine by
//! timing a few steps of the configuration itself, never a constant from another CPU.
use std::time::Instant;

use tch::Device;

use super::{minutes_and_seconds, Experiment, TrainConfig};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::language::{language, Language};

/// Steps timed for an estimate, after one untimed step that pays for first allocations.
const TIMED_STEPS: usize = 8;
/// Test images timed for the evaluations a training adds.
const TIMED_TEST_IMAGES: usize = 1000;

/// Seconds one training of `config` on `data` takes here, as `train_or_load` and sweeps
/// run it: every epoch on `data.train` with a test evaluation after it, then the test
/// set's evaluation and features. Costs about a second on a CPU.
pub(crate) fn training_seconds(config: &TrainConfig, data: &Dataset, device: Device) -> Result<f64> {
    let batch = config.batch_size.max(1);
    let mut probe = Experiment::new(TrainConfig { epochs: 1, log_every: usize::MAX, ..config.clone() }, device)?;
    // The steps cost the same whether or not the loss stays finite; a setting that diverges
    // is for its training to report, with the other runs of its sweep still going on.
    let time_anyway = |trained: Result<Vec<_>>| match trained {
        Ok(_) | Err(Error::Diverged { .. }) => Ok(()),
        Err(e) => Err(e),
    };
    time_anyway(probe.train(&data.train.first(batch), |_| {}))?;
    let timed = data.train.first(TIMED_STEPS * batch);
    let start = Instant::now();
    time_anyway(probe.train(&timed, |_| {}))?;
    let per_train_image = start.elapsed().as_secs_f64() / timed.len().max(1) as f64;
    let test = data.test.first(TIMED_TEST_IMAGES);
    let start = Instant::now();
    probe.evaluate(&test)?;
    let per_test_image = start.elapsed().as_secs_f64() / test.len().max(1) as f64;
    let (train, test) = (data.train.len() as f64, data.test.len() as f64);
    // Per epoch: training and the test evaluation; at the end, evaluation and features.
    Ok(config.epochs as f64 * (train * per_train_image + test * per_test_image) + 2.0 * test * per_test_image)
}

/// What a set of configurations will cost here: how many train, how many load from the
/// run cache, and about how many seconds the trainings take.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub to_train: usize,
    pub to_load: usize,
    pub seconds: f64,
    /// Seconds per epoch of the configuration timed (the first to train).
    per_epoch: f64,
}

impl Estimate {
    /// Times the first of `to_train` and scales the others by their epochs.
    pub(crate) fn new(to_train: &[&TrainConfig], to_load: usize, data: &Dataset, device: Device) -> Result<Self> {
        let per_epoch = match to_train.first() {
            Some(first) => training_seconds(first, data, device)? / first.epochs.max(1) as f64,
            None => 0.0,
        };
        let seconds = to_train.iter().map(|c| c.epochs as f64 * per_epoch).sum();
        Ok(Estimate { to_train: to_train.len(), to_load, seconds, per_epoch })
    }

    /// The estimate's seconds for one of the configurations.
    pub fn seconds_for(&self, config: &TrainConfig) -> f64 {
        config.epochs as f64 * self.per_epoch
    }

    /// One line, in the figures' language: "2 training(s) to run, 3 to load from the cache:
    /// about 4 min 10 s on this machine (...)".
    pub fn line(&self) -> String {
        announcement(language(), self.to_train, self.to_load, self.seconds)
    }
}

/// The line said before trainings start: how many train, how many load, how long.
pub(crate) fn announcement(language: Language, to_train: usize, to_load: usize, seconds: f64) -> String {
    let ja = language == Language::Japanese;
    match (to_train, ja) {
        (0, false) => format!("all {to_load} run(s) load from the cache: seconds, no training"),
        (0, true) => format!("{to_load} 件すべてをキャッシュから読み込みます（学習なし，数秒）"),
        (_, false) => format!(
            "{to_train} training(s) to run{}: about {} on this machine (timed from the first steps)",
            if to_load > 0 { format!(", {to_load} to load from the cache") } else { String::new() },
            minutes_and_seconds(seconds)
        ),
        (_, true) => format!(
            "学習 {to_train} 件{}：このマシンでおよそ {}（最初の数ステップの速さから見積もり）",
            if to_load > 0 { format!("，キャッシュから読み込み {to_load} 件") } else { String::new() },
            japanese_duration(seconds)
        ),
    }
}

/// "4分05秒", "35秒".
fn japanese_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s < 60 {
        format!("{s}秒")
    } else {
        format!("{}分{:02}秒", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announcement_counts_and_times_in_both_languages() {
        let en = announcement(Language::English, 2, 3, 250.0);
        assert_eq!(en, "2 training(s) to run, 3 to load from the cache: about 4 min 10 s on this machine (timed from the first steps)");
        let ja = announcement(Language::Japanese, 2, 3, 250.0);
        assert!(ja.starts_with("学習 2 件，キャッシュから読み込み 3 件：このマシンでおよそ 4分10秒"), "{ja}");
        assert!(announcement(Language::English, 0, 5, 0.0).starts_with("all 5 run(s) load"));
        assert!(!announcement(Language::English, 1, 0, 59.4).contains("cache"));
    }
}
