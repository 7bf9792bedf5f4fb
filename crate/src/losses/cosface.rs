//! A cosine-margin softmax (CosFace, Wang et al. 2018; AM-Softmax, Wang et al. 2018): the
//! class scores are cosines between the normalised feature and normalised class weights,
//! and the true class's cosine must win by a margin `m` before the loss lets go,
//!
//! ```text
//! L = (1/B) * sum_i -log( e^{s (cos t_{y_i} - m)} / ( e^{s (cos t_{y_i} - m)} + sum_{k != y_i} e^{s cos t_k} ) )
//! ```
//!
//! Only angles count, so the features spread out as rays from the origin with a gap
//! between classes; `s` (scale) sets how peaked the softmax is. Here it is added to the
//! network's ordinary cross-entropy with a weight, like the other losses, and its class
//! weights `W` play the part of the centers (with their own optimiser).
use tch::{nn, Tensor};

use super::{check_inputs, class_mask, AddedLoss, CenterMarker, ClassLoss};
use crate::checks::{non_negative, positive};
use crate::error::{Result, TorchContext};

#[derive(Debug)]
pub struct CosFaceLoss {
    /// Class weight vectors `[num_classes, feature_dim]`; only their directions matter.
    pub weights: Tensor,
    pub scale: f64,
    pub margin: f64,
}

impl CosFaceLoss {
    pub fn new(vs: &nn::Path, num_classes: usize, feature_dim: usize, scale: f64, margin: f64) -> Self {
        let weights = vs.randn_standard("weights", &[num_classes as i64, feature_dim as i64]);
        CosFaceLoss { weights, scale, margin }
    }
}

/// Each row divided by its length (rows shorter than 1e-12 are divided by 1e-12, as
/// `F.normalize` does), so a zero vector stays zero instead of becoming NaN.
fn unit_rows(t: &Tensor) -> Result<Tensor> {
    t.f_norm_scalaropt_dim(2, &[1i64][..], true).and_then(|n| t.f_div(&n.f_clamp_min(1e-12)?)).context("normalising vectors")
}

impl ClassLoss for CosFaceLoss {
    fn forward(&self, features: &Tensor, labels: &Tensor) -> Result<Tensor> {
        check_inputs(features, labels, &self.weights)?;
        let cosine = unit_rows(features)?.f_matmul(&unit_rows(&self.weights)?.tr()).context("computing cosines")?;
        let own = class_mask(labels, self.weights.size()[0], cosine.kind())?;
        (|| {
            let logits = cosine.f_sub(&own.f_mul_scalar(self.margin)?)?.f_mul_scalar(self.scale)?;
            let log_p = logits.f_log_softmax(1, logits.kind())?;
            log_p.f_mul(&own)?.f_sum(None)?.f_neg()?.f_div_scalar(labels.size()[0] as f64)
        })()
        .context("computing the cosine-margin loss")
    }

    fn centers(&self) -> &Tensor {
        &self.weights
    }
}

/// Cosine-margin softmax on (see [`crate::losses::CosFaceLoss`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CosFaceConfig {
    pub lambda: f64,
    /// Learning rate of its class weights.
    pub lr: f64,
    pub scale: f64,
    pub margin: f64,
}

impl Default for CosFaceConfig {
    /// With 2-D features ten classes get 36 degrees each, so a margin of 0.1 (about 10
    /// degrees at the class boundary) is already large; scale 10 keeps the softmax smooth.
    fn default() -> Self {
        CosFaceConfig { lambda: 1.0, lr: 0.01, scale: 10.0, margin: 0.1 }
    }
}

impl AddedLoss for CosFaceConfig {
    fn path(&self) -> &str {
        "cosface"
    }
    fn signed_lambda(&self) -> f64 {
        self.lambda
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    /// Its class vectors are directions (weights of a cosine softmax), not places.
    fn centers_drawn(&self) -> Option<(&str, CenterMarker)> {
        None
    }
    fn validate(&self) -> Result<()> {
        non_negative("cosface.lambda", self.lambda)?;
        positive("cosface.lr", self.lr)?;
        positive("cosface.scale", self.scale)?;
        non_negative("cosface.margin", self.margin)
    }
    fn build(&self, vs: &nn::Path, num_classes: usize, feature_dim: usize) -> Result<Box<dyn ClassLoss>> {
        Ok(Box::new(CosFaceLoss::new(vs, num_classes, feature_dim, self.scale, self.margin)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::test_support::{gradcheck, hand_example};

    fn loss(w: &Tensor) -> CosFaceLoss {
        CosFaceLoss { weights: w.shallow_clone(), scale: 2.0, margin: 0.5 }
    }

    #[test]
    fn matches_the_hand_worked_value() {
        // Unit features (1,0) and (0,1); unit weights (0,0) (stays 0) and (1,1)/sqrt 2.
        // Cosines: sample 0 [0, r], sample 1 [0, r] with r = 1/sqrt 2; s = 2, m = 0.5.
        // Sample 0 (class 0): logits [2(0 - 0.5), 2r] = [-1, 1.4142]: -log softmax_0 = 2.5015.
        // Sample 1 (class 1): logits [0, 2(r - 0.5)] = [0, 0.4142]: -log softmax_1 = 0.5057.
        let (x, y, w) = hand_example();
        let value = loss(&w).forward(&x, &y).unwrap().double_value(&[]);
        let r = 0.5f64.sqrt();
        let ce = |a: f64, b: f64| (a.exp() + b.exp()).ln();
        let expected = ((ce(-1.0, 2.0 * r) + 1.0) + (ce(0.0, 2.0 * (r - 0.5)) - 2.0 * (r - 0.5))) / 2.0;
        assert!((expected - 1.503605).abs() < 1e-6, "hand arithmetic: {expected}");
        assert!((value - expected).abs() < 1e-9, "{value} vs {expected}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Weights away from the origin, where the direction is differentiable.
        let (x, y, w) = hand_example();
        let w = w + 0.3;
        gradcheck(|w| loss(w).forward(&x, &y).unwrap(), &w);
        gradcheck(|x| loss(&w).forward(x, &y).unwrap(), &x);
    }

    #[test]
    fn only_directions_count() {
        let (x, y, w) = hand_example();
        let w = w + 0.3;
        let a = loss(&w).forward(&x, &y).unwrap().double_value(&[]);
        let b = loss(&(&w * 7.0)).forward(&(&x * 0.1), &y).unwrap().double_value(&[]);
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}
