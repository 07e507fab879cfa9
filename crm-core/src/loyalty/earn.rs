//! What a purchase earns: each line item's share of the amount at its SKU's multiplier (the
//! whole amount at the base rate without line items), times the member's tier multiplier,
//! rounded down to whole points.

use super::program::LoyaltyProgram;
use crate::timeline::Purchase;

/// The points a purchase earns for a member whose tier earns `tier_percent`; 0 in a currency
/// the program does not rate.
pub fn purchase_points(p: &LoyaltyProgram, purchase: &Purchase, tier_percent: u32) -> i64 {
    let Some(minor_per_point) = p.rate(&purchase.amount.currency) else {
        return 0;
    };
    // Weighted minor units: each line at its multiplier (percent), in i128 so no amount the
    // contract accepts can overflow.
    let weighted: i128 = if purchase.line_items.is_empty() {
        i128::from(purchase.amount.amount_minor) * 100
    } else {
        purchase
            .line_items
            .iter()
            .map(|l| {
                i128::from(l.unit_price_minor)
                    * i128::from(l.quantity)
                    * i128::from(p.sku_percent(&l.sku))
            })
            .sum()
    };
    let points =
        weighted * i128::from(tier_percent) / 100 / 100 / i128::from(minor_per_point.max(1));
    i64::try_from(points.max(0)).unwrap_or(i64::MAX)
}

/// The points a refund of `refunded` minor units of a purchase that earned `earned` takes back:
/// the same share, rounded up (a refund never leaves a fraction of a point it earned).
pub fn reversed_points(earned: i64, purchase_minor: i64, refunded: i64) -> i64 {
    if purchase_minor <= 0 || earned <= 0 {
        return 0;
    }
    let share = i128::from(earned) * i128::from(refunded.clamp(0, purchase_minor));
    let whole = i128::from(purchase_minor);
    i64::try_from((share + whole - 1) / whole).unwrap_or(earned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loyalty::program::SkuMultiplier;
    use crate::money::Money;
    use crate::timeline::LineItem;

    #[test]
    fn lines_earn_at_their_category_and_tier_multipliers() {
        let mut p = LoyaltyProgram::default();
        p.sku_multipliers.push(SkuMultiplier {
            sku_prefix: "SHOE-".into(),
            percent: 200,
        });
        let purchase = Purchase {
            order_ref: "SO-1".into(),
            amount: Money::new("TRY", 30_000),
            line_items: vec![
                LineItem {
                    sku: "SHOE-42".into(),
                    quantity: 1,
                    unit_price_minor: 20_000,
                },
                LineItem {
                    sku: "SOCK-1".into(),
                    quantity: 2,
                    unit_price_minor: 5_000,
                },
            ],
        };
        // 200 TRY of shoes at 2x = 400, 100 TRY of socks = 100: 500 base points.
        assert_eq!(purchase_points(&p, &purchase, 100), 500);
        assert_eq!(purchase_points(&p, &purchase, 150), 750);
        let dollars = Purchase {
            amount: Money::new("USD", 30_000),
            ..purchase
        };
        assert_eq!(purchase_points(&p, &dollars, 100), 0, "USD has no rate");
        assert_eq!(reversed_points(500, 30_000, 10_000), 167);
        assert_eq!(reversed_points(500, 30_000, 30_000), 500);
    }
}
