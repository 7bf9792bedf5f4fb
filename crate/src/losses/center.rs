//! Center Loss (Wen et al., 2016): pull every feature towards a learned center of its class,
//!
//! ```text
//! L_center = (1/B) * sum_i |x_i - c_{y_i}|^2
//! ```
//!
//! B is the batch size. Summed over feature dimensions, averaged over the batch, without the
//! paper's 1/2, exactly as the original notebook (and KaiyangZhou's code it follows).
use tch::{nn, Tensor};

use super::{check_inputs, class_mask, squared_distances, AddedLoss, CenterMarker, ClassLoss};
use crate::checks::non_negative;
use crate::error::{Result, TorchContext};

#[derive(Debug)]
pub struct CenterLoss {
    /// `[num_classes, feature_dim]`, drawn from N(0, 1) like `torch.randn`.
    pub centers: Tensor,
}

impl CenterLoss {
    pub fn new(vs: &nn::Path, num_classes: usize, feature_dim: usize) -> Self {
        CenterLoss { centers: vs.randn_standard("centers", &[num_classes as i64, feature_dim as i64]) }
    }

    /// The loss on given centers (shared, not copied: their gradient is theirs), as a
    /// reference to compare a loss of one's own with.
    pub fn on(centers: &Tensor) -> Self {
        CenterLoss { centers: centers.shallow_clone() }
    }
}

impl ClassLoss for CenterLoss {
    fn centers(&self) -> &Tensor {
        &self.centers
    }

    fn forward(&self, features: &Tensor, labels: &Tensor) -> Result<Tensor> {
        check_inputs(features, labels, &self.centers)?;
        let batch = features.size()[0] as f64;
        let dist = squared_distances(features, &self.centers)?;
        let own = class_mask(labels, self.centers.size()[0], dist.kind())?;
        // The original clamps after masking, so the masked zeros count as 1e-12 each.
        dist.f_mul(&own)
            .and_then(|d| d.f_clamp(1e-12, 1e12))
            .and_then(|d| d.f_sum(None))
            .and_then(|d| d.f_div_scalar(batch))
            .context("computing the center loss")
    }
}

/// Center Loss on: its weight in the total loss and its centers' own learning rate; `lr: 0.0`
/// keeps the centers where they start, which is what the original's training did.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CenterConfig {
    pub lambda: f64,
    pub lr: f64,
}

impl Default for CenterConfig {
    fn default() -> Self {
        CenterConfig { lambda: 1.0, lr: 0.5 }
    }
}

impl AddedLoss for CenterConfig {
    fn path(&self) -> &str {
        "center"
    }
    fn signed_lambda(&self) -> f64 {
        self.lambda
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn centers_drawn(&self) -> Option<(&str, CenterMarker)> {
        Some(("Center Loss", CenterMarker::Circle))
    }
    fn validate(&self) -> Result<()> {
        non_negative("center.lambda", self.lambda)?;
        non_negative("center.lr", self.lr)
    }
    fn build(&self, vs: &nn::Path, num_classes: usize, feature_dim: usize) -> Result<Box<dyn ClassLoss>> {
        Ok(Box::new(CenterLoss::new(vs, num_classes, feature_dim)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::test_support::{gradcheck, hand_example};
    use tch::{Device, Kind};

    #[test]
    fn matches_the_hand_worked_value() {
        // |(1,0)-(0,0)|^2 = 1 and |(0,2)-(1,1)|^2 = 2, averaged over 2 samples: 1.5.
        let (x, y, c) = hand_example();
        let loss = CenterLoss { centers: c }.forward(&x, &y).unwrap().double_value(&[]);
        assert!((loss - 1.5).abs() < 1e-9, "{loss}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (x, y, c) = hand_example();
        gradcheck(|c| CenterLoss { centers: c.shallow_clone() }.forward(&x, &y).unwrap(), &c);
        gradcheck(|x| CenterLoss { centers: c.shallow_clone() }.forward(x, &y).unwrap(), &x);
    }

    #[test]
    fn bad_labels_and_shapes_are_errors_not_panics() {
        let vs = nn::VarStore::new(Device::Cpu);
        let loss = CenterLoss::new(&vs.root(), 3, 2);
        let x = Tensor::zeros([2, 2], (Kind::Float, Device::Cpu));
        let err = loss.forward(&x, &Tensor::from_slice(&[0i64, 5])).unwrap_err().to_string();
        assert!(err.contains("below num_classes"), "{err}");
        let err = loss.forward(&x, &Tensor::from_slice(&[0i64])).unwrap_err().to_string();
        assert!(err.contains("expected features [batch, 2]"), "{err}");
    }
}
