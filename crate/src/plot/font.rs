//! The one font every figure draws with. plotters' bitmap text has no fallback from one font
//! to another, so it must hold Latin and Japanese glyphs both: IPAex Gothic (IPA Font
//! License v1.0), which the set-up installs from Debian's `fonts-ipaexfont-gothic`, read
//! from its file so that the machine's font configuration plays no part. Without it the
//! figures fall back to the DejaVu Sans built into this crate, which has no Japanese, and
//! say so once.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef};
use plotters::style::FontStyle;

use super::FONT;
use crate::language::{language, Language};

/// Where the set-up's Japanese font lands: Debian's IPAex Gothic, then IPA Gothic.
const JAPANESE_FONTS: [&str; 2] =
    ["/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf", "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf"];

/// The font the figures use: its bytes and where they came from.
pub(crate) struct ChosenFont {
    pub bytes: &'static [u8],
    /// The file, or `None` for the built-in DejaVu Sans.
    pub path: Option<PathBuf>,
    /// Why no Japanese font is used, when none is.
    pub problem: Option<String>,
}

/// `LOSSVIZ_FONT` if set (a .ttf or .otf file), else the first of [`JAPANESE_FONTS`] that
/// exists, else DejaVu Sans. Read once per process.
pub(crate) fn chosen() -> &'static ChosenFont {
    static CHOSEN: OnceLock<ChosenFont> = OnceLock::new();
    CHOSEN.get_or_init(|| {
        let requested = std::env::var_os("LOSSVIZ_FONT").filter(|v| !v.is_empty()).map(PathBuf::from);
        let candidates: Vec<PathBuf> = match &requested {
            Some(path) => vec![path.clone()],
            None => JAPANESE_FONTS.iter().map(PathBuf::from).collect(),
        };
        let mut problems = Vec::new();
        for path in candidates {
            match read_font(&path) {
                Ok(bytes) => return ChosenFont { bytes, path: Some(path), problem: None },
                Err(why) if requested.is_some() => problems.push(format!("LOSSVIZ_FONT={}: {why}", path.display())),
                Err(_) => {}
            }
        }
        if problems.is_empty() {
            problems.push(format!("none of {} exists", JAPANESE_FONTS.join(", ")));
        }
        ChosenFont { bytes: dejavu::sans::regular(), path: None, problem: Some(problems.join("; ")) }
    })
}

/// A font file's bytes, kept for the life of the process (plotters keeps a reference).
fn read_font(path: &Path) -> Result<&'static [u8], String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    FontRef::try_from_slice(&bytes).map_err(|_| "not a TrueType or OpenType font".to_string())?;
    Ok(Box::leak(bytes.into_boxed_slice()))
}

/// Registers the chosen font with plotters, once per copy of this crate (evcxr links one into
/// each notebook cell); in a Japanese notebook without a Japanese font, says what to install.
pub(crate) fn register() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let font = chosen();
        // Both candidates were parsed by `read_font`, and DejaVu is valid; this cannot fail.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, font.bytes);
        if let (Some(problem), Language::Japanese) = (&font.problem, language()) {
            eprintln!(
                "図の日本語の文字が □ になります: 日本語のフォントが見つかりません（{problem}）．\
                 ./kernel-setup.sh を実行して fonts-ipaexfont-gothic を入れるか，\
                 環境変数 LOSSVIZ_FONT に日本語を含む .ttf ファイルを指定してから JupyterLab を起動し直してください．"
            );
        }
    });
}

/// The characters of `text` the figures' font has no glyph for (they would be drawn as
/// empty boxes), each once, in order.
pub fn missing_glyphs(text: &str) -> Vec<char> {
    let mut missing = Vec::new();
    // `chosen` keeps only fonts that parse; if one did not, every character counts as missing.
    let font = FontRef::try_from_slice(chosen().bytes).ok();
    for c in text.chars().filter(|c| !c.is_control() && !c.is_whitespace()) {
        if font.as_ref().is_none_or(|f| f.glyph_id(c).0 == 0) && !missing.contains(&c) {
            missing.push(c);
        }
    }
    missing
}

/// Which font the figures use, in one line (shown by `describe`).
pub fn describe_font() -> String {
    let font = chosen();
    match (&font.path, &font.problem) {
        (Some(path), _) => format!("Figures' font: {}", path.display()),
        (None, problem) => format!(
            "Figures' font: DejaVu Sans (no Japanese glyphs: {}; install Debian's fonts-ipaexfont-gothic or set LOSSVIZ_FONT)",
            problem.as_deref().unwrap_or("")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::{centers_off_plot, dims_title, epoch_title, term_title, Language, Words};

    /// The string literals of a notebook's code cells: the titles and names its cells pass
    /// to the plotting functions are among them.
    fn string_literals(notebook: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(notebook).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut literals = Vec::new();
        for cell in json["cells"].as_array().unwrap().iter().filter(|c| c["cell_type"] == "code") {
            let source: String = cell["source"].as_array().unwrap().iter().filter_map(|l| l.as_str()).collect();
            let mut chars = source.chars();
            while let Some(c) = chars.next() {
                if c != '"' {
                    continue;
                }
                let mut literal = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => literal.extend(chars.next()),
                        '"' => break,
                        c => literal.push(c),
                    }
                }
                literals.push(literal);
            }
        }
        literals
    }

    #[test]
    fn every_text_of_the_japanese_figures_has_glyphs_in_the_figures_font() {
        let ja = Language::Japanese;
        let mut texts: Vec<String> =
            Words::ALL.iter().flat_map(|w| [w.in_language(ja), w.in_language(Language::English)]).map(String::from).collect();
        texts.extend([
            centers_off_plot(ja, 10, "PC Loss"),
            term_title(ja, "center"),
            epoch_title(ja, "+ Center Loss", 3),
            dims_title(ja, "3次元", 1, 3),
        ]);
        let notebooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../notebooks/ja");
        for name in ["loss_functions.ipynb", "exercise.ipynb"] {
            let literals = string_literals(&notebooks.join(name));
            assert!(literals.iter().any(|l| !l.is_ascii()), "{name}: no Japanese string found; is the parser broken?");
            texts.extend(literals);
        }
        let missing: Vec<String> = texts
            .iter()
            .filter_map(|t| {
                let m = missing_glyphs(t);
                (!m.is_empty()).then(|| format!("{t:?} lacks {m:?}"))
            })
            .collect();
        assert!(missing.is_empty(), "{}:\n{}", describe_font(), missing.join("\n"));
        // ...and a figure with a Japanese title draws.
        let features = crate::features::Features::new(2, vec![0.0, 0.0, 1.0, 1.0], vec![0, 1]).unwrap();
        super::super::scatter(&features, &["零", "一"], "決定領域と中心", crate::plot::Normalize::EqualAspect).unwrap();
    }

    #[test]
    fn a_font_without_japanese_reports_the_missing_characters() {
        let dejavu = FontRef::try_from_slice(dejavu::sans::regular()).unwrap();
        assert_eq!(dejavu.glyph_id('決').0, 0, "DejaVu Sans has no Japanese: the test above relies on that");
        assert!(missing_glyphs("abc").is_empty());
    }
}
