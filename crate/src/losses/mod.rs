//! The losses added to cross-entropy. Each keeps its own learnable class vectors (centers,
//! or CosFace's class weights), which have their own optimiser in training (see `training`).
//! A loss is one file (the loss, its settings, their `AddedLoss` impl) and a line in the
//! registry (`registry.rs`); a notebook cell can define one too ([`OwnLoss`]).
mod center;
mod contrastive_center;
mod cosface;
#[cfg(test)]
pub(crate) mod dummy;
mod own;
mod pc;
mod registry;

pub use center::{CenterConfig, CenterLoss};
pub use contrastive_center::{ContrastiveCenterConfig, ContrastiveCenterLoss};
pub use cosface::{CosFaceConfig, CosFaceLoss};
pub use own::{Comparison, OwnLoss, OwnLossConfig};
pub use pc::{PcConfig, PcLoss, PcVariant};
pub use registry::{registered, AddedLosses};

use tch::{nn, Kind, Tensor};

use crate::error::{Error, Result, TorchContext};
pub use crate::features::CenterMarker;

/// One added loss as a run's settings turn it on: what training, progress, curves, plots and
/// advice need to know about it.
pub trait AddedLoss: LossSettings + std::fmt::Debug + Send + Sync + 'static {
    /// Its name in the config (`"center"`): the name of its term in progress, history and
    /// curves, and the prefix of its settings in errors and advice.
    fn path(&self) -> &str;
    /// Its weight in the total loss, negative when it is subtracted.
    fn signed_lambda(&self) -> f64;
    /// The learning rate of its class vectors.
    fn lr(&self) -> f64;
    /// How its class vectors are drawn on the scatter, when they are places in the feature
    /// space: the legend's name for them and their marker.
    fn centers_drawn(&self) -> Option<(&str, CenterMarker)>;
    /// Checks its own settings, naming them by their paths.
    fn validate(&self) -> Result<()>;
    /// Creates the loss with its class vectors under `vs`.
    fn build(&self, vs: &nn::Path, num_classes: usize, feature_dim: usize) -> Result<Box<dyn ClassLoss>>;
}

/// What a config needs of every loss's settings, written once here for any serde type.
pub trait LossSettings {
    /// The settings as the config's JSON holds them.
    fn settings(&self) -> serde_json::Value;
    fn duplicate(&self) -> Box<dyn AddedLoss>;
    /// The same loss with `settings` (JSON as [`LossSettings::settings`] writes it).
    fn reread(&self, settings: serde_json::Value) -> Result<Box<dyn AddedLoss>>;
}

impl<T: AddedLoss + serde::Serialize + serde::de::DeserializeOwned + Clone> LossSettings for T {
    fn settings(&self) -> serde_json::Value {
        // A struct of numbers and enums always has a JSON form.
        serde_json::to_value(self).unwrap_or_default()
    }
    fn duplicate(&self) -> Box<dyn AddedLoss> {
        Box::new(self.clone())
    }
    fn reread(&self, settings: serde_json::Value) -> Result<Box<dyn AddedLoss>> {
        match serde_json::from_value::<T>(settings.clone()) {
            Ok(loss) => Ok(Box::new(loss)),
            Err(e) => Err(Error::setting(self.path(), &settings, &e.to_string())),
        }
    }
}

/// The loss of type `T` with `settings`, or an error naming the loss and what does not fit.
fn read_as<T: AddedLoss + Default + serde::de::DeserializeOwned>(settings: serde_json::Value) -> Result<Box<dyn AddedLoss>> {
    match serde_json::from_value::<T>(settings.clone()) {
        Ok(loss) => Ok(Box::new(loss)),
        Err(e) => Err(Error::setting(T::default().path(), &settings, &e.to_string())),
    }
}

/// A loss on the features that owns one learnable vector per class.
pub trait ClassLoss {
    /// The loss for a batch: features `[batch, dim]`, labels `[batch]`; a scalar tensor.
    fn forward(&self, features: &Tensor, labels: &Tensor) -> Result<Tensor>;
    /// The learnable `[num_classes, dim]` vectors.
    fn centers(&self) -> &Tensor;
}

/// Squared distances `[batch, classes]` from every feature to every center, expanded as
/// `|x|^2 + |c|^2 - 2 x.c` the way the original computes them.
fn squared_distances(features: &Tensor, centers: &Tensor) -> Result<Tensor> {
    let xx = features.f_pow_tensor_scalar(2).and_then(|t| t.f_sum_dim_intlist(&[1i64][..], true, None));
    let cc = centers.f_pow_tensor_scalar(2).and_then(|t| t.f_sum_dim_intlist(&[1i64][..], true, None));
    let xc = features.f_matmul(&centers.tr());
    (|| xx?.f_add(&cc?.f_t_()?)?.f_sub(&xc?.f_mul_scalar(2.0)?))().context("computing feature-to-center distances")
}

/// 1.0 where sample i belongs to class k, else 0.0: `[batch, classes]`.
fn class_mask(labels: &Tensor, num_classes: i64, kind: Kind) -> Result<Tensor> {
    labels.f_one_hot(num_classes).and_then(|m| m.f_to_kind(kind)).context("building the class mask (is every label below num_classes?)")
}

/// Checks that features and labels fit the centers before libtorch sees them.
fn check_inputs(features: &Tensor, labels: &Tensor, centers: &Tensor) -> Result<()> {
    let (f, l, c) = (features.size(), labels.size(), centers.size());
    if f.len() != 2 || f[1] != c[1] || l.len() != 1 || l[0] != f[0] || f[0] == 0 {
        return Err(crate::error::Error::input(
            "loss inputs",
            format!("features {f:?}, labels {l:?}"),
            &format!("expected features [batch, {}] and labels [batch] with batch >= 1", c[1]),
        ));
    }
    Ok(())
}

/// Features (1,0) of class 0 and (0,2) of class 1; centers (0,0) and (1,1), as
/// `(features, labels, centers)` in f64. Small enough that every loss's value can be worked
/// out by hand: each loss's test does, and so does the lesson for a Center Loss of one's own.
pub fn hand_example() -> (Tensor, Tensor, Tensor) {
    let x = Tensor::from_slice(&[1.0f64, 0.0, 0.0, 2.0]).view([2, 2]);
    let y = Tensor::from_slice(&[0i64, 1]);
    let c = Tensor::from_slice(&[0.0f64, 0.0, 1.0, 1.0]).view([2, 2]);
    (x, y, c)
}

#[cfg(test)]
mod test_support {
    use tch::{Kind, Tensor};

    pub use super::hand_example;

    /// Compares autograd's gradient of `f` at `x` with central finite differences (f64).
    pub fn gradcheck(f: impl Fn(&Tensor) -> Tensor, x: &Tensor) {
        let x = x.to_kind(Kind::Double).detach().set_requires_grad(true);
        let y = f(&x);
        y.backward();
        let analytic = Vec::<f64>::try_from(&x.grad().flatten(0, -1)).unwrap();
        let base = Vec::<f64>::try_from(&x.detach().flatten(0, -1)).unwrap();
        let eps = 1e-6;
        for i in 0..base.len() {
            let bump = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                f(&Tensor::from_slice(&v).view(x.size().as_slice())).double_value(&[])
            };
            let numeric = (bump(eps) - bump(-eps)) / (2.0 * eps);
            assert!(
                (numeric - analytic[i]).abs() < 1e-5 * (1.0 + numeric.abs()),
                "d/dx[{i}]: numeric {numeric} vs autograd {}",
                analytic[i]
            );
        }
    }
}
