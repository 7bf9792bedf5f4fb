//! Every setting of one training run, with the original notebook's values as defaults.
use crate::error::{Error, Result};
use crate::losses::PcVariant;
use crate::model::ModelConfig;

/// Center Loss on: its weight in the total loss and its centers' own learning rate.
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

/// PC Loss on: its weight (subtracted from the total), its centers' learning rate, and
/// which formula (see [`PcVariant`]).
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

/// One training run. `center: None` and `pc: None` are the original's "not passed to
/// `training()`": the default config is experiment 1, cross-entropy only.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// The network's SGD learning rate and momentum.
    pub lr: f64,
    pub momentum: f64,
    pub model: ModelConfig,
    pub center: Option<CenterConfig>,
    pub pc: Option<PcConfig>,
    /// Seeds the weights, the centers and the shuffling.
    pub seed: u64,
    /// Steps between progress reports (and divergence checks, which read the loss back
    /// from the device).
    pub log_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 20,
            batch_size: 100,
            lr: 0.001,
            momentum: 0.9,
            model: ModelConfig::default(),
            center: None,
            pc: None,
            seed: 0,
            log_every: 100,
        }
    }
}

impl TrainConfig {
    /// Experiment 2 of the lesson: cross-entropy + Center Loss.
    pub fn with_center(self) -> Self {
        TrainConfig { center: Some(CenterConfig::default()), ..self }
    }

    /// Experiment 3: cross-entropy + Center Loss + PC Loss.
    pub fn with_center_and_pc(self) -> Self {
        TrainConfig { pc: Some(PcConfig::default()), ..self.with_center() }
    }

    /// Rejects settings that would crash libtorch or train nothing, naming the setting.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        if self.epochs == 0 {
            return Err(Error::setting("epochs", 0, "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::setting("batch_size", 0, "must be at least 1"));
        }
        if self.log_every == 0 {
            return Err(Error::setting("log_every", 0, "must be at least 1"));
        }
        positive("lr", self.lr)?;
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(Error::setting("momentum", self.momentum, "must be in [0, 1)"));
        }
        if let Some(c) = &self.center {
            weight("lambda_center", c.lambda)?;
            positive("center_lr", c.lr)?;
        }
        if let Some(p) = &self.pc {
            weight("lambda_pc", p.lambda)?;
            positive("pc_lr", p.lr)?;
        }
        Ok(())
    }
}

fn positive(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::setting(name, value, "must be a finite number greater than 0"))
    }
}

fn weight(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::setting(name, value, "must be a finite number, 0 or greater"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_originals() {
        let c = TrainConfig::default().with_center_and_pc();
        assert_eq!((c.epochs, c.batch_size, c.lr, c.momentum), (20, 100, 0.001, 0.9));
        assert_eq!(c.center, Some(CenterConfig { lambda: 1.0, lr: 0.5 }));
        assert_eq!(c.pc.map(|p| (p.lambda, p.lr)), Some((0.0001, 0.01)));
        assert_eq!(c.model.hidden_dim, 2);
        c.validate().unwrap();
    }

    fn rejected(config: TrainConfig, needle: &str) {
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(needle), "expected '{needle}' in: {err}");
    }

    #[test]
    fn each_bad_setting_is_named() {
        let base = TrainConfig::default().with_center_and_pc();
        rejected(TrainConfig { lr: 0.0, ..base.clone() }, "lr = 0");
        rejected(TrainConfig { lr: -0.1, ..base.clone() }, "lr = -0.1");
        rejected(TrainConfig { batch_size: 0, ..base.clone() }, "batch_size = 0");
        rejected(TrainConfig { epochs: 0, ..base.clone() }, "epochs = 0");
        let model = ModelConfig { hidden_dim: 0, ..base.model };
        rejected(TrainConfig { model, ..base.clone() }, "hidden_dim = 0");
        let center = Some(CenterConfig { lambda: f64::NAN, lr: 0.5 });
        rejected(TrainConfig { center, ..base.clone() }, "lambda_center = NaN");
        let pc = Some(PcConfig { lambda: -1.0, ..PcConfig::default() });
        rejected(TrainConfig { pc, ..base.clone() }, "lambda_pc = -1");
        let pc = Some(PcConfig { lr: 0.0, ..PcConfig::default() });
        rejected(TrainConfig { pc, ..base }, "pc_lr = 0");
    }
}
