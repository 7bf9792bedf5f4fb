//! A loss written in a notebook cell, trained exactly like the crate's own: it gets its own
//! centers (drawn from N(0, 1), as Center Loss's) and their optimiser, its term in progress,
//! curves and history, and its centers on the scatter (as diamonds).
//!
//! ```ignore
//! let my_center = own_loss!("my_center", |x: &Tensor, labels: &Tensor, centers: &Tensor| {
//!     let diff = x - centers.index_select(0, labels);
//!     diff.pow_tensor_scalar(2).sum(Kind::Float) / x.size()[0] as f64
//! })?;
//! let config = base.clone().with(my_center.settings(1.0, 0.5));
//! ```
//!
//! The formula's source text is part of the loss's settings (as a hash), so its runs are
//! cached under keys of their own, and a changed formula is a new key, never an old run.
//! A formula that panics (a shape that does not fit), returns more than one number or a
//! NaN is an error that names the loss; training adds the epoch and the step.
use std::sync::Arc;

use tch::{nn, Kind, Tensor};

use super::{AddedLoss, CenterMarker, ClassLoss, LossSettings};
use crate::checks::non_negative;
use crate::error::{Error, Result};

/// Features `[batch, dim]`, labels `[batch]`, centers `[classes, dim]` -> one number.
type Formula = dyn Fn(&Tensor, &Tensor, &Tensor) -> Tensor + Send + Sync;

/// A loss defined in a notebook cell. Made by [`own_loss!`](crate::own_loss), which hands over
/// the formula's source.
#[derive(Clone)]
pub struct OwnLoss {
    name: String,
    /// FNV-1a of the formula's source text, in hex.
    code: String,
    formula: Arc<Formula>,
}

/// The names a notebook's losses take: `my_` and lower-case letters, digits and `_`. The
/// prefix keeps them apart from the crate's losses and from every other setting's name.
fn check_name(name: &str) -> Result<()> {
    let rest = name.strip_prefix("my_").unwrap_or_default();
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(Error::setting(
            "own_loss! name",
            format!("\"{name}\""),
            "a notebook's loss is named my_ and lower-case letters, digits or _ (e.g. \"my_center\")",
        ));
    }
    Ok(())
}

impl OwnLoss {
    /// `formula` under `name`; `source` is its text, which keys its runs in the cache.
    pub fn new(name: &str, source: &str, formula: impl Fn(&Tensor, &Tensor, &Tensor) -> Tensor + Send + Sync + 'static) -> Result<Self> {
        check_name(name)?;
        let code = format!("{:016x}", crate::fs::fnv1a(source.as_bytes()));
        Ok(OwnLoss { name: name.to_string(), code, formula: Arc::new(formula) })
    }

    /// The settings that turn it on in a config: its weight in the total loss and its centers'
    /// learning rate (Center Loss's are 1.0 and 0.5).
    pub fn settings(&self, lambda: f64, lr: f64) -> OwnLossConfig {
        OwnLossConfig { lambda, lr, code: self.code.clone(), loss: self.clone() }
    }

    /// A config's settings of this loss, read back: they must name this formula.
    fn read(&self, json: serde_json::Value) -> Result<Box<dyn AddedLoss>> {
        #[derive(serde::Deserialize)]
        struct Saved {
            lambda: f64,
            lr: f64,
            code: String,
        }
        let saved: Saved = serde_json::from_value(json.clone()).map_err(|e| Error::setting(&self.name, &json, &e.to_string()))?;
        if saved.code != self.code {
            return Err(Error::setting(
                &format!("{}.code", self.name),
                &saved.code,
                "this setting was made for an earlier formula of the loss (its cell has run again since): make the config again",
            ));
        }
        Ok(Box::new(self.settings(saved.lambda, saved.lr)))
    }

    /// The formula's value for `features`, `labels` and `centers`, checked as in training.
    pub fn value(&self, features: &Tensor, labels: &Tensor, centers: &Tensor) -> Result<f64> {
        self.checked(features, labels, centers)?.f_double_value(&[]).map_err(|e| self.failed(&e.to_string()))
    }

    /// Compares the formula with a crate loss (`reference` builds it on given centers, as
    /// `CenterLoss::on`) on a random batch of 64 two-dimensional features and 10 classes: the
    /// values, and the gradients with respect to the features and to the centers. A notebook
    /// shows the outcome as ✓ or ✗ with the numbers; a formula that fails is a ✗ that says why.
    pub fn compare_with<L: ClassLoss>(&self, reference: impl Fn(&Tensor) -> L) -> Comparison {
        let reference_name = std::any::type_name::<L>().rsplit("::").next().unwrap_or("the reference").to_string();
        let outcome = self.gaps(reference);
        Comparison { loss: self.name.clone(), reference: reference_name, outcome }
    }

