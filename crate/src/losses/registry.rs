//! Every loss of the crate that a run can add to cross-entropy, by the name its settings have
//! in a config.
//!
//! A config holds its added losses as [`AddedLosses`], which reads each one back through the
//! registry: so a loss is its own file and one line in [`built_in`]. The order of the
//! registry is the order in which the terms are summed and reported. A loss written in a
//! notebook cell ([`super::OwnLoss`]) is not registered (evcxr gives every cell its own copy
//! of this crate's statics, so a registration would not outlive its cell); a config carries it
//! as a value, and reads its settings back through it (see [`AddedLosses::resolved`]).
use super::{AddedLoss, CenterConfig, ContrastiveCenterConfig, CosFaceConfig, PcConfig};
use crate::error::{Error, Result};

/// One of the crate's losses: its name, and how its settings are read.
pub(crate) struct LossKind {
    pub name: String,
    read: fn(serde_json::Value) -> Result<Box<dyn AddedLoss>>,
}

impl LossKind {
    /// A loss whose settings are a serde type with defaults: its name is its default's `path()`.
    fn of<T: AddedLoss + Default + serde::de::DeserializeOwned>() -> LossKind {
        LossKind { name: T::default().path().to_string(), read: super::read_as::<T> }
    }
}

/// The crate's losses, in the order their terms are summed.
fn built_in() -> Vec<LossKind> {
    vec![
        LossKind::of::<CenterConfig>(),
        LossKind::of::<PcConfig>(),
        LossKind::of::<ContrastiveCenterConfig>(),
        LossKind::of::<CosFaceConfig>(),
        #[cfg(test)]
        LossKind::of::<super::dummy::DummyConfig>(),
    ]
}

/// The names of the crate's losses, in registry order.
pub fn registered() -> Vec<String> {
    built_in().into_iter().map(|k| k.name).collect()
}

/// A loss a config was read back with that no kind of the crate reads: a notebook's own loss,
/// from a file (a cached run's report). It keeps its settings, so the config still says what
/// it was, but cannot train without the formula.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(transparent)]
struct Unresolved {
    #[serde(skip)]
    name: String,
    settings: serde_json::Value,
}

impl Unresolved {
    fn without_formula(&self) -> Error {
        Error::setting(
            &self.name,
            &self.settings,
            "this loss was written in a notebook cell, and this config was read from a file without its formula: run the cell that defines it and make the config from it",
        )
    }
}

impl AddedLoss for Unresolved {
    fn path(&self) -> &str {
        &self.name
    }
    fn signed_lambda(&self) -> f64 {
        self.settings["lambda"].as_f64().unwrap_or(0.0)
    }
    fn lr(&self) -> f64 {
        self.settings["lr"].as_f64().unwrap_or(0.0)
    }
    fn centers_drawn(&self) -> Option<(&str, super::CenterMarker)> {
        None
    }
    fn validate(&self) -> Result<()> {
        Err(self.without_formula())
    }
    fn build(&self, _: &tch::nn::Path, _: usize, _: usize) -> Result<Box<dyn super::ClassLoss>> {
        Err(self.without_formula())
    }
}

impl super::LossSettings for Unresolved {
    fn settings(&self) -> serde_json::Value {
        self.settings.clone()
    }
    fn duplicate(&self) -> Box<dyn AddedLoss> {
        Box::new(self.clone())
    }
    fn reread(&self, settings: serde_json::Value) -> Result<Box<dyn AddedLoss>> {
        Ok(Box::new(Unresolved { name: self.name.clone(), settings }))
    }
}

/// The losses a config adds to cross-entropy, in registry order. In a config's JSON each
/// registered loss is a setting of its own: its settings when on, `null` when off.
#[derive(Default)]
pub struct AddedLosses(Vec<Box<dyn AddedLoss>>);

impl AddedLosses {
    pub fn iter(&self) -> impl Iterator<Item = &dyn AddedLoss> {
        self.0.iter().map(|l| l.as_ref())
    }

    pub fn get(&self, name: &str) -> Option<&dyn AddedLoss> {
        self.iter().find(|l| l.path() == name)
    }

    /// With `loss` on, in place of any loss of its name; a notebook's own losses come after
    /// the crate's.
    pub(crate) fn with(mut self, loss: Box<dyn AddedLoss>) -> Self {
        self.0.retain(|l| l.path() != loss.path());
        self.0.push(loss);
        let order = registered();
        let rank = |l: &dyn AddedLoss| order.iter().position(|n| n == l.path()).unwrap_or(order.len());
        self.0.sort_by_key(|l| rank(l.as_ref()));
        self
    }

    /// Every loss that is on, with its settings as JSON.
    fn settings(&self) -> Vec<(&str, serde_json::Value)> {
        self.iter().map(|l| (l.path(), l.settings())).collect()
    }

    /// These losses, each read again by the loss of its name in `live` when there is one: a
    /// config that went through JSON (`TrainConfig::set`) gets its notebook losses back, with
    /// their formulas, and with the settings the JSON gave them.
    pub(crate) fn resolved(self, live: &AddedLosses) -> Result<Self> {
        let mut out = AddedLosses::default();
        for loss in self.0 {
            out = out.with(match live.get(loss.path()) {
                Some(same) => same.reread(loss.settings())?,
                None => loss,
            });
        }
        Ok(out)
    }
}

impl Clone for AddedLosses {
    fn clone(&self) -> Self {
        AddedLosses(self.0.iter().map(|l| l.duplicate()).collect())
    }
}

impl PartialEq for AddedLosses {
    fn eq(&self, other: &Self) -> bool {
        self.settings() == other.settings()
    }
}

impl std::fmt::Debug for AddedLosses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.settings()).finish()
    }
}

impl serde::Serialize for AddedLosses {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let on = self.settings();
        let mut names = registered();
        names.extend(on.iter().map(|(n, _)| n.to_string()).filter(|n| !names.contains(n)).collect::<Vec<_>>());
        let mut map = serializer.serialize_map(Some(names.len()))?;
        for name in &names {
            let value = on.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or(serde_json::Value::Null);
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for AddedLosses {
    /// Reads every non-null entry through the crate's loss of its name; any other name is a
    /// notebook's own loss, kept unresolved until a config that has it resolves it.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let entries = std::collections::BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
        let kinds = built_in();
        let mut losses = AddedLosses::default();
        for (name, settings) in entries.into_iter().filter(|(_, v)| !v.is_null()) {
            let loss = match kinds.iter().find(|k| k.name == name) {
                Some(kind) => (kind.read)(settings).map_err(serde::de::Error::custom)?,
                None => Box::new(Unresolved { name, settings }),
            };
            losses = losses.with(loss);
        }
        Ok(losses)
    }
}
