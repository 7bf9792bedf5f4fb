//! Training and evaluation as the original notebook meant them, with its bugs fixed.
//!
//! One step: `total = xent + lambda_c * center - lambda_pc * pc` (plus the exercise's
//! optional contrastive-center and CosFace terms), one backward pass, then the optimisers
//! step: the network's (SGD with momentum, as the original, or Adam) and one per added loss
//! for its centers (plain SGD, as the original, or Adam). Departures from the original, each on purpose:
//! - The center optimisers step *after* `backward()` without clearing the gradients first.
//!   The original called `zero_grad()` right before `step()`, so its centers never moved
//!   (and on PyTorch 2, where cleared gradients are `None`, the PC loop crashed).
//!   A loss's `lr: 0.0` keeps its centers frozen on purpose, to show what the original
//!   trained.
//! - A center's gradient is divided by its loss's weight before the step (the original did
//!   this for PC only; with its `lambda_center = 1` that is the same). The centers then move
//!   at `center_lr` whatever the weight, so the weight tunes the network, not the centers.
//! - Evaluation counts samples with the batch dimension (the original used `x.size(1)`, the
//!   channel count, so it divided by 10,000 x 1 only by luck of batch size 1) and runs in
//!   batches of 100 instead of 1.
//! - Training accuracy is over every sample of the epoch, not every 100th batch.
//! - The device is chosen at run time (CUDA if present), not hard-wired.
pub mod callbacks;
pub(crate) mod config;
mod estimate;
mod progress;

use std::time::Instant;

use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

pub use crate::losses::{CenterConfig, ContrastiveCenterConfig, CosFaceConfig, PcConfig};
pub use crate::model::Precision;
pub use callbacks::{Callbacks, Epochs, Record, WatchTest};
pub use config::{LessonRun, OptimizerKind, TrainConfig};
pub use estimate::Estimate;
pub(crate) use progress::minutes_and_seconds;
pub use progress::{print_progress, Progress};

use crate::data::{Batches, Split};
use crate::error::{Error, Result, TorchContext};
use crate::features::{CenterMarker, Centers, Classifier, Features};
use crate::losses::{AddedLoss, ClassLoss};
use crate::model::Cnn;
use crate::rng::lock_global_rng;

/// What one epoch did: mean losses per sample, accuracy over all its samples, time.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f64,
    pub xent: f64,
    /// Each added loss's mean, by its path (`center`, `pc`, ...), in the config's order.
    pub terms: Vec<(String, f64)>,
    /// Percent.
    pub train_accuracy: f64,
    pub seconds: f64,
    /// Percent, on the test set after this epoch, when training watched one
    /// ([`WatchTest`]).
    #[serde(default)]
    pub test_accuracy: Option<f64>,
    /// The same means over each stretch of `log_every` steps, for curves finer than epochs.
    #[serde(default)]
    pub steps: Vec<StepStats>,
}

/// Mean losses and accuracy over a stretch of steps: `log_every` steps (the original printed
/// every 100), or a tenth of the epoch when that is shorter, so that a curve has at least ten
/// points per epoch.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepStats {
    /// Steps done in the epoch (1-based) when this stretch ended, of `steps`.
    pub step: usize,
    pub steps: usize,
    pub loss: f64,
    pub xent: f64,
    /// Each added loss's mean, by its path, as in [`EpochStats::terms`].
    pub terms: Vec<(String, f64)>,
    /// Percent.
    pub accuracy: f64,
}

/// An added loss's value in `terms`, 0 when the run does not have it.
pub fn term(terms: &[(String, f64)], path: &str) -> f64 {
    terms.iter().find(|(name, _)| name == path).map_or(0.0, |(_, v)| *v)
}

impl StepStats {
    /// Where this stretch ends, in epochs from the start of training (epoch 0 step 50 of
    /// 100 is 0.5): the x coordinate of a per-step curve.
    pub fn position(&self, epoch: usize) -> f64 {
        epoch as f64 + self.step as f64 / self.steps.max(1) as f64
    }
}

/// The features of a probe set after an epoch (0-based), recorded during training.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub epoch: usize,
    pub features: Features,
}