    /// The values of both losses on one random batch, and how far apart the value and the two
    /// gradients are (relative to the reference's size).
    fn gaps<L: ClassLoss>(&self, reference: impl Fn(&Tensor) -> L) -> Result<Gaps> {
        let (x, labels, c) = {
            let _rng = crate::rng::lock_global_rng();
            let x = Tensor::randn([64, 2], (Kind::Double, tch::Device::Cpu));
            let labels = Tensor::randint(10, [64], (Kind::Int64, tch::Device::Cpu));
            (x, labels, Tensor::randn([10, 2], (Kind::Double, tch::Device::Cpu)))
        };
        let leaf = |t: &Tensor| t.detach().copy().set_requires_grad(true);
        let gradients = |value: Tensor, x: &Tensor, c: &Tensor, whose: &str| -> Result<(f64, Option<Tensor>, Option<Tensor>)> {
            let number = value.to_kind(Kind::Double);
            number.f_backward().map_err(|e| Error::input(whose, "its value", &format!("has no gradient: {e}")))?;
            // A formula that cuts a tensor off the graph leaves it no gradient at all.
            let grad = |t: &Tensor| Some(t.grad()).filter(Tensor::defined).map(|g| g.copy());
            Ok((number.double_value(&[]), grad(x), grad(c)))
        };
        let (ox, oc) = (leaf(&x), leaf(&c));
        let own = gradients(self.checked(&ox, &labels, &oc)?, &ox, &oc, &self.name)?;
        let (rx, rc) = (leaf(&x), leaf(&c));
        let theirs = gradients(reference(&rc).forward(&rx, &labels)?, &rx, &rc, "the reference loss")?;
        let gap = |a: &Option<Tensor>, b: &Option<Tensor>| -> f64 {
            match (a, b) {
                (Some(a), Some(b)) => (a - b).abs().max().double_value(&[]) / (1.0 + b.abs().max().double_value(&[])),
                (None, None) => 0.0,
                // One of the two gives no gradient at all: as far apart as can be.
                _ => f64::INFINITY,
            }
        };
        Ok(Gaps {
            value: own.0,
            reference_value: theirs.0,
            gaps: [(own.0 - theirs.0).abs() / (1.0 + theirs.0.abs()), gap(&own.1, &theirs.1), gap(&own.2, &theirs.2)],
        })
    }

    /// The formula on a batch, as one finite floating-point number, or an error that says why not.
    fn checked(&self, features: &Tensor, labels: &Tensor, centers: &Tensor) -> Result<Tensor> {
        let value = quietly(|| (self.formula)(features, labels, centers)).map_err(|why| self.failed(&format!("it panicked: {why}")))?;
        if value.numel() != 1 {
            return Err(self.failed(&format!(
                "it returned a tensor of shape {:?}; a loss is one number (end with .sum(..) or .mean(..))",
                value.size()
            )));
        }
        if !value.is_floating_point() {
            return Err(self.failed(&format!("it returned {:?} numbers; a loss is a floating-point number", value.kind())));
        }
        let number = value.f_double_value(&[]).map_err(|e| self.failed(&e.to_string()))?;
        if !number.is_finite() {
            return Err(self.failed(&format!("it gave {number}")));
        }
        Ok(value.reshape([]))
    }

    fn failed(&self, why: &str) -> Error {
        Error::input(&format!("the loss {}", self.name), "features, labels, centers", why)
    }
}

/// A formula against a reference on one batch: both values and the three relative gaps
/// (value, gradient for the features, gradient for the centers).
struct Gaps {
    value: f64,
    reference_value: f64,
    gaps: [f64; 3],
}

/// f32 arithmetic inside either formula leaves gaps near 1e-7; a wrong term, factor or sign
/// leaves them near 1.
const CLOSE: f64 = 1e-4;

/// Within [`CLOSE`]; a NaN gap is not.
fn close(gap: f64) -> bool {
    gap <= CLOSE
}

/// What [`OwnLoss::compare_with`] found, shown in a notebook as ✓ or ✗ with the numbers.
pub struct Comparison {
    pub loss: String,
    pub reference: String,
    outcome: Result<Gaps>,
}

impl Comparison {
    /// The value and both gradients within [`CLOSE`] of the reference's.
    pub fn agrees(&self) -> bool {
        matches!(&self.outcome, Ok(g) if g.gaps.iter().all(|&gap| close(gap)))
    }

