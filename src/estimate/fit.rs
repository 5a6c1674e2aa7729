//! Weights fitted to one tokenizer when it loads. A family's calibrated table
//! (`tables.rs`) suits the vocabularies it was fitted on; a `tokenizer.json` model of the same
//! family can tokenize twice as finely, or as coarsely (Qwen's 151k tokens against GPT-2's 50k).
//! So each model is counted exactly on a small fixed sample of every content type
//! (`assets/estimate-calibration.txt`, about 100 KB) and the weights are fitted to those counts,
//! pulled toward the family's table where the samples say little.

use std::sync::LazyLock;

use super::features::{f, Features};

/// The calibration samples: `(category, text)`.
static SAMPLES: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| {
    const FILE: &str = include_str!("../../assets/estimate-calibration.txt");
    FILE.split('\u{1e}').skip(1).filter_map(|record| record.split_once('\n')).step_by(SAMPLE_STEP).collect()
});

/// Every sample is used, except in fuzz builds (`cargo fuzz` sets `--cfg fuzzing`), where one in 8
/// is: every tokenizer loaded counts the samples' 217 KB, which under the sanitizer held the
/// tokenizer.json targets to a few inputs a second. The fit is the same code on fewer rows.
#[cfg(not(fuzzing))]
const SAMPLE_STEP: usize = 1;
#[cfg(fuzzing)]
const SAMPLE_STEP: usize = 8;

/// How strongly the fit is pulled toward the family's weights, per sample and feature.
const PRIOR: f64 = 0.0005;
/// How much a category of synthetic edge cases (runs, digits...) weighs in the fit, against a
/// category of real text (a corpus file): enough to keep them sane, not enough to cost real text.
const SYNTHETIC_WEIGHT: f64 = 0.1;
/// Rounds of reweighting toward the least absolute relative error.
const ROUNDS: usize = 8;

/// Weights fitted to `count` (an exact count of a text, `None` where it fails) on the
/// calibration samples, starting from `prior`. `None` when too few samples count.
pub(crate) fn fit(prior: &[f64; f::COUNT], count: impl Fn(&str) -> Option<u64>) -> Option<[f64; f::COUNT]> {
    let mut categories: Vec<&str> = Vec::new();
    let mut rows: Vec<(usize, [f64; f::COUNT], f64)> = Vec::with_capacity(SAMPLES.len());
    for &(category, text) in SAMPLES.iter() {
        let Some(exact) = count(text).filter(|&n| n > 0) else { continue };
        let c = categories.iter().position(|&k| k == category).unwrap_or_else(|| {
            categories.push(category);
            categories.len() - 1
        });
        let scanned = Features::scan(text);
        let mut x = [0.0; f::COUNT];
        for (o, v) in x.iter_mut().zip(scanned.values) {
            *o = v as f64;
        }
        rows.push((c, x, exact as f64));
    }
    if rows.len() < SAMPLES.len() / 2 {
        return None;
    }
    // Each category weighs the same, real text more than edge cases: the weight of one row.
    let mut per_category = vec![0usize; categories.len()];
    for (c, _, _) in &rows {
        per_category[*c] += 1;
    }
    let row_weight: Vec<f64> = (0..categories.len())
        .map(|c| {
            let real = categories[c].contains('.');
            (if real { 1.0 } else { SYNTHETIC_WEIGHT }) / per_category[c] as f64
        })
        .collect();
    // The scale of each feature over the samples, so the prior's pull is the same for all.
    let mut scale = [0.0f64; f::COUNT];
    for (_, x, y) in &rows {
        for i in 0..f::COUNT {
            scale[i] += (x[i] / y).powi(2);
        }
    }
    let n = f::COUNT;
    let mut reweight = vec![1.0; rows.len()];
    let mut beta = *prior;
    for _ in 0..ROUNDS {
        let mut ata = vec![0.0; n * n];
        let mut atb = vec![0.0; n];
        for ((c, x, y), r) in rows.iter().zip(&reweight) {
            // The relative residual (x.beta - y) / y: the row x / y against 1; every category
            // weighs the same.
            let w = r * row_weight[*c];
            for i in 0..n {
                let xi = x[i] / y;
                if xi == 0.0 {
                    continue;
                }
                atb[i] += w * xi;
                for j in 0..n {
                    ata[i * n + j] += w * xi * x[j] / y;
                }
            }
        }
        let total: f64 = rows.iter().zip(&reweight).map(|((c, _, _), r)| r * row_weight[*c]).sum();
        for i in 0..n {
            // Ridge toward the prior, in each feature's own scale (a floor for features the
            // samples never have).
            let pull = PRIOR * total * (scale[i] / rows.len() as f64).max(1e-9);
            ata[i * n + i] += pull;
            atb[i] += pull * prior[i];
        }
        beta = solve(&mut ata, &mut atb, n)?;
        for ((_, x, y), r) in rows.iter().zip(reweight.iter_mut()) {
            let estimate: f64 = x.iter().zip(&beta).map(|(a, b)| a * b).sum();
            *r = 1.0 / ((estimate - y).abs() / y).max(0.01);
        }
    }
    beta.iter().all(|b| b.is_finite()).then_some(beta)
}

/// Solves `a x = b` (`a` is `n` by `n`, symmetric positive definite) by Gaussian elimination
/// with partial pivoting; `None` when it is singular.
fn solve(a: &mut [f64], b: &mut [f64], n: usize) -> Option<[f64; f::COUNT]> {
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[pivot * n + col].abs() < 1e-300 {
            return None;
        }
        if pivot != col {
            for k in 0..n {
                a.swap(col * n + k, pivot * n + k);
            }
            b.swap(col, pivot);
        }
        for row in col + 1..n {
            let factor = a[row * n + col] / a[col * n + col];
            if factor == 0.0 {
                continue;
            }
            for k in col..n {
                a[row * n + k] -= factor * a[col * n + k];
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = [0.0; f::COUNT];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| a[row * n + k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row * n + row];
    }
    Some(x)
}

/// An estimate from fitted weights, as [`super::Family::weigh`] computes one from a table.
pub(crate) fn weigh(weights: &[f64; f::COUNT], x: &Features) -> f64 {
    weights.iter().zip(&x.values).map(|(w, &v)| w * v as f64).sum::<f64>().max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_cover_every_corpus_file() {
        let mut categories: Vec<&str> = SAMPLES.iter().map(|(c, _)| *c).collect();
        categories.sort_unstable();
        categories.dedup();
        assert!(categories.len() > 20, "{categories:?}");
        assert!(SAMPLES.len() > 100);
    }

    /// A counter that is twice the family's estimate is fitted to twice its weights' estimate.
    #[test]
    fn the_fit_follows_the_counts() {
        let prior = *super::super::Family::Cl100k.weights();
        let doubled =
            |text: &str| Some((2.0 * super::super::Family::Cl100k.weigh(&Features::scan(text))).round() as u64);
        let fitted = fit(&prior, doubled).expect("fits");
        // On real text (the categories that weigh most), the fit follows the counts, not the
        // prior it starts from.
        for &(_, text) in SAMPLES.iter().filter(|(c, _)| c.contains('.')).step_by(5) {
            let x = Features::scan(text);
            let want = 2.0 * super::super::Family::Cl100k.weigh(&x);
            let got = weigh(&fitted, &x);
            assert!((got - want).abs() <= 0.1 * want + 2.0, "{got} vs {want}");
        }
    }
}