/// Test-set result: mean cross-entropy per sample and accuracy in percent.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub samples: usize,
    pub seconds: f64,
}

fn cross_entropy(logits: &Tensor, labels: &Tensor, reduction: tch::Reduction) -> Result<Tensor> {
    logits
        .f_log_softmax(1, Kind::Float)
        .and_then(|l| l.f_nll_loss::<Tensor>(labels, None, reduction, -100))
        .context("computing cross-entropy (is every label below num_classes?)")
}

/// The version of training's numbers: part of every run cache key, so runs trained by code
/// that computed differently are trained again rather than loaded. Bump it with any change
/// that moves results (initialisation, a loss, the optimisers, shuffling); the test
/// `results_version_matches_the_reference_run` fails until you do.
pub const RESULTS_VERSION: u32 = 1;

/// Samples per forward pass in evaluation and feature extraction. Small batches stay in
/// the CPU's caches: 100 ran 1.2-1.8x faster than 1,000 here (BENCHMARKS.md).
const EVAL_BATCH: usize = 100;

/// Slots of the running sums: loss and xent, one per added loss (in `losses` order), then
/// correct predictions and samples; see [`Sums`].
const TOTAL: usize = 0;
const XENT: usize = 1;

/// Where the running sums of a run with `added` losses keep each value.
#[derive(Debug, Clone, Copy)]
struct Sums {
    added: usize,
}

impl Sums {
    fn term(self, i: usize) -> usize {
        2 + i
    }
    fn correct(self) -> usize {
        2 + self.added
    }
    fn samples(self) -> usize {
        3 + self.added
    }
    fn len(self) -> usize {
        4 + self.added
    }
    /// Total, xent and the added losses: the values that must stay finite.
    fn losses(self) -> usize {
        2 + self.added
    }
}

/// An added loss together with its weight, the store that owns its class vectors, and
/// their optimiser.
struct Aux {
    /// The loss's path (`center`): the name of its term and of its variables on disk.
    name: String,
    /// The legend's name for its centers and their marker, when they are drawn.
    centers_drawn: Option<(String, CenterMarker)>,
    loss: Box<dyn ClassLoss>,
    /// Signed weight: PC Loss is subtracted.
    lambda: f64,
    store: nn::VarStore,
    optimizer: nn::Optimizer,
    /// Learning rate 0: the centers keep their starting values (the original's behaviour),
    /// so no step is taken at all, not even one that a NaN gradient could spoil.
    frozen: bool,
}

impl Aux {
    fn new(added: &dyn AddedLoss, config: &TrainConfig, device: Device) -> Result<Self> {
        let store = nn::VarStore::new(device);
        let (k, d) = (config.model.num_classes, config.model.hidden_dim);
        let loss = added.build(&store.root(), k, d)?;
        let optimizer = build_optimizer(config.center_optimizer, &store, added.lr(), 0.0).context("creating the centers' optimiser")?;
        let frozen = added.lr() == 0.0;
        let centers_drawn = added.centers_drawn().map(|(name, marker)| (name.to_string(), marker));
        Ok(Aux { name: added.path().to_string(), centers_drawn, loss, lambda: added.signed_lambda(), store, optimizer, frozen })
    }

    /// Divides the centers' gradient by the loss weight (see the module docs), then steps.
    fn step(&mut self) -> Result<()> {
        if self.frozen {
            return Ok(());
        }
        if self.lambda != 0.0 {
            let scale = 1.0 / self.lambda.abs();
            tch::no_grad(|| {
                for var in self.store.trainable_variables() {
                    let mut grad = var.grad();
                    if grad.defined() {
                        grad.f_mul_scalar_(scale).map(drop).context(&format!("scaling the {} centers' gradient by 1/lambda", self.name))?;
                    }
                }
                Ok::<(), Error>(())
            })?;
        }
        self.optimizer.step();
        Ok(())
    }
}

fn build_optimizer(kind: OptimizerKind, store: &nn::VarStore, lr: f64, momentum: f64) -> std::result::Result<nn::Optimizer, tch::TchError> {
    match kind {
        OptimizerKind::Sgd => nn::Sgd { momentum, ..Default::default() }.build(store, lr),
        OptimizerKind::Adam => nn::Adam::default().build(store, lr),
    }
}

