//! PC Loss: push every feature away from the centers of the *other* classes, and the
//! centers away from each other, so classes separate. It enters training with a minus sign:
//! `total = xent + lambda_c * center - lambda_pc * pc`.
//!
//! The original notebook's formula ([`PcVariant::Original`]) is, for B samples and K classes,
//!
//! ```text
//! pc = ( sum_i sum_{k != y_i} |x_i - c_k|^2  +  sum_i sum_k |c_k|^2 ) / (B (K - 1))
//! ```
//!
//! Its second term was meant as "center to center", but `pos_c - neg_c` is `+c_k` or `-c_k`,
//! so its square is `|c_k|^2`: the term is `B * sum_k |c_k|^2`, the centers' squared norms,
//! not distances between centers. Maximising it only inflates the centers and gives the
//! network no gradient, and the first term grows without bound (only the 1e12 clamp stops
//! it). We keep it, because the lesson's experiment 3 is about this formula.
//!
//! [`PcVariant::Bounded`] is what the formula was reaching for: real pairwise center
//! distances, and both terms saturating at `margin^2`, so `-lambda_pc * pc` has a floor:
//!
//! ```text
//! pc = sum_i sum_{k != y_i} min(|x_i - c_k|^2, m^2) / (B (K - 1))
//!    + sum_{j != k} min(|c_j - c_k|^2, m^2) / (K (K - 1))
//! ```
use std::str::FromStr;

use tch::{nn, Tensor};

use super::{check_inputs, class_mask, squared_distances, AddedLoss, CenterMarker, ClassLoss};
use crate::checks::non_negative;
use crate::error::{Error, Result, TorchContext};

/// Written as `"original"` or `{"bounded": {"margin": m}}`; read from those or from the text
/// [`FromStr`] takes (`"bounded:5"`), so `set("pc.variant", "bounded:5")` and the command
/// line's `--vary pc.variant=bounded:5` read it as `--pc-variant` does.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", try_from = "PcVariantForm")]
pub enum PcVariant {
    /// The original notebook's formula, unbounded.
    Original,
    /// Pairwise center distances, every term capped at `margin^2`.
    Bounded { margin: f64 },
}

impl FromStr for PcVariant {
    type Err = Error;
    /// `original`, `bounded` (margin 10) or `bounded:<margin>`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::setting("pc variant", s, "expected original, bounded or bounded:<margin > 0>");
        match s.split_once(':') {
            None if s == "original" => Ok(PcVariant::Original),
            None if s == "bounded" => Ok(PcVariant::Bounded { margin: 10.0 }),
            Some(("bounded", m)) => match m.parse::<f64>() {
                Ok(margin) if margin > 0.0 && margin.is_finite() => Ok(PcVariant::Bounded { margin }),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// What a [`PcVariant`] is read from.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum PcVariantForm {
    Text(String),
    Written(WrittenPcVariant),
}

/// `PcVariant`'s own written form.
#[derive(serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum WrittenPcVariant {
    Original,
    Bounded { margin: f64 },
}

impl TryFrom<PcVariantForm> for PcVariant {
    type Error = Error;
    fn try_from(form: PcVariantForm) -> Result<Self> {
        match form {
            PcVariantForm::Text(text) => text.parse(),
            PcVariantForm::Written(WrittenPcVariant::Original) => Ok(PcVariant::Original),
            PcVariantForm::Written(WrittenPcVariant::Bounded { margin }) => Ok(PcVariant::Bounded { margin }),
        }
    }
}

#[derive(Debug)]
pub struct PcLoss {
    /// `[num_classes, feature_dim]`, separate from the center loss's centers (as in the original).
    pub centers: Tensor,
    pub variant: PcVariant,
}

impl PcLoss {
    pub fn new(vs: &nn::Path, num_classes: usize, feature_dim: usize, variant: PcVariant) -> Self {
        let centers = vs.randn_standard("centers", &[num_classes as i64, feature_dim as i64]);
        PcLoss { centers, variant }
    }
}

impl ClassLoss for PcLoss {
    fn centers(&self) -> &Tensor {
        &self.centers
    }

