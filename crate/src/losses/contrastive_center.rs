//! Contrastive-center loss (Qi & Su, 2017): Center Loss divided by how far the feature is
//! from the *other* centers, so shrinking a class only pays when it also keeps its distance,
//!
//! ```text
//! L_ct-c = (1/B) * sum_i  (1/2) |x_i - c_{y_i}|^2 / ( sum_{k != y_i} |x_i - c_k|^2 + delta )
//! ```
//!
//! The paper sums over the batch; we average (like our Center Loss), so a weight means the
//! same at any batch size. `delta` (1 in the paper) keeps the denominator away from 0.
use tch::{nn, Tensor};

use super::{check_inputs, class_mask, squared_distances, AddedLoss, CenterMarker, ClassLoss};
use crate::checks::{non_negative, positive};
use crate::error::{Result, TorchContext};

#[derive(Debug)]
pub struct ContrastiveCenterLoss {
    /// `[num_classes, feature_dim]`, drawn from N(0, 1).
    pub centers: Tensor,
    pub delta: f64,
}

impl ContrastiveCenterLoss {
    pub fn new(vs: &nn::Path, num_classes: usize, feature_dim: usize, delta: f64) -> Self {
        let centers = vs.randn_standard("centers", &[num_classes as i64, feature_dim as i64]);
        ContrastiveCenterLoss { centers, delta }
    }
}

impl ClassLoss for ContrastiveCenterLoss {
    fn forward(&self, features: &Tensor, labels: &Tensor) -> Result<Tensor> {
        check_inputs(features, labels, &self.centers)?;
        let dist = squared_distances(features, &self.centers)?.f_clamp_min(0.0).context("clamping distances")?;
        let own = class_mask(labels, self.centers.size()[0], dist.kind())?;
        let sum_over_classes = |t: Tensor| t.f_sum_dim_intlist(&[1i64][..], false, None);
        (|| {
            let pull = sum_over_classes(dist.f_mul(&own)?)?;
            let push = sum_over_classes(dist.f_mul(&own.f_neg()?.f_add_scalar(1.0)?)?)?;
            pull.f_div(&push.f_add_scalar(self.delta)?)?.f_mean(None)?.f_mul_scalar(0.5)
        })()
        .context("computing the contrastive-center loss")
    }

    fn centers(&self) -> &Tensor {
        &self.centers
    }
}

/// Contrastive-center loss on (see [`crate::losses::ContrastiveCenterLoss`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContrastiveCenterConfig {
    pub lambda: f64,
    pub lr: f64,
    /// Added to the denominator; the paper's 1.
    pub delta: f64,
}

impl Default for ContrastiveCenterConfig {
    fn default() -> Self {
        ContrastiveCenterConfig { lambda: 1.0, lr: 0.5, delta: 1.0 }
    }
}

impl AddedLoss for ContrastiveCenterConfig {
    fn path(&self) -> &str {
        "contrastive_center"
    }
    fn signed_lambda(&self) -> f64 {
        self.lambda
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn centers_drawn(&self) -> Option<(&str, CenterMarker)> {
        Some(("contrastive-center", CenterMarker::Square))
    }
    fn validate(&self) -> Result<()> {
        non_negative("contrastive_center.lambda", self.lambda)?;
        positive("contrastive_center.lr", self.lr)?;
        positive("contrastive_center.delta", self.delta)
    }
    fn build(&self, vs: &nn::Path, num_classes: usize, feature_dim: usize) -> Result<Box<dyn ClassLoss>> {
        Ok(Box::new(ContrastiveCenterLoss::new(vs, num_classes, feature_dim, self.delta)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::test_support::{gradcheck, hand_example};

    fn loss(c: &Tensor) -> ContrastiveCenterLoss {
        ContrastiveCenterLoss { centers: c.shallow_clone(), delta: 1.0 }
    }

    #[test]
    fn matches_the_hand_worked_value() {
        // Sample 0: own distance 1, other 1 -> 1 / (1 + 1) = 0.5.
        // Sample 1: own distance 2, other 4 -> 2 / (4 + 1) = 0.4.
        // (1/2) * mean(0.5, 0.4) = 0.225.
        let (x, y, c) = hand_example();
        let value = loss(&c).forward(&x, &y).unwrap().double_value(&[]);
        assert!((value - 0.225).abs() < 1e-9, "{value}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (x, y, c) = hand_example();
        gradcheck(|c| loss(c).forward(&x, &y).unwrap(), &c);
        gradcheck(|x| loss(&c).forward(x, &y).unwrap(), &x);
    }

    #[test]
    fn moving_the_other_centers_away_lowers_it_unlike_center_loss() {
        let (x, y, c) = hand_example();
        let far = c.shallow_clone() * Tensor::from_slice(&[1.0f64, 1.0, 3.0, 3.0]).view([2, 2]);
        let near = loss(&c).forward(&x, &y).unwrap().double_value(&[]);
        let moved = loss(&far).forward(&x, &y).unwrap().double_value(&[]);
        // Center 1 moves from (1,1) to (3,3): sample 0's push term grows (1 -> 13), so its
        // ratio drops; sample 1's own distance grows (2 -> 10) but so does nothing else.
        let expected = 0.5 * (1.0 / 14.0 + 10.0 / 5.0) / 2.0;
        assert!((moved - expected).abs() < 1e-9, "{moved} vs {expected}");
        assert!(near != moved);
    }
}
