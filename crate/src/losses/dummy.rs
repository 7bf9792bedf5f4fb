//! A loss that only the test build has, added through the registry alone (its line in
//! `registry.rs`): the cache's tests train it and check that no other run's key changed.

/// Center Loss's formula under another name: what the tests need is the plumbing.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DummyConfig {
    lambda: f64,
    lr: f64,
}

impl Default for DummyConfig {
    fn default() -> Self {
        DummyConfig { lambda: 0.1, lr: 0.5 }
    }
}

impl super::AddedLoss for DummyConfig {
    fn path(&self) -> &str {
        "dummy"
    }
    fn signed_lambda(&self) -> f64 {
        self.lambda
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn centers_drawn(&self) -> Option<(&str, super::CenterMarker)> {
        Some(("dummy", super::CenterMarker::Diamond))
    }
    fn validate(&self) -> crate::error::Result<()> {
        crate::checks::non_negative("dummy.lambda", self.lambda)
    }
    fn build(&self, vs: &tch::nn::Path, num_classes: usize, feature_dim: usize) -> crate::error::Result<Box<dyn super::ClassLoss>> {
        Ok(Box::new(super::CenterLoss::new(vs, num_classes, feature_dim)))
    }
}
