//! Training and evaluation as the original notebook meant them, with its bugs fixed.
//!
//! One step: `total = xent + lambda_c * center - lambda_pc * pc` (plus the exercise's
//! optional contrastive-center and CosFace terms), one backward pass, then the optimisers
//! step: the network's (SGD with momentum, as the original, or Adam) and one per added loss
//! for its centers (plain SGD, as the original, or Adam). Departures from the original, each on purpose:
//! - The center optimisers step *after* `backward()` without clearing the gradients first.
//!   The original called `zero_grad()` right before `step()`, so its centers never moved
//!   (and on PyTorch 2, where cleared gradients are `None`, the PC loop crashed).
//! - A center's gradient is divided by its loss's weight before the step (the original did
//!   this for PC only; with its `lambda_center = 1` that is the same). The centers then move
//!   at `center_lr` whatever the weight, so the weight tunes the network, not the centers.
//! - Evaluation counts samples with the batch dimension (the original used `x.size(1)`, the
//!   channel count, so it divided by 10,000 x 1 only by luck of batch size 1) and runs in
//!   batches of 100 instead of 1.
//! - Training accuracy is over every sample of the epoch, not every 100th batch.
//! - The device is chosen at run time (CUDA if present), not hard-wired.
mod config;
mod progress;

use std::time::Instant;

use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

pub use config::{CenterConfig, ContrastiveCenterConfig, CosFaceConfig, OptimizerKind, PcConfig, TrainConfig};
pub use progress::{print_progress, Progress};

use crate::data::{Batches, Split};
use crate::error::{Error, Result, TorchContext};
use crate::features::{Centers, Classifier, Features};
use crate::losses::{CenterLoss, ClassLoss, ContrastiveCenterLoss, CosFaceLoss, PcLoss};
use crate::model::Cnn;

/// What one epoch did: mean losses per sample, accuracy over all its samples, time.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f64,
    pub xent: f64,
    pub center: f64,
    pub pc: f64,
    #[serde(default)]
    pub contrastive_center: f64,
    #[serde(default)]
    pub cosface: f64,
    /// Percent.
    pub train_accuracy: f64,
    pub seconds: f64,
    /// Percent, on the test set after this epoch, when training was given one
    /// ([`Experiment::train_watching`]).
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
    pub center: f64,
    pub pc: f64,
    pub contrastive_center: f64,
    pub cosface: f64,
    /// Percent.
    pub accuracy: f64,
}

impl StepStats {
    /// Where this stretch ends, in epochs from the start of training (epoch 0 step 50 of
    /// 100 is 0.5): the x coordinate of a per-step curve.
    pub fn position(&self, epoch: usize) -> f64 {
        epoch as f64 + self.step as f64 / self.steps.max(1) as f64
    }
}

/// The features of a probe set after an epoch (0-based), recorded during training.
#[derive(Debug, Clone, PartialEq)]
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

/// Where each added loss keeps its running sum in `train_epoch`'s `sums` (after loss and
/// xent), and the sign it enters the total with.
#[derive(Debug, Clone, Copy)]
enum Term {
    Center = 2,
    Pc = 3,
    ContrastiveCenter = 4,
    CosFace = 5,
}

impl Term {
    /// The legend name of this loss's centers, for losses whose class vectors are places
    /// in the feature space (CosFace's are directions, so they are not drawn).
    fn centers_name(self) -> Option<&'static str> {
        match self {
            Term::Center => Some("Center Loss"),
            Term::Pc => Some("PC Loss"),
            Term::ContrastiveCenter => Some("contrastive-center"),
            Term::CosFace => None,
        }
    }
}

/// The version of training's numbers: part of every run cache key, so runs trained by code
/// that computed differently are trained again rather than loaded. Bump it with any change
/// that moves results (initialisation, a loss, the optimisers, shuffling); the test
/// `results_version_matches_the_reference_run` fails until you do.
pub const RESULTS_VERSION: u32 = 1;

/// Samples per forward pass in evaluation and feature extraction. Small batches stay in
/// the CPU's caches: 100 ran 1.2-1.8x faster than 1,000 here (BENCHMARKS.md).
const EVAL_BATCH: usize = 100;

/// Slots of the running sums: loss and xent, the four `Term`s, then correct predictions and
/// samples. The first `LOSSES` are the values that must stay finite.
const TOTAL: usize = 0;
const XENT: usize = 1;
const LOSSES: usize = 6;
const CORRECT: usize = 6;
const SAMPLES: usize = 7;
const SUMS: i64 = 8;

