//! The extracted feature space: one `dim`-dimensional point per test sample, with its label.
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Features {
    pub dim: usize,
    /// Row-major `[n, dim]`.
    pub values: Vec<f32>,
    pub labels: Vec<u8>,
}

impl Features {
    pub fn new(dim: usize, values: Vec<f32>, labels: Vec<u8>) -> Result<Self> {
        if dim == 0 || values.len() != dim * labels.len() {
            return Err(Error::setting(
                "features",
                format!("{} values for {} labels", values.len(), labels.len()),
                &format!("expected {dim} values per label"),
            ));
        }
        Ok(Features { dim, values, labels })
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
}
