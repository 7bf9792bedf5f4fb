//! Every setting of one training run, with the original notebook's values as defaults.
use std::collections::BTreeMap;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::losses::{AddedLoss, AddedLosses, CenterConfig, PcConfig};
use crate::model::{ModelConfig, Precision};

/// Which optimiser updates a set of parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Stochastic gradient descent: the original's, for the network (with momentum) and
    /// for the centers (without).
    #[default]
    Sgd,
    /// Adam with PyTorch's default betas (0.9, 0.999): a per-parameter step size, so it
    /// is far less sensitive to the learning rate's scale than SGD.
    Adam,
}

impl FromStr for OptimizerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sgd" => Ok(OptimizerKind::Sgd),
            "adam" => Ok(OptimizerKind::Adam),
            _ => Err(Error::setting("optimizer", s, "expected sgd or adam")),
        }
    }
}

/// The lesson's three experiments: cross-entropy alone, + Center Loss, + Center Loss + PC
/// Loss. The command line, the benchmarks and the lesson's reports name them by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LessonRun {
    Xent,
    Center,
    Pc,
}

impl LessonRun {
    pub const ALL: [LessonRun; 3] = [LessonRun::Xent, LessonRun::Center, LessonRun::Pc];

    /// The name the command line takes and the report gives: `xent`, `center`, `pc`.
    pub fn name(self) -> &'static str {
        match self {
            LessonRun::Xent => "xent",
            LessonRun::Center => "center",
            LessonRun::Pc => "pc",
        }
    }

    /// The figures' title for it.
    pub fn title(self) -> &'static str {
        match self {
            LessonRun::Xent => "Cross entropy",
            LessonRun::Center => "+ Center Loss",
            LessonRun::Pc => "+ Center Loss + PC Loss",
        }
    }

    /// `base` with this experiment's losses added at the original's settings.
    pub fn config(self, base: TrainConfig) -> TrainConfig {
        match self {
            LessonRun::Xent => base,
            LessonRun::Center => base.with_center(),
            LessonRun::Pc => base.with_center_and_pc(),
        }
    }
}

impl FromStr for LessonRun {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        LessonRun::ALL.into_iter().find(|r| r.name() == s.trim()).ok_or_else(|| Error::setting("run", s, "expected xent, center or pc"))
    }
}

/// One training run. A loss that is off is the original's "not passed to `training()`": the
/// default config, with none on, is experiment 1, cross-entropy only.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// The network's SGD learning rate and momentum.
    pub lr: f64,
    pub momentum: f64,
    pub model: ModelConfig,
    /// The losses added to cross-entropy, each a setting of its own by its name (`center`,
    /// `pc`, ...; see `losses::registry`): its settings when on, `null` when off.
    #[serde(flatten)]
    pub losses: AddedLosses,
    /// The network's optimiser (`momentum` applies to SGD only).
    #[serde(default)]
    pub optimizer: OptimizerKind,
    /// The optimiser of every loss's centers (SGD without momentum, as the original).
    #[serde(default)]
    pub center_optimizer: OptimizerKind,
    /// What the convolutions compute in during training (see [`Precision`]); the notebooks
    /// take it from `LOSSVIZ_PRECISION` through `LessonParams`. Not in the original.
    #[serde(default)]
    pub precision: Precision,
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
            losses: AddedLosses::default(),
            optimizer: OptimizerKind::Sgd,
            center_optimizer: OptimizerKind::Sgd,
            precision: Precision::Fp32,
            seed: 0,
            log_every: 100,
        }
    }
}

impl TrainConfig {
    /// Experiment 2 of the lesson: cross-entropy + Center Loss.
    pub fn with_center(self) -> Self {
        self.with(CenterConfig::default())
    }

    /// Experiment 3: cross-entropy + Center Loss + PC Loss.
    pub fn with_center_and_pc(self) -> Self {
        self.with_center().with(PcConfig::default())
    }

    /// A copy with `loss` added (in place of its own kind, if that was on already):
    /// `.with(CosFaceConfig::default())`, or a notebook's own loss, `.with(my_loss.settings(1.0, 0.5))`.
    pub fn with(self, loss: impl AddedLoss) -> Self {
        TrainConfig { losses: self.losses.with(Box::new(loss)), ..self }
    }

    /// The added losses that are on, in the order their terms are summed and reported: the
    /// one list training, progress, curves and advice read.
    pub fn added_losses(&self) -> Vec<&dyn AddedLoss> {
        self.losses.iter().collect()
    }

