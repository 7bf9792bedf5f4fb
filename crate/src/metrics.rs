//! Numbers for what the scatter plots show, so runs can be compared without squinting.
//! All are computed from the features and the true labels alone, around each class's mean
//! feature (its "class mean"), never around a loss's learned centers, so they compare runs
//! with and without centers alike.
use crate::features::Features;

/// JSON has no NaN (serde_json writes it as `null`): read `null` back as NaN, so that a run
/// whose features collapsed to one point (scatter ratio 0/0) loads from the run cache
/// instead of looking damaged and being trained again.
fn nan_from_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Each field is also read under its earlier name (`alias`), so run-cache entries written
/// with those names load instead of being trained again.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureMetrics {
    /// tr(S_w) / tr(S_b): within-class scatter (mean squared distance of a point to its
    /// class mean) over between-class scatter (mean squared distance of the class means to
    /// their mean). The trace form of neural collapse's NC1; smaller = tighter, better
    /// separated classes, and it does not change when the whole space is scaled.
    #[serde(deserialize_with = "nan_from_null")]
    pub scatter_ratio: f64,
    /// Percent of points whose nearest class mean is their own class's.
    #[serde(deserialize_with = "nan_from_null", alias = "nearest_center_accuracy")]
    pub nearest_mean_accuracy: f64,
    /// Mean Euclidean distance from a point to its class mean.
    #[serde(deserialize_with = "nan_from_null", alias = "mean_distance_to_center")]
    pub mean_distance_to_own_mean: f64,
    /// Smallest and mean distance between two class means.
    #[serde(deserialize_with = "nan_from_null", alias = "min_center_distance")]
    pub min_distance_between_means: f64,
    #[serde(deserialize_with = "nan_from_null", alias = "mean_center_distance")]
    pub mean_distance_between_means: f64,
    /// Mean silhouette in [-1, 1] over an evenly spaced sample of at most
    /// [`SILHOUETTE_SAMPLE`] points (it costs O(n^2)).
    #[serde(deserialize_with = "nan_from_null")]
    pub silhouette: f64,
}

pub const SILHOUETTE_SAMPLE: usize = 2000;

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}

pub fn feature_metrics(f: &Features) -> FeatureMetrics {
    let means = f.class_means();
    let mean_of = |label: u8| &means.iter().find(|(l, _)| *l == label).expect("every label has a mean").1;
    let point = |i: usize| f.point(i).iter().map(|v| *v as f64).collect::<Vec<f64>>();

    let (mut within, mut to_center, mut nearest_ok) = (0.0, 0.0, 0usize);
    for i in 0..f.len() {
        let p = point(i);
        let d = distance(&p, mean_of(f.labels[i]));
        within += d * d;
        to_center += d;
        let nearest = means.iter().min_by(|a, b| distance(&p, &a.1).total_cmp(&distance(&p, &b.1))).map(|(l, _)| *l);
        nearest_ok += usize::from(nearest == Some(f.labels[i]));
    }
    let n = f.len().max(1) as f64;

    let k = means.len();
    let grand: Vec<f64> = (0..f.dim).map(|d| means.iter().map(|m| m.1[d]).sum::<f64>() / k.max(1) as f64).collect();
    let between = means.iter().map(|m| distance(&m.1, &grand).powi(2)).sum::<f64>() / k.max(1) as f64;
    let mut pair_distances = Vec::new();
    for a in 0..k {
        for b in a + 1..k {
            pair_distances.push(distance(&means[a].1, &means[b].1));
        }
    }
    let (min_distance_between_means, mean_distance_between_means) = if pair_distances.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        (pair_distances.iter().cloned().fold(f64::INFINITY, f64::min), pair_distances.iter().sum::<f64>() / pair_distances.len() as f64)
    };
    FeatureMetrics {
        scatter_ratio: (within / n) / between,
        nearest_mean_accuracy: 100.0 * nearest_ok as f64 / n,
        mean_distance_to_own_mean: to_center / n,
        min_distance_between_means,
        mean_distance_between_means,
        silhouette: silhouette(f),
    }
}

