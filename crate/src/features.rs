//! The extracted feature space: one `dim`-dimensional point per test sample, with its label,
//! and what the trained network knows about that space (its last layer and the centers the
//! added losses learned), so a plot can show where the network decides and where the
//! centers sit.
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Features {
    pub dim: usize,
    /// Row-major `[n, dim]`.
    pub values: Vec<f32>,
    pub labels: Vec<u8>,
    /// `fc2`, the map from a feature to the class scores; `None` for features built by hand.
    #[serde(default)]
    pub classifier: Option<Classifier>,
    /// The class vectors of each added loss that places one center per class.
    #[serde(default)]
    pub centers: Vec<Centers>,
}

/// A linear layer from `dim` features to one score per class: `scores = W x + b`. With
/// `dim = 2` its decision regions are convex polygons in the plane of the scatter plot.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Classifier {
    /// Row-major `[classes, dim]`.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Classifier {
    pub fn new(dim: usize, weight: Vec<f32>, bias: Vec<f32>) -> Result<Self> {
        if dim == 0 || bias.is_empty() || weight.len() != dim * bias.len() {
            return Err(Error::input(
                "classifier",
                format!("{} weights for {} biases", weight.len(), bias.len()),
                &format!("expected {dim} weights per class"),
            ));
        }
        Ok(Classifier { weight, bias })
    }

    pub fn num_classes(&self) -> usize {
        self.bias.len()
    }

    /// The class with the highest score at `point` (the first of equal ones, as `argmax`).
    pub fn predict(&self, point: &[f32]) -> usize {
        let dim = self.weight.len() / self.bias.len();
        let score = |k: usize| self.bias[k] + self.weight[k * dim..(k + 1) * dim].iter().zip(point).map(|(w, x)| w * x).sum::<f32>();
        (1..self.num_classes()).fold((0, score(0)), |(best, s), k| if score(k) > s { (k, score(k)) } else { (best, s) }).0
    }
}

/// One added loss's learned centers, `[classes, dim]` row-major, named for a legend.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Centers {
    pub loss: String,
    pub values: Vec<f32>,
    /// How the loss asked for its centers to be drawn; `None` in runs cached before losses
    /// chose, which are drawn by their place in the list as they were then.
    #[serde(default)]
    pub marker: Option<CenterMarker>,
}

/// The shape a loss's centers are drawn with on the scatter: large, filled with the class's
/// colour, outlined in black so it stands out from the points of its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CenterMarker {
    Circle,
    Triangle,
    Square,
    Diamond,
}

impl CenterMarker {
    /// The markers of runs cached before each loss chose its own, in the order they were used.
    pub(crate) const BY_PLACE: [CenterMarker; 3] = [CenterMarker::Circle, CenterMarker::Triangle, CenterMarker::Square];
}

impl Features {
    /// Points and labels alone, with no network behind them.
    pub fn new(dim: usize, values: Vec<f32>, labels: Vec<u8>) -> Result<Self> {
        if dim == 0 || values.len() != dim * labels.len() {
            return Err(Error::input(
                "features",
                format!("{} values for {} labels", values.len(), labels.len()),
                &format!("expected {dim} values per label"),
            ));
        }
        Ok(Features { dim, values, labels, classifier: None, centers: Vec::new() })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn point(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// Coordinates `a` and `b` of every point, e.g. `(0, 1)` for the 2-D plot.
    pub fn projection(&self, a: usize, b: usize) -> Vec<(f32, f32)> {
        (0..self.len()).map(|i| (self.point(i)[a], self.point(i)[b])).collect()
    }

    /// The mean feature of each class present, as (label, mean), in label order: what the
    /// metrics measure around and what the regions of more than two dimensions cut through.
    pub fn class_means(&self) -> Vec<(u8, Vec<f64>)> {
        let mut sums: std::collections::BTreeMap<u8, (Vec<f64>, usize)> = Default::default();
        for i in 0..self.len() {
            let entry = sums.entry(self.labels[i]).or_insert_with(|| (vec![0.0; self.dim], 0));
            for (s, v) in entry.0.iter_mut().zip(self.point(i)) {
                *s += *v as f64;
            }
            entry.1 += 1;
        }
        sums.into_iter().map(|(l, (s, n))| (l, s.into_iter().map(|v| v / n as f64).collect())).collect()
    }

    /// The mean of the class means: where a plane through two of the dimensions cuts the
    /// others when the features have more than two (`hidden_dim = 3`).
    pub fn mean_of_class_means(&self) -> Vec<f32> {
        let means = self.class_means();
        (0..self.dim).map(|d| (means.iter().map(|(_, m)| m[d]).sum::<f64>() / means.len().max(1) as f64) as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_predicts_the_highest_score_and_checks_its_shape() {
        // Class 0 scores x, class 1 scores y, class 2 scores 1 - x - y.
        let c = Classifier::new(2, vec![1.0, 0.0, 0.0, 1.0, -1.0, -1.0], vec![0.0, 0.0, 1.0]).unwrap();
        assert_eq!(c.predict(&[2.0, 0.5]), 0);
        assert_eq!(c.predict(&[0.5, 2.0]), 1);
        assert_eq!(c.predict(&[-1.0, -1.0]), 2);
        assert!(Classifier::new(2, vec![1.0; 5], vec![0.0; 3]).unwrap_err().to_string().contains("2 weights per class"));
    }

    #[test]
    fn mean_of_class_means_weights_classes_not_samples() {
        // Class 0: three points at x = 0; class 1: one point at x = 4.
        let f = Features::new(1, vec![0.0, 0.0, 0.0, 4.0], vec![0, 0, 0, 1]).unwrap();
        assert_eq!(f.mean_of_class_means(), vec![2.0]);
    }
}
