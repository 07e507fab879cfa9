//! The report's distributions: medians, percentiles, and how concentrated revenue is among
//! the customers who bring it.

/// The concentration curve of `revenue` (each paying customer's revenue, greatest first;
/// `total` their sum, above zero): for k = 1..=10, the share of `total` from the top k × 10% of
/// customers, counted rounded up.
pub(super) fn concentration(revenue: &[i64], total: i128) -> Vec<f64> {
    let n = revenue.len();
    let mut cumulative = Vec::with_capacity(n);
    let mut sum: i128 = 0;
    for &r in revenue {
        sum += i128::from(r);
        cumulative.push(sum);
    }
    (1..=10)
        .map(|k| {
            let top = (n * k).div_ceil(10);
            let upto = top.checked_sub(1).and_then(|i| cumulative.get(i)).copied();
            upto.unwrap_or(0) as f64 / total as f64
        })
        .collect()
}

/// The nearest-rank percentile `q` (0 to 1) of sorted values: position round(q x (n - 1)).
pub(super) fn percentile(sorted: &[i64], q: f64) -> Option<i64> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get(((last as f64) * q).round() as usize).copied()
}

/// The median of sorted money values: the middle one, or the mean of the two middle ones
/// rounded half away from zero.
pub(super) fn median_minor(sorted: &[i64]) -> Option<i64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => {
            let sum = i128::from(sorted[n / 2 - 1]) + i128::from(sorted[n / 2]);
            let half = if sum >= 0 {
                (sum + 1) / 2
            } else {
                (sum - 1) / 2
            };
            i64::try_from(half).ok()
        }
    }
}

/// The median of `values` (sorted here): the middle one, or the mean of the two middle ones.
pub(super) fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_equal_customers_make_a_straight_line_and_one_whale_a_step() {
        let equal = vec![100; 10];
        let line = concentration(&equal, 1000);
        assert_eq!(line.len(), 10);
        for (k, share) in line.iter().enumerate() {
            assert!((share - (k + 1) as f64 / 10.0).abs() < 1e-12, "{line:?}");
        }
        let whale = [910, 10, 10, 10, 10, 10, 10, 10, 10, 10];
        let step = concentration(&whale, 1000);
        assert!((step[0] - 0.91).abs() < 1e-12);
        assert!((step[9] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn with_fewer_customers_than_deciles_the_top_rounds_up() {
        // Three customers: the top 10% is one of them (rounded up), the top 40% two.
        let curve = concentration(&[600, 300, 100], 1000);
        assert!((curve[0] - 0.6).abs() < 1e-12);
        assert!((curve[3] - 0.9).abs() < 1e-12);
        assert!((curve[9] - 1.0).abs() < 1e-12);
        assert!(curve.windows(2).all(|w| w[0] <= w[1]), "{curve:?}");
    }
}
