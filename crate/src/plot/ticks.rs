//! Tick labels, one rule per kind of axis, for every figure.

/// A linear axis's tick: decimals enough for the axis's span, trailing zeros dropped, and never
/// "-0.0" (plotters' default printed that for a tick a rounding error below zero).
pub(crate) fn linear(value: f64, span: f64) -> String {
    let decimals = (3 - span.abs().max(1e-12).log10().floor() as i32).max(0) as usize;
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    if text.trim_start_matches('-').chars().all(|c| c == '0') {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Three significant digits, so log-scale ticks read 0.316, 3.16, 316 rather than 316.228;
/// very large or small values in powers of ten (PC Loss reaches 10^12), e.g. `1e12`.
pub(crate) fn significant(v: &f64) -> String {
    if *v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        let text = format!("{v:.2e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exponent}");
    }
    let decimals = (2 - v.abs().max(1e-12).log10().floor() as i32).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_have_no_negative_zero_and_no_trailing_zeros() {
        assert_eq!(linear(-1.5e-8, 1.0), "0");
        assert_eq!(linear(-0.1, 1.0), "-0.1");
        assert_eq!(linear(0.300_000_1, 1.0), "0.3");
        assert_eq!(linear(0.05, 0.4), "0.05");
        assert_eq!(linear(250.0, 1000.0), "250");
        // A collapsed run (lambda too large) still gets distinct labels.
        assert_eq!(linear(0.000_02, 0.000_1), "0.00002");
    }

    #[test]
    fn log_tick_labels_keep_three_significant_digits() {
        assert_eq!(significant(&316.2278), "316");
        assert_eq!(significant(&3.162278), "3.16");
        assert_eq!(significant(&0.3162278), "0.316");
        assert_eq!(significant(&0.2), "0.2");
        assert_eq!(significant(&1e12), "1e12");
        assert_eq!(significant(&3.2e12), "3.2e12");
        assert_eq!(significant(&0.0001), "1e-4");
    }

    #[test]
    fn linear_tick_labels_tell_close_ticks_apart() {
        // An accuracy axis from 9 to 11 needs tenths; one from 0 to 100 needs none.
        assert_eq!(linear(9.6, 2.0), "9.6");
        assert_eq!(linear(40.0, 100.0), "40");
        assert_eq!(linear(2.375, 0.05), "2.375");
    }
}