    fn forward(&self, features: &Tensor, labels: &Tensor) -> Result<Tensor> {
        check_inputs(features, labels, &self.centers)?;
        let (b, k) = (features.size()[0] as f64, self.centers.size()[0] as f64);
        let dist = squared_distances(features, &self.centers)?;
        let others = class_mask(labels, k as i64, dist.kind())?.f_neg().and_then(|m| m.f_add_scalar(1.0));
        let context = "computing the PC loss";
        match self.variant {
            PcVariant::Original => {
                let push = others.and_then(|m| dist.f_mul(&m)?.f_clamp(1e-12, 1e12)?.f_sum(None)).context(context)?;
                let norms = norm_term(&self.centers, b)?;
                push.f_add(&norms).and_then(|t| t.f_div_scalar(b * (k - 1.0))).context(context)
            }
            PcVariant::Bounded { margin } => {
                let cap = margin * margin;
                let push =
                    others.and_then(|m| dist.f_clamp_max(cap)?.f_mul(&m)?.f_sum(None)?.f_div_scalar(b * (k - 1.0))).context(context)?;
                push.f_add(&spread_term(&self.centers, cap)?).context(context)
            }
        }
    }
}

/// The original's "center to center" term: `B * sum_k |c_k|^2` with its element-wise clamp,
/// computed without materialising the original's `[B, K, D]` repeats (same value).
fn norm_term(centers: &Tensor, batch: f64) -> Result<Tensor> {
    centers
        .f_pow_tensor_scalar(2)
        .and_then(|c| c.f_clamp(1e-12, 1e12)?.f_sum(None)?.f_mul_scalar(batch))
        .context("computing the PC loss's center term")
}

/// Mean capped squared distance over ordered pairs of distinct centers. The diagonal is
/// zero up to rounding, which the clamp at 0 removes; dividing by K(K-1) leaves it out.
fn spread_term(centers: &Tensor, cap: f64) -> Result<Tensor> {
    let k = centers.size()[0] as f64;
    squared_distances(centers, centers)?
        .f_clamp(0.0, cap)
        .and_then(|d| d.f_sum(None)?.f_div_scalar(k * (k - 1.0)))
        .context("computing the bounded PC loss's center term")
}

/// PC Loss on: its weight (subtracted from the total), its centers' learning rate (`0.0`
/// keeps them where they start, as the original's training did), and which formula (see
/// [`PcVariant`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PcConfig {
    pub lambda: f64,
    pub lr: f64,
    pub variant: PcVariant,
}

impl Default for PcConfig {
    fn default() -> Self {
        PcConfig { lambda: 0.0001, lr: 0.01, variant: PcVariant::Original }
    }
}