    /// evcxr calls this to show the comparison. `data-lossviz-check` says pass or fail to the
    /// notebook tests, which read it rather than the words.
    pub fn evcxr_display(&self) {
        let (mark, colour, verdict) = if self.agrees() { ("✓", "#2a7", "pass") } else { ("✗", "#c33", "fail") };
        let text = self.to_string().replace('&', "&amp;").replace('<', "&lt;");
        println!(
            "EVCXR_BEGIN_CONTENT text/html\n<div data-lossviz-check=\"{verdict}\" style=\"color:{colour}\"><b>{mark}</b> {text}</div>\nEVCXR_END_CONTENT"
        );
    }
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ja = crate::language::language() == crate::language::Language::Japanese;
        let (loss, reference) = (&self.loss, &self.reference);
        let g = match &self.outcome {
            Err(e) if ja => return write!(f, "{loss} を {reference} と比べられませんでした：{e}"),
            Err(e) => return write!(f, "{loss} could not be compared with {reference}: {e}"),
            Ok(g) => g,
        };
        let names = if ja {
            ["値", "特徴量についての勾配", "中心についての勾配"]
        } else {
            ["the value", "the gradient for the features", "the gradient for the centers"]
        };
        let worst = g.gaps.iter().copied().fold(0.0, f64::max);
        let values = if ja {
            format!("64件のランダムなバッチでの値は {:.6}，{reference} は {:.6}", g.value, g.reference_value)
        } else {
            format!("on a random batch of 64: value {:.6}, {reference} {:.6}", g.value, g.reference_value)
        };
        match names.iter().zip(g.gaps).find(|(_, gap)| !close(*gap)) {
            None if ja => write!(f, "{loss} は {reference} と一致しました（{values}．値と2つの勾配の相対的な差は最大 {worst:.1e}）"),
            None => write!(f, "{loss} agrees with {reference} ({values}; the value and both gradients within {worst:.1e}, relative)"),
            Some((what, gap)) if ja => {
                write!(
                    f,
                    "{loss} は {reference} と違います：{what}の差が {gap:.3} です（相対的な差．許容範囲は {CLOSE:.0e} まで．{values}）"
                )
            }
            Some((what, gap)) => {
                write!(f, "{loss} differs from {reference}: {what} differs by {gap:.3} (relative, allowed {CLOSE:.0e}; {values})")
            }
        }
    }
}

/// Runs `f` and turns a panic into its message, without the panic's own printout: the error
/// that says which loss failed is what the student should read.
fn quietly<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    outcome.map_err(|payload| {
        let text = payload.downcast_ref::<String>().cloned().or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
        // libtorch's messages go on with a C++ backtrace; the first line says what went wrong.
        text.and_then(|t| t.lines().next().map(str::to_string)).unwrap_or_else(|| "no message".to_string())
    })
}

/// A notebook loss turned on: its weight, its centers' learning rate, and which formula.
#[derive(Clone)]
pub struct OwnLossConfig {
    pub lambda: f64,
    pub lr: f64,
    /// The hash of the formula's source: part of the cache key.
    code: String,
    loss: OwnLoss,
}

impl serde::Serialize for OwnLossConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.settings().serialize(serializer)
    }
}

impl std::fmt::Debug for OwnLossConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {{ lambda: {}, lr: {}, code: {} }}", self.loss.name, self.lambda, self.lr, self.code)
    }
}

impl LossSettings for OwnLossConfig {
    fn settings(&self) -> serde_json::Value {
        serde_json::json!({ "lambda": self.lambda, "lr": self.lr, "code": self.code })
    }
    fn duplicate(&self) -> Box<dyn AddedLoss> {
        Box::new(self.clone())
    }
    /// Only for this formula: settings made for another (the cell has run again since) are
    /// refused rather than trained with this one.
    fn reread(&self, settings: serde_json::Value) -> Result<Box<dyn AddedLoss>> {
        self.loss.read(settings)
    }
}