/// One network with the losses it is trained with: the lesson's `model_xent`,
/// `model_xent_center` or `model_xent_center_pc`, with their optimisers.
///
/// Its parts are read through methods: the settings it was built with and the history it
/// trained are what the cache's key and the lesson's plots say they are, so nothing outside
/// changes them behind its back.
pub struct Experiment {
    pub(crate) config: TrainConfig,
    pub(crate) device: Device,
    pub(crate) model: Cnn,
    pub(crate) history: Vec<EpochStats>,
    /// The network's weights.
    pub(crate) store: nn::VarStore,
    /// Number format of `evaluate` and `features` ([`Experiment::set_inference`]).
    pub(crate) inference: Precision,
    optimizer: nn::Optimizer,
    losses: Vec<Aux>,
}

impl Experiment {
    /// Checks `config`, then creates the network and the centers from `config.seed`.
    pub fn new(config: TrainConfig, device: Device) -> Result<Self> {
        config.validate()?;
        let _rng = lock_global_rng();
        tch::manual_seed(config.seed as i64);
        let store = nn::VarStore::new(device);
        let model = Cnn::new(&store.root(), config.model)?;
        let optimizer =
            build_optimizer(config.optimizer, &store, config.lr, config.momentum).context("creating the network's optimiser")?;
        let losses = config.added_losses().into_iter().map(|l| Aux::new(l, &config, device)).collect::<Result<Vec<_>>>()?;
        Ok(Experiment { config, device, model, history: Vec::new(), store, inference: Precision::Fp32, optimizer, losses })
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// The network, for a forward pass of one's own.
    pub fn model(&self) -> &Cnn {
        &self.model
    }

    /// Every epoch trained so far (or loaded from the run cache), in order.
    pub fn history(&self) -> &[EpochStats] {
        &self.history
    }

    /// Runs `evaluate` and `features` in `precision`, whatever training used (that is
    /// `config.precision`). `Bf16` runs them on a bfloat16 copy of the network: with AMX 2-4
    /// times faster, with slightly different features (BENCHMARKS.md measures both).
    pub fn set_inference(&mut self, precision: Precision) {
        self.inference = precision;
    }

    /// Every variable to save, by the name it is saved under: the network's keep theirs, so
    /// `store.load` reads the file too; the class vectors are `loss.<path>.<name>`
    /// (`loss.center.centers`).
    fn named_variables(&self) -> Vec<(String, Tensor)> {
        let mut named: Vec<(String, Tensor)> = self.store.variables().into_iter().collect();
        for aux in &self.losses {
            named.extend(aux.store.variables().into_iter().map(|(name, t)| (format!("loss.{}.{name}", aux.name), t)));
        }
        // In name order: the store's map has a different order in each process, and the same
        // training must give the same file (the run cache compares checksums).
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }

    /// The network's weights and every added loss's class vectors, as the bytes of one
    /// `.ot` file (see `named_variables`).
    pub(crate) fn weights_bytes(&self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        Tensor::save_multi_to_stream(&self.named_variables(), &mut bytes).context("saving the weights")?;
        Ok(bytes)
    }

    /// Restores what [`Experiment::weights_bytes`] saved to `path`: the network and the
    /// centers, so a reloaded run's plots show the centers it learned.
    pub fn load_weights(&mut self, path: &std::path::Path) -> Result<()> {
        let what = format!("loading {}", path.display());
        let saved: std::collections::HashMap<String, Tensor> =
            Tensor::load_multi_with_device(path, self.device).context(&what)?.into_iter().collect();
        for (key, mut var) in self.named_variables() {
            let value = saved.get(&key).ok_or_else(|| Error::input("weights file", path.display(), &format!("has no {key}")))?;
            tch::no_grad(|| var.f_copy_(value)).context(&what)?;
        }
        Ok(())
    }

    /// The Center Loss's centers, if it is on (a copy on the CPU).
    pub fn center_loss_centers(&self) -> Option<Tensor> {
        let center = self.losses.iter().find(|l| l.name == "center")?;
        Some(center.loss.centers().detach().to(Device::Cpu).copy())
    }

    /// [`Experiment::train_with`] with progress only, `config.epochs` more epochs: a closure's
    /// argument types need an `FnMut(Progress)` to be inferred from.
    pub fn train(&mut self, data: &Split, progress: impl FnMut(Progress)) -> Result<Vec<EpochStats>> {
        self.train_with(data, progress)
    }

    /// Trains on `data`, continuing where the last call stopped (the shuffling follows the
    /// epoch number, so 2 x 1 epoch is the same as 1 x 2 epochs): `config.epochs` more epochs,
    /// or as many as `callbacks` asks for. `callbacks` is a closure over [`Progress`] (reported
    /// every `config.log_every` steps and after every epoch), or one of [`callbacks`]'s: test
    /// accuracy per epoch, an animation's frames, another number of epochs. Returns the history
    /// of this call (also appended to `self.history`).
    pub fn train_with(&mut self, data: &Split, mut callbacks: impl Callbacks) -> Result<Vec<EpochStats>> {
        if data.is_empty() {
            return Err(Error::input("training data", 0, "holds no samples"));
        }
        if data.images.size().first() != data.labels.size().first() {
            return Err(Error::input(
                "training data",
                format!("{:?} images, {:?} labels", data.images.size(), data.labels.size()),
                "needs one label per image",
            ));
        }
        let epochs = callbacks.epochs().unwrap_or(self.config.epochs);
        let images = data.images.to_device(self.device);
        let labels = data.labels.to_device(self.device);
        let first = self.history.len();
        let clock = Clock { start: Instant::now(), first_epoch: first, epochs };
        for epoch in first..first + epochs {
            let mut stats = self.train_epoch(epoch, &images, &labels, &clock, &mut |p| callbacks.progress(p))?;
            callbacks.epoch_done(self, &mut stats)?;
            callbacks.progress(Progress::Epoch(&stats));
            self.history.push(stats);
        }
        Ok(self.history[first..].to_vec())
    }

    fn train_epoch(
        &mut self,
        epoch: usize,
        images: &Tensor,
        labels: &Tensor,
        clock: &Clock,
        progress: &mut impl FnMut(Progress),
    ) -> Result<EpochStats> {
        let start = Instant::now();
        let n = labels.size()[0] as usize;
        let batches = Batches::shuffled(n, self.config.batch_size, self.config.seed, epoch);
        let steps = batches.num_batches();
        // Running sums on the device (see `Sums`). Reading them back only at the end of each
        // logged stretch keeps the step free of host round-trips.
        let layout = self.sums();
        let mut sums = Tensor::zeros([layout.len() as i64], (Kind::Double, self.device));
        let mut logged = vec![0.0; layout.len()];
        // The curves get at least 10 points per epoch, however few steps it has.
        let record_every = self.config.log_every.min(steps.div_ceil(10)).max(1);
        let mut windows = Vec::new();
        for (step, index) in batches.enumerate() {
            let index = index.to_device(self.device);
            let x = images.index_select(0, &index);
            let y = labels.index_select(0, &index);
            let terms = self.step(&x, &y, (epoch, step))?;
            sums += terms;
            let (done, last) = (step + 1, step + 1 == steps);
            if done % record_every != 0 && done % self.config.log_every != 0 && !last {
                continue;
            }
            let s = self.read_sums(&sums, epoch, done)?;
            let window: Vec<f64> = s.iter().zip(&logged).map(|(a, b)| a - b).collect();
            windows.push(self.step_stats(&window, done, steps));
            if done % self.config.log_every == 0 || last {
                // The original's line: the epoch's means so far.
                let seconds_left = clock.seconds_left(epoch, done, steps);
                progress(Progress::Step { epoch, so_far: &self.step_stats(&s, done, steps), seconds_left });
            }
            logged = s;
        }
        // The whole epoch is one stretch: the sums since its start.
        let all = self.step_stats(&self.read_sums(&sums, epoch, steps)?, steps, steps);
        Ok(EpochStats {
            epoch,
            loss: all.loss,
            xent: all.xent,
            terms: all.terms,
            train_accuracy: all.accuracy,
            seconds: start.elapsed().as_secs_f64(),
            test_accuracy: None,
            steps: windows,
        })
    }

    /// One optimisation step, the `step`-th of `epoch` (both from 0). Returns this batch's
    /// contribution to the running sums.
    fn step(&mut self, x: &Tensor, y: &Tensor, (epoch, step): (usize, usize)) -> Result<Tensor> {
        let (logits, features) = self.model.forward_in(x, self.config.precision)?;
        let xent = cross_entropy(&logits, y, tch::Reduction::Mean)?;
        let batch = y.size()[0] as f64;
        let layout = self.sums();
        let mut terms: Vec<Tensor> = Vec::with_capacity(layout.len());
        // A new tensor per term, not `+=`: `total` starts as a handle on `xent`'s storage,
        // and adding in place would make the reported cross-entropy the total loss.
        let mut total = xent.shallow_clone();
        let mut added = Vec::with_capacity(self.losses.len());
        for aux in &self.losses {
            let value = aux.loss.forward(&features, y).map_err(|e| Error::InLoss {
                loss: aux.name.clone(),
                epoch: epoch + 1,
                step: step + 1,
                source: Box::new(e),
            })?;
            total = &total + &value * aux.lambda;
            added.push(value.detach().to_kind(Kind::Double) * batch);
        }

        self.optimizer.zero_grad();
        for aux in &mut self.losses {
            aux.optimizer.zero_grad();
        }
        total.f_backward().context("back-propagating the loss")?;
        self.optimizer.step();
        for aux in &mut self.losses {
            aux.step()?;
        }

        terms.push(total.detach().to_kind(Kind::Double) * batch);
        terms.push(xent.detach().to_kind(Kind::Double) * batch);
        terms.extend(added);
        terms.push(logits.argmax(1, false).eq_tensor(y).sum(Kind::Double));
        terms.push(Tensor::from(batch).to_device(self.device));
        debug_assert_eq!(terms.len(), layout.len());
        Ok(Tensor::stack(&terms, 0))
    }

    /// Copies the running sums to the host and stops the run if the loss is no longer finite
    /// after `steps` steps of `epoch` (counted from 0, the error from 1, as the progress lines).
    fn read_sums(&self, sums: &Tensor, epoch: usize, steps: usize) -> Result<Vec<f64>> {
        let s = Vec::<f64>::try_from(&sums.to(Device::Cpu)).context("reading the loss")?;
        if let Some(bad) = s[..self.sums().losses()].iter().find(|v| !v.is_finite()) {
            return Err(Error::Diverged { epoch: epoch + 1, step: steps, value: *bad, advice: self.divergence_advice() });
        }
        Ok(s)
    }

    /// The settings to lower, by the paths `set` takes: the network's lr, then each added
    /// loss's weight and learning rate.
    fn divergence_advice(&self) -> String {
        let mut advice = vec![format!("lr (now {})", self.config.lr)];
        for l in self.config.added_losses() {
            let path = l.path();
            advice.push(format!("{path}.lambda (now {}) or {path}.lr (now {})", l.signed_lambda().abs(), l.lr()));
        }
        advice.join(", ")
    }

    fn sums(&self) -> Sums {
        Sums { added: self.losses.len() }
    }

    /// Means per sample of one stretch of running sums (see [`Sums`]).
    fn step_stats(&self, window: &[f64], step: usize, steps: usize) -> StepStats {
        let layout = self.sums();
        let mean = |i: usize| window[i] / window[layout.samples()].max(1.0);
        StepStats {
            step,
            steps,
            loss: mean(TOTAL),
            xent: mean(XENT),
            terms: self.losses.iter().enumerate().map(|(i, aux)| (aux.name.to_string(), mean(layout.term(i)))).collect(),
            accuracy: 100.0 * mean(layout.correct()),
        }
    }

    /// A bfloat16 copy of the network when `inference` asks for one.
    fn bf16_copy(&self) -> Result<Option<(nn::VarStore, Cnn)>> {
        if self.inference == Precision::Fp32 {
            return Ok(None);
        }
        let mut store = nn::VarStore::new(self.device);
        // Its random initial weights are overwritten at once, but drawing them still moves
        // the global generator, so take the lock like `new` does.
        let model = {
            let _rng = lock_global_rng();
            Cnn::new(&store.root(), self.config.model)?
        };
        store.copy(&self.store).context("copying the weights for bf16 inference")?;
        store.bfloat16();
        Ok(Some((store, model)))
    }

    /// Runs the network in `inference` precision over `data` in batches of [`EVAL_BATCH`]
    /// without gradients, handing `each` the batch's indices, its logits and its features
    /// (both fp32).
    fn for_each_batch(&self, data: &Split, mut each: impl FnMut(&Tensor, Tensor, Tensor) -> Result<()>) -> Result<()> {
        let copy = self.bf16_copy()?;
        let (model, kind) = match &copy {
            Some((_, m)) => (m, Kind::BFloat16),
            None => (&self.model, Kind::Float),
        };
        tch::no_grad(|| {
            for index in Batches::sequential(data.len(), EVAL_BATCH) {
                let x = data.images.index_select(0, &index).to_device(self.device).to_kind(kind);
                let (logits, features) = model.forward(&x)?;
                each(&index, logits.to_kind(Kind::Float), features.to_kind(Kind::Float))?;
            }
            Ok(())
        })
    }

    /// Test accuracy and mean cross-entropy.
    pub fn evaluate(&self, data: &Split) -> Result<Evaluation> {
        let start = Instant::now();
        let mut loss_sum = Tensor::zeros([], (Kind::Double, self.device));
        let mut correct = Tensor::zeros([], (Kind::Int64, self.device));
        self.for_each_batch(data, |index, logits, _| {
            let y = data.labels.index_select(0, index).to_device(self.device);
            loss_sum += cross_entropy(&logits, &y, tch::Reduction::Sum)?.to_kind(Kind::Double);
            correct += logits.argmax(1, false).eq_tensor(&y).sum(Kind::Int64);
            Ok(())
        })?;
        let samples = data.len();
        Ok(Evaluation {
            loss: loss_sum.double_value(&[]) / samples as f64,
            accuracy: 100.0 * correct.int64_value(&[]) as f64 / samples as f64,
            samples,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Every sample's `fc1` output and label, for plots and metrics, with `fc2` (the
    /// decision regions) and the added losses' centers as they are now.
    pub fn features(&self, data: &Split) -> Result<Features> {
        let dim = self.config.model.hidden_dim;
        let mut values = Vec::with_capacity(data.len() * dim);
        self.for_each_batch(data, |_, _, features| {
            values.extend(to_vec(&features, "copying features")?);
            Ok(())
        })?;
        let labels = Vec::<i64>::try_from(&data.labels).context("copying labels")?;
        let mut features = Features::new(dim, values, labels.into_iter().map(|l| l as u8).collect())?;
        let (weight, bias) = self.model.classifier();
        let bias = match bias {
            Some(b) => to_vec(b, "copying fc2's bias")?,
            None => vec![0.0; self.config.model.num_classes],
        };
        features.classifier = Some(Classifier::new(dim, to_vec(weight, "copying fc2's weights")?, bias)?);
        for aux in &self.losses {
            if let Some((name, marker)) = &aux.centers_drawn {
                let values = to_vec(aux.loss.centers(), "copying the centers")?;
                features.centers.push(Centers { loss: name.clone(), values, marker: Some(*marker) });
            }
        }
        Ok(features)
    }
}

/// A tensor's values, row-major, as fp32 on the host.
fn to_vec(t: &Tensor, what: &str) -> Result<Vec<f32>> {
    let t = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1);
    Vec::<f32>::try_from(&t).context(what)
}

/// When a call to train started and how many epochs it trains: what the time left in the
/// progress lines is measured from (this run's own pace so far, on this machine).
struct Clock {
    start: Instant,
    first_epoch: usize,
    epochs: usize,
}

impl Clock {
    fn seconds_left(&self, epoch: usize, done: usize, steps: usize) -> f64 {
        let done = (epoch - self.first_epoch) * steps + done;
        let left = self.epochs * steps - done;
        self.start.elapsed().as_secs_f64() * left as f64 / done.max(1) as f64
    }
}

#[cfg(test)]
mod golden;
#[cfg(test)]
pub(crate) mod tests;