/// libtorch's random generator is global: whoever seeds it and draws initial weights holds
/// this, so experiments created at once (tests, threads) still start from their seeds.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lock_global_rng() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An added loss together with its weight, the store that owns its class vectors, and
/// their optimiser.
struct Aux {
    term: Term,
    loss: Box<dyn ClassLoss>,
    /// Signed weight: PC Loss is subtracted.
    lambda: f64,
    store: nn::VarStore,
    optimizer: nn::Optimizer,
}

impl Aux {
    fn new<L: ClassLoss + 'static>(
        term: Term,
        lambda: f64,
        lr: f64,
        config: &TrainConfig,
        device: Device,
        make: impl FnOnce(&nn::Path) -> L,
    ) -> Result<Self> {
        let store = nn::VarStore::new(device);
        let loss: Box<dyn ClassLoss> = Box::new(make(&store.root()));
        let optimizer = build_optimizer(config.center_optimizer, &store, lr, 0.0).context("creating the centers' optimiser")?;
        let lambda = if matches!(term, Term::Pc) { -lambda } else { lambda };
        Ok(Aux { term, loss, lambda, store, optimizer })
    }

    /// Divides the centers' gradient by the loss weight (see the module docs).
    fn rescale_gradient(&mut self) {
        if self.lambda != 0.0 {
            let scale = 1.0 / self.lambda.abs();
            tch::no_grad(|| {
                for var in self.store.trainable_variables() {
                    let mut grad = var.grad();
                    if grad.defined() {
                        let _ = grad.f_mul_scalar_(scale);
                    }
                }
            });
        }
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
pub struct Experiment {
    pub config: TrainConfig,
    pub device: Device,
    pub model: Cnn,
    pub history: Vec<EpochStats>,
    /// The network's weights; `store.save(path)` keeps a trained model.
    pub store: nn::VarStore,
    /// Number format of `evaluate` and `features` (training is always fp32).
    pub inference: Precision,
    optimizer: nn::Optimizer,
    losses: Vec<Aux>,
}

/// Number format for inference. `Bf16` runs a bfloat16 copy of the network: on CPUs with
/// AVX-512 BF16 / AMX several times faster, with slightly different features (BENCHMARKS.md
/// measures both). fp32 is the default, as in the original.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    Fp32,
    Bf16,
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
        let (k, d) = (config.model.num_classes, config.model.hidden_dim);
        let c = &config;
        let mut losses = Vec::new();
        if let Some(l) = c.center {
            losses.push(Aux::new(Term::Center, l.lambda, l.lr, c, device, |p| CenterLoss::new(p, k, d))?);
        }
        if let Some(l) = c.pc {
            losses.push(Aux::new(Term::Pc, l.lambda, l.lr, c, device, |p| PcLoss::new(p, k, d, l.variant))?);
        }
        if let Some(l) = c.contrastive_center {
            let make = |p: &nn::Path| ContrastiveCenterLoss::new(p, k, d, l.delta);
            losses.push(Aux::new(Term::ContrastiveCenter, l.lambda, l.lr, c, device, make)?);
        }
        if let Some(l) = c.cosface {
            let make = |p: &nn::Path| CosFaceLoss::new(p, k, d, l.scale, l.margin);
            losses.push(Aux::new(Term::CosFace, l.lambda, l.lr, c, device, make)?);
        }
        Ok(Experiment { config, device, model, history: Vec::new(), store, inference: Precision::Fp32, optimizer, losses })
    }

    /// The network's weights and every added loss's class vectors, as the bytes of one
    /// `.ot` file. The network's variables keep their names, so `store.load` reads the
    /// file too; the class vectors are under `loss.<Term>.<name>`.
    pub(crate) fn weights_bytes(&self) -> Result<Vec<u8>> {
        let mut named: Vec<(String, Tensor)> = self.store.variables().into_iter().collect();
        for aux in &self.losses {
            named.extend(aux.store.variables().into_iter().map(|(name, t)| (format!("loss.{:?}.{name}", aux.term), t)));
        }
        let mut bytes = Vec::new();
        Tensor::save_multi_to_stream(&named, &mut bytes).context("saving the weights")?;
        Ok(bytes)
    }

    /// Restores what [`Experiment::weights_bytes`] saved to `path`: the network and the
    /// centers, so a reloaded run's plots show the centers it learned.
    pub fn load_weights(&mut self, path: &std::path::Path) -> Result<()> {
        let what = format!("loading {}", path.display());
        self.store.load(path).context(&what)?;
        let saved: std::collections::HashMap<String, Tensor> =
            Tensor::load_multi_with_device(path, self.device).context(&what)?.into_iter().collect();
        for aux in &self.losses {
            for (name, mut var) in aux.store.variables() {
                let key = format!("loss.{:?}.{name}", aux.term);
                let value = saved.get(&key).ok_or_else(|| Error::input("weights file", path.display(), &format!("has no {key}")))?;
                tch::no_grad(|| var.f_copy_(value)).context(&what)?;
            }
        }
        Ok(())
    }

    /// The Center Loss's centers, if it is on (a copy on the CPU).
    pub fn center_loss_centers(&self) -> Option<Tensor> {
        let center = self.losses.iter().find(|l| matches!(l.term, Term::Center))?;
        Some(center.loss.centers().detach().to(Device::Cpu).copy())
    }

    /// Trains for `config.epochs` epochs on `data`, reporting to `progress` every
    /// `config.log_every` steps and after every epoch. Returns the history of this call
    /// (also appended to `self.history`).
    pub fn train(&mut self, data: &Split, progress: impl FnMut(Progress)) -> Result<Vec<EpochStats>> {
        self.train_for(self.config.epochs, data, progress)
    }

    /// Trains `epochs` more epochs, continuing where the last call stopped (the shuffling
    /// follows the epoch number, so 2 x 1 epoch is the same as 1 x 2 epochs).
    pub fn train_for(&mut self, epochs: usize, data: &Split, progress: impl FnMut(Progress)) -> Result<Vec<EpochStats>> {
        self.train_epochs(epochs, data, None, progress)
    }

    /// Trains `config.epochs` epochs on `data.train` like [`Experiment::train`], and after
    /// each epoch measures the accuracy on `data.test` (kept in the history, drawn by
    /// `curves`; it costs one evaluation per epoch).
    pub fn train_watching(&mut self, data: &crate::data::Dataset, progress: impl FnMut(Progress)) -> Result<Vec<EpochStats>> {
        self.train_epochs(self.config.epochs, &data.train, Some(&data.test), progress)
    }

    fn train_epochs(
        &mut self,
        epochs: usize,
        data: &Split,
        test: Option<&Split>,
        mut progress: impl FnMut(Progress),
    ) -> Result<Vec<EpochStats>> {
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
        let images = data.images.to_device(self.device);
        let labels = data.labels.to_device(self.device);
        let first = self.history.len();
        for epoch in first..first + epochs {
            let mut stats = self.train_epoch(epoch, &images, &labels, &mut progress)?;
            if let Some(test) = test.filter(|t| !t.is_empty()) {
                stats.test_accuracy = Some(self.evaluate(test)?.accuracy);
            }
            progress(Progress::Epoch(&stats));
            self.history.push(stats);
        }
        Ok(self.history[first..].to_vec())
    }

    fn train_epoch(&mut self, epoch: usize, images: &Tensor, labels: &Tensor, progress: &mut impl FnMut(Progress)) -> Result<EpochStats> {
        let start = Instant::now();
        let n = labels.size()[0] as usize;
        let batches = Batches::shuffled(n, self.config.batch_size, self.config.seed, epoch);
        let steps = batches.num_batches();
        // Running sums on the device (see `SUMS`). Reading them back only at the end of each
        // logged stretch keeps the step free of host round-trips.
        let mut sums = Tensor::zeros([SUMS], (Kind::Double, self.device));
        let mut logged = vec![0.0; SUMS as usize];
        // The curves get at least 10 points per epoch, however few steps it has.
        let record_every = self.config.log_every.min(steps.div_ceil(10)).max(1);
        let mut windows = Vec::new();
        for (step, index) in batches.enumerate() {
            let index = index.to_device(self.device);
            let x = images.index_select(0, &index);
            let y = labels.index_select(0, &index);
            let terms = self.step(&x, &y)?;
            sums += terms;
            let (done, last) = (step + 1, step + 1 == steps);
            if done % record_every != 0 && done % self.config.log_every != 0 && !last {
                continue;
            }
            let s = self.read_sums(&sums, epoch, step)?;
            let window: Vec<f64> = s.iter().zip(&logged).map(|(a, b)| a - b).collect();
            windows.push(step_stats(&window, done, steps));
            logged = s.clone();
            if done % self.config.log_every == 0 || last {
                let mean = |i: usize| s[i] / s[SAMPLES];
                progress(Progress::Step {
                    epoch,
                    step: done,
                    steps,
                    loss: mean(TOTAL),
                    xent: mean(XENT),
                    center: mean(Term::Center as usize),
                    pc: mean(Term::Pc as usize),
                    accuracy: 100.0 * mean(CORRECT),
                });
            }
        }
        // The whole epoch is one stretch: the sums since its start.
        let all = step_stats(&self.read_sums(&sums, epoch, steps)?, steps, steps);
        Ok(EpochStats {
            epoch,
            loss: all.loss,
            xent: all.xent,
            center: all.center,
            pc: all.pc,
            contrastive_center: all.contrastive_center,
            cosface: all.cosface,
            train_accuracy: all.accuracy,
            seconds: start.elapsed().as_secs_f64(),
            test_accuracy: None,
            steps: windows,
        })
    }

    /// One optimisation step. Returns this batch's contribution to the running sums.
    fn step(&mut self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let (logits, features) = self.model.forward(x)?;
        let xent = cross_entropy(&logits, y, tch::Reduction::Mean)?;
        let batch = y.size()[0] as f64;
        let mut terms: Vec<Tensor> = (0..SUMS).map(|_| Tensor::zeros([], (Kind::Double, self.device))).collect();
        // A new tensor per term, not `+=`: `total` starts as a handle on `xent`'s storage,
        // and adding in place would make the reported cross-entropy the total loss.
        let mut total = xent.shallow_clone();
        for aux in &self.losses {
            let value = aux.loss.forward(&features, y)?;
            total = &total + &value * aux.lambda;
            terms[aux.term as usize] = value.detach().to_kind(Kind::Double) * batch;
        }

        self.optimizer.zero_grad();
        for aux in &mut self.losses {
            aux.optimizer.zero_grad();
        }
        total.f_backward().context("back-propagating the loss")?;
        self.optimizer.step();
        for aux in &mut self.losses {
            aux.rescale_gradient();
            aux.optimizer.step();
        }

        terms[TOTAL] = total.detach().to_kind(Kind::Double) * batch;
        terms[XENT] = xent.detach().to_kind(Kind::Double) * batch;
        terms[CORRECT] = logits.argmax(1, false).eq_tensor(y).sum(Kind::Double);
        terms[SAMPLES] = Tensor::from(batch).to_device(self.device);
        Ok(Tensor::stack(&terms, 0))
    }

    /// Copies the running sums to the host and stops the run if the loss is no longer finite.
    fn read_sums(&self, sums: &Tensor, epoch: usize, step: usize) -> Result<Vec<f64>> {
        let s = Vec::<f64>::try_from(&sums.to(Device::Cpu)).context("reading the loss")?;
        if let Some(bad) = s[..LOSSES].iter().find(|v| !v.is_finite()) {
            return Err(Error::Diverged { epoch, step, value: *bad, advice: self.divergence_advice() });
        }
        Ok(s)
    }

    fn divergence_advice(&self) -> String {
        let c = &self.config;
        let mut advice = format!("lr (now {})", c.lr);
        if let Some(center) = &c.center {
            advice.push_str(&format!(", center.lr (now {}) or center.lambda (now {})", center.lr, center.lambda));
        }
        if let Some(pc) = &c.pc {
            advice = format!("pc.lambda (now {}) or pc.lr (now {}), then {advice}", pc.lambda, pc.lr);
        }
        if let Some(l) = &c.contrastive_center {
            advice.push_str(&format!(", contrastive_center.lr (now {})", l.lr));
        }
        if let Some(l) = &c.cosface {
            advice.push_str(&format!(", cosface.lr (now {})", l.lr));
        }
        advice
    }

    /// Trains `epochs` more epochs like [`Experiment::train_for`], recording the features of
    /// `probe` after every `every` epochs and after the last: the frames of an animation.
    pub fn train_recording(
        &mut self,
        epochs: usize,
        every: usize,
        data: &Split,
        probe: &Split,
        mut progress: impl FnMut(Progress),
    ) -> Result<Vec<Snapshot>> {
        if every == 0 {
            return Err(Error::setting("every", 0, "record at least every 1 epoch"));
        }
        let mut snapshots = Vec::new();
        for done in 1..=epochs {
            self.train_for(1, data, &mut progress)?;
            if done % every == 0 || done == epochs {
                snapshots.push(Snapshot { epoch: self.history.len() - 1, features: self.features(probe)? });
            }
        }
        Ok(snapshots)
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
            if let Some(name) = aux.term.centers_name() {
                features.centers.push(Centers { loss: name.to_string(), values: to_vec(aux.loss.centers(), "copying the centers")? });
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

/// Means per sample of one stretch of running sums (see `SUMS`).
fn step_stats(window: &[f64], step: usize, steps: usize) -> StepStats {
    let mean = |i: usize| window[i] / window[SAMPLES].max(1.0);
    StepStats {
        step,
        steps,
        loss: mean(TOTAL),
        xent: mean(XENT),
        center: mean(Term::Center as usize),
        pc: mean(Term::Pc as usize),
        contrastive_center: mean(Term::ContrastiveCenter as usize),
        cosface: mean(Term::CosFace as usize),
        accuracy: 100.0 * mean(CORRECT),
    }
}

#[cfg(test)]
mod golden;
#[cfg(test)]
pub(crate) mod tests;