impl AddedLoss for OwnLossConfig {
    fn path(&self) -> &str {
        &self.loss.name
    }
    fn signed_lambda(&self) -> f64 {
        self.lambda
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn centers_drawn(&self) -> Option<(&str, CenterMarker)> {
        Some((&self.loss.name, CenterMarker::Diamond))
    }
    fn validate(&self) -> Result<()> {
        non_negative(&format!("{}.lambda", self.loss.name), self.lambda)?;
        non_negative(&format!("{}.lr", self.loss.name), self.lr)
    }
    fn build(&self, vs: &nn::Path, num_classes: usize, feature_dim: usize) -> Result<Box<dyn ClassLoss>> {
        let centers = vs.randn_standard("centers", &[num_classes as i64, feature_dim as i64]);
        Ok(Box::new(OwnClassLoss { loss: self.loss.clone(), centers }))
    }
}

struct OwnClassLoss {
    loss: OwnLoss,
    centers: Tensor,
}

impl ClassLoss for OwnClassLoss {
    fn forward(&self, features: &Tensor, labels: &Tensor) -> Result<Tensor> {
        self.loss.checked(features, labels, &self.centers)
    }
    fn centers(&self) -> &Tensor {
        &self.centers
    }
}

/// Defines a loss in a notebook cell: `own_loss!("my_center", |x: &Tensor, labels: &Tensor,
/// centers: &Tensor| ...)`. The closure's text keys its runs in the cache.
#[macro_export]
macro_rules! own_loss {
    ($name:expr, $formula:expr $(,)?) => {
        $crate::losses::OwnLoss::new($name, stringify!($formula), $formula)
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::test_support::hand_example;
    use crate::losses::CenterLoss;

    fn center_loss_by_hand() -> OwnLoss {
        crate::own_loss!("my_center_test", |x: &Tensor, labels: &Tensor, centers: &Tensor| {
            let diff = x - centers.index_select(0, labels);
            diff.pow_tensor_scalar(2).sum(diff.kind()) / x.size()[0] as f64
        })
        .unwrap()
    }

    #[test]
    fn a_cells_center_loss_matches_the_crates_and_a_wrong_one_is_caught() {
        let mine = center_loss_by_hand();
        let (x, y, c) = hand_example();
        assert!((mine.value(&x, &y, &c).unwrap() - 1.5).abs() < 1e-9);
        let same = mine.compare_with(CenterLoss::on);
        assert!(same.agrees() && same.to_string().contains("agrees with CenterLoss"), "{same}");
        // Without the 1/B the value differs; with the centers detached, their gradient does.
        let unscaled = crate::own_loss!("my_unscaled_test", |x: &Tensor, labels: &Tensor, centers: &Tensor| {
            (x - centers.index_select(0, labels)).pow_tensor_scalar(2).sum(Kind::Double)
        })
        .unwrap();
        let wrong = unscaled.compare_with(CenterLoss::on);
        assert!(!wrong.agrees() && wrong.to_string().contains("my_unscaled_test differs from CenterLoss: the value differs"), "{wrong}");
        let detached = crate::own_loss!("my_detached_test", |x: &Tensor, labels: &Tensor, centers: &Tensor| {
            let diff = x - centers.detach().index_select(0, labels);
            diff.pow_tensor_scalar(2).sum(Kind::Double) / x.size()[0] as f64
        })
        .unwrap();
        let wrong = detached.compare_with(CenterLoss::on);
        assert!(!wrong.agrees() && wrong.to_string().contains("the gradient for the centers differs"), "{wrong}");
        let broken =
            crate::own_loss!("my_broken_test", |x: &Tensor, _: &Tensor, _: &Tensor| x.sum_dim_intlist(1, false, Kind::Double)).unwrap();
        let failed = broken.compare_with(CenterLoss::on);
        assert!(!failed.agrees() && failed.to_string().contains("could not be compared"), "{failed}");
    }

    #[test]
    fn a_formula_that_panics_or_gives_no_single_number_is_an_error_naming_it() {
        let (x, y, c) = hand_example();
        let wrong_shape =
            crate::own_loss!("my_rows_test", |x: &Tensor, _: &Tensor, _: &Tensor| x.sum_dim_intlist(1, false, Kind::Double)).unwrap();
        let e = wrong_shape.value(&x, &y, &c).unwrap_err().to_string();
        assert!(e.contains("my_rows_test") && e.contains("shape [2]"), "{e}");
        let panics =
            crate::own_loss!("my_panics_test", |x: &Tensor, _: &Tensor, c: &Tensor| x.matmul(&c.view([1, 4])).sum(Kind::Double)).unwrap();
        let e = panics.value(&x, &y, &c).unwrap_err().to_string();
        assert!(e.contains("my_panics_test") && e.contains("panicked"), "{e}");
        let nan = crate::own_loss!("my_nan_test", |x: &Tensor, _: &Tensor, _: &Tensor| x.sum(Kind::Double) * f64::NAN).unwrap();
        let e = nan.value(&x, &y, &c).unwrap_err().to_string();
        assert!(e.contains("my_nan_test") && e.contains("NaN"), "{e}");
        let e = OwnLoss::new("center", "", |x: &Tensor, _: &Tensor, _: &Tensor| x.sum(Kind::Double)).err().unwrap().to_string();
        assert!(e.contains("my_"), "{e}");
    }
}