/// Mean of (b - a) / max(a, b), with a = mean distance to the point's own class and b = the
/// smallest mean distance to another class; points alone in their class count 0.
fn silhouette(f: &Features) -> f64 {
    let stride = f.len().div_ceil(SILHOUETTE_SAMPLE).max(1);
    let sample: Vec<usize> = (0..f.len()).step_by(stride).collect();
    let points: Vec<Vec<f64>> = sample.iter().map(|&i| f.point(i).iter().map(|v| *v as f64).collect()).collect();
    let labels: Vec<u8> = sample.iter().map(|&i| f.labels[i]).collect();
    let mut total = 0.0;
    for i in 0..points.len() {
        let mut sums = [0.0f64; 256];
        let mut counts = [0usize; 256];
        for j in 0..points.len() {
            if i != j {
                sums[labels[j] as usize] += distance(&points[i], &points[j]);
                counts[labels[j] as usize] += 1;
            }
        }
        let own = labels[i] as usize;
        if counts[own] == 0 {
            continue;
        }
        let a = sums[own] / counts[own] as f64;
        let b = (0..256).filter(|&c| c != own && counts[c] > 0).map(|c| sums[c] / counts[c] as f64).fold(f64::INFINITY, f64::min);
        // All points in one spot (a collapsed network): no separation, 0 rather than 0/0.
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    total / points.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(points: &[(f32, f32, u8)]) -> Features {
        Features::new(2, points.iter().flat_map(|p| [p.0, p.1]).collect(), points.iter().map(|p| p.2).collect()).unwrap()
    }

    /// Four classes at (+-10, +-10), each four points at distance 1 from its corner.
    fn four_corners(scale: f32) -> Features {
        let mut pts = Vec::new();
        for (label, (cx, cy)) in [(10.0, 10.0), (-10.0, 10.0), (-10.0, -10.0), (10.0, -10.0)].into_iter().enumerate() {
            for (dx, dy) in [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)] {
                pts.push(((cx + dx) * scale, (cy + dy) * scale, label as u8));
            }
        }
        features(&pts)
    }

    #[test]
    fn known_answers_on_four_tight_corners() {
        let m = feature_metrics(&four_corners(1.0));
        // S_w = 1 (every point at distance 1), S_b = |(10,10)|^2 = 200.
        assert!((m.scatter_ratio - 1.0 / 200.0).abs() < 1e-12, "{m:?}");
        assert_eq!(m.nearest_mean_accuracy, 100.0);
        assert!((m.mean_distance_to_own_mean - 1.0).abs() < 1e-12);
        assert!((m.min_distance_between_means - 20.0).abs() < 1e-12);
        let mean = (4.0 * 20.0 + 2.0 * 20.0 * 2f64.sqrt()) / 6.0;
        assert!((m.mean_distance_between_means - mean).abs() < 1e-9);
        assert!(m.silhouette > 0.9, "{m:?}");
        // Scaling the space changes distances but not the ratio.
        let scaled = feature_metrics(&four_corners(3.0));
        assert!((scaled.scatter_ratio - m.scatter_ratio).abs() < 1e-12);
        assert!((scaled.min_distance_between_means - 60.0).abs() < 1e-9);
    }

    #[test]
    fn silhouette_matches_a_hand_worked_line() {
        // Class 0 at x = 0, 1; class 1 at x = 4, 5. Outer points: a = 1, b = 4.5 -> 7/9;
        // inner points: a = 1, b = 3.5 -> 5/7. Mean: (7/9 + 5/7) / 2.
        let f = features(&[(0.0, 0.0, 0), (1.0, 0.0, 0), (4.0, 0.0, 1), (5.0, 0.0, 1)]);
        let expected = (7.0 / 9.0 + 5.0 / 7.0) / 2.0;
        assert!((feature_metrics(&f).silhouette - expected).abs() < 1e-12);
    }

    #[test]
    fn collapsed_features_score_zero_not_nan() {
        let f = features(&[(3.0, 3.0, 0), (3.0, 3.0, 0), (3.0, 3.0, 1), (3.0, 3.0, 1)]);
        let m = feature_metrics(&f);
        assert_eq!(m.silhouette, 0.0);
        assert_eq!(m.min_distance_between_means, 0.0);
    }

    #[test]
    fn an_undefined_ratio_survives_json() {
        // All points on one spot: within- and between-class scatter are both 0.
        let m = feature_metrics(&features(&[(3.0, 3.0, 0), (3.0, 3.0, 1)]));
        assert!(m.scatter_ratio.is_nan(), "{m:?}");
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"scatter_ratio\":null"), "{json}");
        let back: FeatureMetrics = serde_json::from_str(&json).unwrap();
        assert!(back.scatter_ratio.is_nan());
        assert_eq!(back.silhouette, m.silhouette);
    }

    #[test]
    fn mixed_classes_score_badly() {
        // Two classes drawn on the same points: no separation at all.
        let pts: Vec<(f32, f32, u8)> = (0..40).map(|i| ((i / 2) as f32, ((i * 7) % 5) as f32, (i % 2) as u8)).collect();
        let m = feature_metrics(&features(&pts));
        assert!(m.silhouette < 0.05, "{m:?}");
        assert!(m.scatter_ratio > 10.0, "{m:?}");
        assert!(m.nearest_mean_accuracy < 80.0, "{m:?}");
    }
}
