//! Checks of single settings, shared by the training config and every loss's own: each names
//! the setting by the path `TrainConfig::set` takes, so the message can be copied into a cell.
use crate::error::{Error, Result};

/// Finite and above 0: learning rates, scales, margins that divide.
pub(crate) fn positive(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::setting(name, value, "must be a finite number greater than 0"))
    }
}

/// Finite and 0 or more: a weight of 0 turns a term off without removing it.
pub(crate) fn non_negative(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::setting(name, value, "must be a finite number, 0 or greater"))
    }
}