impl AddedLoss for PcConfig {
    fn path(&self) -> &str {
        "pc"
    }
    /// Subtracted: the network and the centers make PC Loss larger.
    fn signed_lambda(&self) -> f64 {
        -self.lambda
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn centers_drawn(&self) -> Option<(&str, CenterMarker)> {
        Some(("PC Loss", CenterMarker::Triangle))
    }
    fn validate(&self) -> Result<()> {
        non_negative("pc.lambda", self.lambda)?;
        non_negative("pc.lr", self.lr)
    }
    fn build(&self, vs: &nn::Path, num_classes: usize, feature_dim: usize) -> Result<Box<dyn ClassLoss>> {
        Ok(Box::new(PcLoss::new(vs, num_classes, feature_dim, self.variant)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::test_support::{gradcheck, hand_example};
    use tch::{Device, Kind};

    fn pc(c: &Tensor, variant: PcVariant) -> PcLoss {
        PcLoss { centers: c.shallow_clone(), variant }
    }

    #[test]
    fn original_matches_the_hand_worked_value() {
        // Other-class distances: |(1,0)-(1,1)|^2 = 1, |(0,2)-(0,0)|^2 = 4. Center term:
        // B * (|c0|^2 + |c1|^2) = 2 * (0 + 2) = 4. Divided by B (K-1) = 2: (5 + 4) / 2.
        let (x, y, c) = hand_example();
        let loss = pc(&c, PcVariant::Original).forward(&x, &y).unwrap().double_value(&[]);
        assert!((loss - 4.5).abs() < 1e-9, "{loss}");
    }

    #[test]
    fn bounded_matches_the_hand_worked_value() {
        // margin 1.5 caps at 2.25: push (1 + 2.25) / 2 = 1.625; |c0-c1|^2 = 2 counted for
        // both ordered pairs, / (K (K-1)) = 2: 2. Total 3.625.
        let (x, y, c) = hand_example();
        let loss = pc(&c, PcVariant::Bounded { margin: 1.5 }).forward(&x, &y).unwrap().double_value(&[]);
        assert!((loss - 3.625).abs() < 1e-6, "{loss}");
    }

    /// The original's center term, written as it was, with the `[B, K, D]` repeats.
    fn original_center_term(c: &Tensor, labels: &Tensor) -> Tensor {
        let (b, k, d) = (labels.size()[0], c.size()[0], c.size()[1]);
        let mask = labels.one_hot(k).to_kind(Kind::Double);
        let inverse = mask.neg() + 1.0;
        let reps = c.unsqueeze(0).repeat([b, 1, 1]);
        let pos = mask.unsqueeze(2).repeat([1, 1, d]) * &reps;
        let neg = inverse.unsqueeze(2).repeat([1, 1, d]) * &reps;
        (pos - neg).pow_tensor_scalar(2).clamp(1e-12, 1e12).sum(Kind::Double)
    }

    #[test]
    fn original_center_term_is_only_the_centers_squared_norms() {
        let _rng = crate::rng::lock_global_rng();
        tch::manual_seed(3);
        let c = Tensor::randn([10, 2], (Kind::Double, Device::Cpu)) * 3.0;
        let labels = Tensor::randint(10, [37], (Kind::Int64, Device::Cpu));
        let term = original_center_term(&c, &labels).double_value(&[]);
        let norms = 37.0 * c.pow_tensor_scalar(2).sum(Kind::Double).double_value(&[]);
        assert!((term - norms).abs() < 1e-9 * norms, "{term} vs B * sum |c_k|^2 = {norms}");
        // ...and our vectorised loss equals the original's whole formula.
        let x = Tensor::randn([37, 2], (Kind::Double, Device::Cpu));
        let dist = squared_distances(&x, &c).unwrap();
        let other = labels.one_hot(10).to_kind(Kind::Double).neg() + 1.0;
        let push = (dist * other).clamp(1e-12, 1e12).sum(Kind::Double);
        let reference = ((push + original_center_term(&c, &labels)) / (37.0 * 9.0)).double_value(&[]);
        let ours = pc(&c, PcVariant::Original).forward(&x, &labels).unwrap().double_value(&[]);
        assert!((ours - reference).abs() < 1e-9 * reference, "{ours} vs {reference}");
    }

    #[test]
    fn only_the_bounded_center_term_is_about_distances_between_centers() {
        // Shifting every center by the same vector keeps all center-to-center distances.
        // The bounded spread term must not change; the original's term changes, because it
        // is the centers' norms.
        let (_, _, c) = hand_example();
        let shifted = &c + 5.0;
        let spread = |c: &Tensor| spread_term(c, 1e6).unwrap().double_value(&[]);
        assert!((spread(&shifted) - spread(&c)).abs() < 1e-9);
        assert!((spread(&c) - 2.0).abs() < 1e-9, "|c0 - c1|^2 = 2 for both ordered pairs / 2");
        let norms = |c: &Tensor| norm_term(c, 1.0).unwrap().double_value(&[]);
        assert!(norms(&shifted) > norms(&c) + 50.0);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (x, y, c) = hand_example();
        for variant in [PcVariant::Original, PcVariant::Bounded { margin: 1.5 }] {
            gradcheck(|c| pc(c, variant).forward(&x, &y).unwrap(), &(&c + 0.1));
            gradcheck(|x| pc(&c, variant).forward(x, &y).unwrap(), &x);
        }
    }

    #[test]
    fn variants_parse_by_name() {
        assert_eq!("original".parse::<PcVariant>().unwrap(), PcVariant::Original);
        assert_eq!("bounded:2.5".parse::<PcVariant>().unwrap(), PcVariant::Bounded { margin: 2.5 });
        assert!("bounded:-1".parse::<PcVariant>().unwrap_err().to_string().contains("pc variant = bounded:-1"));
    }
}
