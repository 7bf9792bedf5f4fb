//! The words the figures draw themselves (captions, legends, axis names), in the notebook's
//! language: a Japanese notebook calls `set_figure_language(Language::Japanese)` once, so a
//! student never meets an English caption under a Japanese title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    English,
    Japanese,
}

/// Where the choice lives: the process's environment, not a static, because evcxr links a
/// copy of this crate, statics and all, into every notebook cell, so a static set in the
/// first cell would not be seen by the cells that draw.
const LANGUAGE_VARIABLE: &str = "LOSSVIZ_FIGURE_LANGUAGE";

/// The language of every figure drawn after this call, in this process (also settable
/// before start as `LOSSVIZ_FIGURE_LANGUAGE=ja`).
pub fn set_figure_language(language: Language) {
    let code = match language {
        Language::English => "en",
        Language::Japanese => "ja",
    };
    std::env::set_var(LANGUAGE_VARIABLE, code);
}

pub(crate) fn language() -> Language {
    match std::env::var(LANGUAGE_VARIABLE).as_deref() {
        Ok("ja") => Language::Japanese,
        _ => Language::English,
    }
}

/// A fixed caption or label of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Words {
    AxesPerAxis,
    AxesEqual,
    RegionsAtMean,
    /// Under a loss's name in the legend: "Center Loss" / "centers".
    Centers,
    TrainingXent,
    Accuracy,
    LogScale,
    Epoch,
    /// A sweep's run without any added loss, and one with nothing changed.
    CrossEntropyOnly,
    BaseSettings,
}

impl Words {
    #[cfg(test)]
    pub const ALL: [Words; 10] = [
        Words::AxesPerAxis,
        Words::AxesEqual,
        Words::RegionsAtMean,
        Words::Centers,
        Words::TrainingXent,
        Words::Accuracy,
        Words::LogScale,
        Words::Epoch,
        Words::CrossEntropyOnly,
        Words::BaseSettings,
    ];

    /// In the language figures are drawn in now.
    pub fn text(self) -> &'static str {
        self.in_language(language())
    }

    pub fn in_language(self, language: Language) -> &'static str {
        use Language::*;
        match (self, language) {
            (Words::AxesPerAxis, English) => "axes: x, y min-max scaled separately (as the original)",
            (Words::AxesPerAxis, Japanese) => "軸: x と y を別々に 0〜1 へ正規化 (元の教材と同じ)",
            (Words::AxesEqual, English) => "axes: equal scale (shapes preserved)",
            (Words::AxesEqual, Japanese) => "軸: 縦横同じ縮尺 (形がそのまま)",
            (Words::RegionsAtMean, English) => "; regions: other dims at the mean of the class means",
            (Words::RegionsAtMean, Japanese) => "; 領域: 他の次元はクラス平均の平均の値",
            (Words::Centers, English) => "centers",
            (Words::Centers, Japanese) => "の中心",
            (Words::TrainingXent, English) => "training cross-entropy",
            (Words::TrainingXent, Japanese) => "学習データの Cross Entropy",
            (Words::Accuracy, English) => "accuracy (%): training (lines), test (dots)",
            (Words::Accuracy, Japanese) => "正解率 (%): 学習データ (線), テストデータ (点)",
            (Words::LogScale, English) => " (log scale)",
            (Words::LogScale, Japanese) => " (対数目盛)",
            (Words::Epoch, English) => "epoch",
            (Words::Epoch, Japanese) => "エポック",
            (Words::CrossEntropyOnly, English) => "cross-entropy only",
            (Words::CrossEntropyOnly, Japanese) => "Cross Entropy のみ",
            (Words::BaseSettings, English) => "base settings",
            (Words::BaseSettings, Japanese) => "基準の設定",
        }
    }
}

/// "; 3 PC Loss centers off the plot".
pub(crate) fn centers_off_plot(language: Language, count: usize, loss: &str) -> String {
    match language {
        Language::English => format!("; {count} {loss} centers off the plot"),
        Language::Japanese => format!("; {loss} の中心 {count} 個は図の外"),
    }
}

/// The title of an added loss's panel in the curves: "center term".
pub(crate) fn term_title(language: Language, path: &str) -> String {
    match language {
        Language::English => format!("{path} term"),
        Language::Japanese => format!("{path} の項"),
    }
}

/// An animation frame's title: "+ Center Loss: epoch 3" (1-based).
pub(crate) fn epoch_title(language: Language, title: &str, epoch: usize) -> String {
    match language {
        Language::English => format!("{title}: epoch {epoch}"),
        Language::Japanese => format!("{title}: {epoch} エポック目"),
    }
}

/// A projection's title: "3-D: dims 1 and 3" (1-based).
pub(crate) fn dims_title(language: Language, title: &str, a: usize, b: usize) -> String {
    match language {
        Language::English => format!("{title}: dims {a} and {b}"),
        Language::Japanese => format!("{title}: 第{a}・第{b}次元"),
    }
}
