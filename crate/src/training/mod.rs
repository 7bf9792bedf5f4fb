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
use crate::features::Features;
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
    pub fn train_for(&mut self, epochs: usize, data: &Split, mut progress: impl FnMut(Progress)) -> Result<Vec<EpochStats>> {
        if data.is_empty() {
            return Err(Error::setting("training data", 0, "holds no samples"));
        }
        let images = data.images.to_device(self.device);
        let labels = data.labels.to_device(self.device);
        let first = self.history.len();
        for epoch in first..first + epochs {
            let stats = self.train_epoch(epoch, &images, &labels, &mut progress)?;
            progress(Progress::Epoch(&stats));
            self.history.push(stats);
        }
        Ok(self.history[first..].to_vec())
    }

    fn train_epoch(
        &mut self,
        epoch: usize,
        images: &Tensor,
        labels: &Tensor,
        progress: &mut impl FnMut(Progress),
    ) -> Result<EpochStats> {
        let start = Instant::now();
        let n = labels.size()[0] as usize;
        let batches = Batches::shuffled(n, self.config.batch_size, self.config.seed, epoch);
        let steps = batches.num_batches();
        // Running sums on the device (see `SUMS`). Reading them back once per `log_every`
        // steps keeps the step free of host round-trips.
        let mut sums = Tensor::zeros([SUMS], (Kind::Double, self.device));
        for (step, index) in batches.enumerate() {
            let index = index.to_device(self.device);
            let x = images.index_select(0, &index);
            let y = labels.index_select(0, &index);
            let terms = self.step(&x, &y)?;
            sums += terms;
            if (step + 1) % self.config.log_every == 0 || step + 1 == steps {
                let s = self.read_sums(&sums, epoch, step)?;
                let mean = |i: usize| s[i] / s[SAMPLES];
                progress(Progress::Step {
                    epoch,
                    step: step + 1,
                    steps,
                    loss: mean(TOTAL),
                    xent: mean(XENT),
                    center: mean(Term::Center as usize),
                    pc: mean(Term::Pc as usize),
                    accuracy: 100.0 * mean(CORRECT),
                });
            }
        }
        let s = self.read_sums(&sums, epoch, steps)?;
        let mean = |i: usize| s[i] / s[SAMPLES];
        Ok(EpochStats {
            epoch,
            loss: mean(TOTAL),
            xent: mean(XENT),
            center: mean(Term::Center as usize),
            pc: mean(Term::Pc as usize),
            contrastive_center: mean(Term::ContrastiveCenter as usize),
            cosface: mean(Term::CosFace as usize),
            train_accuracy: 100.0 * s[CORRECT] / s[SAMPLES],
            seconds: start.elapsed().as_secs_f64(),
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
            total = total + &value * aux.lambda;
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
            advice.push_str(&format!(", center_lr (now {}) or lambda_center (now {})", center.lr, center.lambda));
        }
        if let Some(pc) = &c.pc {
            advice = format!("lambda_pc (now {}) or pc_lr (now {}), then {advice}", pc.lambda, pc.lr);
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

    /// Every sample's `fc1` output and label, for plots and metrics.
    pub fn features(&self, data: &Split) -> Result<Features> {
        let mut values = Vec::with_capacity(data.len() * self.config.model.hidden_dim);
        self.for_each_batch(data, |_, _, features| {
            values.extend(Vec::<f32>::try_from(&features.to(Device::Cpu).flatten(0, -1)).context("copying features")?);
            Ok(())
        })?;
        let labels = Vec::<i64>::try_from(&data.labels).context("copying labels")?;
        Features::new(self.config.model.hidden_dim, values, labels.into_iter().map(|l| l as u8).collect())
    }
}

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