    /// The settings of the added loss of type `T`, if it is on: `config.loss::<CenterConfig>()`.
    pub fn loss<T: AddedLoss + Default + serde::de::DeserializeOwned>(&self) -> Option<T> {
        let loss = self.losses.get(T::default().path())?;
        serde_json::from_value(loss.settings()).ok()
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
        crate::checks::positive("lr", self.lr)?;
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(Error::setting("momentum", self.momentum, "must be in [0, 1)"));
        }
        for loss in self.added_losses() {
            loss.validate()?;
        }
        Ok(())
    }

    /// Every setting of a config as `path -> value`. A section (a loss, the model) also gets
    /// its own path, `"on"`, or `"off"` when it is `None`.
    pub(crate) fn leaves(&self) -> BTreeMap<String, String> {
        fn walk(path: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
            let text = match value {
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        walk(&if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, v, out);
                    }
                    "on".to_string()
                }
                serde_json::Value::Null => "off".to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert(path.to_string(), text);
        }
        let mut out = BTreeMap::new();
        walk("", &serde_json::to_value(self).unwrap_or_default(), &mut out);
        out
    }

    /// Every setting as `path = value`, one per line: the names [`TrainConfig::set`] and
    /// sweeps take.
    pub fn settings(&self) -> String {
        let leaves = self.leaves();
        leaves.iter().filter(|(p, v)| !p.is_empty() && v.as_str() != "on").map(|(p, v)| format!("{p} = {v}\n")).collect()
    }

    /// A copy with one setting changed, named by its path as the config prints it:
    /// `"lr"`, `"center.lambda"`, `"pc.variant"`, `"model.hidden_dim"`, `"optimizer"`.
    /// A loss's settings can only be changed while it is on: `"center.lr"` on a config
    /// without Center Loss is an error that says so. Whole sections can be set too:
    /// `set("center", CenterConfig::default())`. Sweeps use this to vary any field.
    pub fn set(&self, path: &str, value: impl serde::Serialize) -> Result<TrainConfig> {
        let value = serde_json::to_value(value).map_err(|e| Error::setting(path, "?", &e.to_string()))?;
        let mut json = serde_json::to_value(self).map_err(|e| Error::setting(path, &value, &e.to_string()))?;
        let mut slot = &mut json;
        let mut walked = Vec::new();
        for key in path.split('.') {
            let here = if walked.is_empty() { "the config".to_string() } else { walked.join(".") };
            slot = match slot {
                serde_json::Value::Object(map) => {
                    if !map.contains_key(key) {
                        let known: Vec<&String> = map.keys().collect();
                        return Err(Error::setting(path, &value, &format!("{here} has no setting '{key}' (it has {known:?})")));
                    }
                    &mut map[key]
                }
                serde_json::Value::Null => {
                    return Err(Error::setting(
                        path,
                        &value,
                        &format!("{here} is off in this config; turn it on first (e.g. .with_center())"),
                    ))
                }
                _ => return Err(Error::setting(path, &value, &format!("{here} is a single value, not a section"))),
            };
            walked.push(key);
        }
        *slot = value.clone();
        let config: TrainConfig = serde_json::from_value(json).map_err(|e| Error::setting(path, &value, &format!("does not fit: {e}")))?;
        // A notebook's own losses came back from the JSON without their formulas.
        let config = TrainConfig { losses: config.losses.resolved(&self.losses)?, ..config };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::{ContrastiveCenterConfig, CosFaceConfig, PcVariant};

    #[test]
    fn defaults_are_the_originals() {
        let c = TrainConfig::default().with_center_and_pc();
        assert_eq!((c.epochs, c.batch_size, c.lr, c.momentum), (20, 100, 0.001, 0.9));
        assert_eq!(c.loss::<CenterConfig>(), Some(CenterConfig { lambda: 1.0, lr: 0.5 }));
        assert_eq!(c.loss::<PcConfig>().map(|p| (p.lambda, p.lr)), Some((0.0001, 0.01)));
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
        rejected(TrainConfig { model, ..base.clone() }, "model.hidden_dim = 0");
        rejected(base.clone().with(CenterConfig { lambda: f64::NAN, lr: 0.5 }), "center.lambda = NaN");
        rejected(base.clone().with(PcConfig { lambda: -1.0, ..PcConfig::default() }), "pc.lambda = -1");
        rejected(base.with(PcConfig { lr: -0.01, ..PcConfig::default() }), "pc.lr = -0.01");
        rejected(TrainConfig::default().with(CosFaceConfig { scale: 0.0, ..Default::default() }), "cosface.scale = 0");
    }

    #[test]
    fn set_changes_one_field_by_path_and_names_what_is_wrong() {
        let base = TrainConfig::default().with_center();
        let c = base.set("center.lambda", 0.01).unwrap();
        assert_eq!(c.loss::<CenterConfig>().unwrap().lambda, 0.01);
        assert_eq!(c.clone().with(base.loss::<CenterConfig>().unwrap()), base, "nothing else changed");
        assert_eq!(base.set("optimizer", "adam").unwrap().optimizer, OptimizerKind::Adam);
        assert_eq!(base.set("model.hidden_dim", 3).unwrap().model.hidden_dim, 3);
        assert_eq!(base.set("precision", "bf16").unwrap().precision, Precision::Bf16);
        let e = "fp64".parse::<Precision>().unwrap_err().to_string();
        assert!(e.contains("precision = fp64") && e.contains("fp32 or bf16"), "{e}");
        let v = base.set("pc", PcConfig::default()).unwrap().set("pc.variant", PcVariant::Bounded { margin: 2.0 }).unwrap();
        assert_eq!(v.loss::<PcConfig>().unwrap().variant, PcVariant::Bounded { margin: 2.0 });

        let err = |path: &str, value: serde_json::Value| base.set(path, value).unwrap_err().to_string();
        let e = err("pc.lambda", 1.0.into());
        assert!(e.contains("pc is off"), "{e}");
        let e = err("center.lamda", 1.0.into());
        assert!(e.contains("no setting 'lamda'") && e.contains("lambda"), "{e}");
        let e = err("optimizer", "rmsprop".into());
        assert!(e.contains("optimizer") && e.contains("does not fit"), "{e}");
        let e = err("lr", (-1.0).into());
        assert!(e.contains("lr = -1"), "{e}");
        let listed = base.settings();
        assert!(
            listed.contains("center.lambda = 1.0\n") && listed.contains("pc = off\n") && listed.contains("optimizer = sgd\n"),
            "{listed}"
        );
    }

    /// Every config with every loss on, as `settings()` lists it.
    fn everything_on() -> TrainConfig {
        TrainConfig::default().with_center_and_pc().with(ContrastiveCenterConfig::default()).with(CosFaceConfig::default())
    }

    #[test]
    fn every_listed_setting_goes_back_through_set_unchanged() {
        let config = everything_on();
        let leaves = config.leaves();
        let json = serde_json::to_value(&config).unwrap();
        for line in config.settings().lines() {
            let (path, _) = line.split_once(" = ").unwrap();
            let value = path.split('.').fold(&json, |v, key| &v[key]);
            assert_eq!(config.set(path, value).unwrap(), config, "set({path}, its own value) changed the config");
            assert!(leaves.contains_key(path));
        }
    }

    #[test]
    fn every_setting_an_error_names_is_one_set_accepts() {
        // One bad value per validated setting: each error's setting must be a path `set`
        // knows, so a student can copy it from the message into `set` or `--vary`.
        let good = everything_on();
        let json = serde_json::to_value(&good).unwrap();
        let paths: Vec<String> = good.settings().lines().map(|l| l.split_once(" = ").unwrap().0.to_string()).collect();
        let mut named = 0;
        for path in &paths {
            for bad in [serde_json::json!(0), serde_json::json!(-1.0), serde_json::json!(1.5)] {
                let Ok(mut broken) = serde_json::to_value(&good) else { continue };
                let slot = path.split('.').fold(&mut broken, |v, key| &mut v[key]);
                if !(slot.is_number()) {
                    continue;
                }
                *slot = bad;
                let Ok(config) = serde_json::from_value::<TrainConfig>(broken) else { continue };
                if let Err(Error::BadSetting { setting, .. }) = config.validate() {
                    let current = setting.split('.').fold(&json, |v, key| &v[key]);
                    assert!(good.set(&setting, current).is_ok(), "the error names '{setting}', which set() does not accept");
                    named += 1;
                }
            }
        }
        assert!(named >= 15, "only {named} bad values were caught");
        // The divergence advice too.
        let advice = crate::training::Experiment::new(good.clone(), tch::Device::Cpu).unwrap().divergence_advice();
        for name in advice.split([',', '(', ')']).filter_map(|part| part.split_whitespace().last()) {
            if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && name != "then" && name != "or" && name != "now" {
                assert!(paths.iter().any(|p| p == name), "the advice names '{name}', which settings() does not list: {advice}");
            }
        }
    }
}
