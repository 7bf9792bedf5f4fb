//! One error type for the whole crate. Every variant names the file, setting or epoch at
//! fault and says what to do, because the reader is a student in a notebook cell.
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(thiserror::Error)]
pub enum Error {
    #[error("cannot access {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{path}: {message}")]
    BadData { path: PathBuf, message: String },

    #[error("{dataset} not found; looked in: {searched}. {hint}")]
    DataNotFound { dataset: String, searched: String, hint: String },

    #[error("invalid setting {setting} = {value}: {message}")]
    BadSetting { setting: String, value: String, message: String },

    /// Data handed to a function that does not fit it (a tensor's shape, an empty plot):
    /// not a setting, so not worded as one.
    #[error("{what} ({value}) does not fit: {message}")]
    BadInput { what: String, value: String, message: String },

    #[error(
        "training diverged: the loss became {value} in epoch {epoch} (step {step}). \
         Lower {advice} and run again."
    )]
    Diverged { epoch: usize, step: usize, value: f64, advice: String },

    /// An added loss that failed during training: which one, where, and why.
    #[error("the loss {loss} failed in epoch {epoch}, step {step}: {source}")]
    InLoss { loss: String, epoch: usize, step: usize, source: Box<Error> },

    #[error("libtorch failed while {context}: {source}")]
    Torch { context: String, source: tch::TchError },

    #[error("could not draw the figure: {0}")]
    Plot(String),

    /// A Slurm command that failed or could not start (sweeps on a cluster).
    #[error("{what} failed: {message}")]
    Slurm { what: String, message: String },

    #[error("could not write {what} as JSON: {source}")]
    Json { what: String, source: serde_json::Error },
}

/// `?` in a notebook cell (and `main` returning `Result`) prints `Debug`; make that the
/// readable message rather than the variant's fields.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Error {
    pub fn setting(setting: &str, value: impl std::fmt::Display, message: &str) -> Self {
        Error::BadSetting { setting: setting.to_string(), value: value.to_string(), message: message.to_string() }
    }

    pub fn input(what: &str, value: impl std::fmt::Display, message: &str) -> Self {
        Error::BadInput { what: what.to_string(), value: value.to_string(), message: message.to_string() }
    }

    pub(crate) fn json(what: &str) -> impl FnOnce(serde_json::Error) -> Self + '_ {
        move |source| Error::Json { what: what.to_string(), source }
    }

    pub(crate) fn bad_data(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::BadData { path: path.into(), message: message.into() }
    }
}

/// Attaches what we were doing to a libtorch error, so the message is more than a C++ trace.
pub(crate) trait TorchContext<T> {
    fn context(self, context: &str) -> Result<T>;
}

impl<T> TorchContext<T> for std::result::Result<T, tch::TchError> {
    fn context(self, context: &str) -> Result<T> {
        self.map_err(|source| Error::Torch { context: context.to_string(), source })
    }
}
