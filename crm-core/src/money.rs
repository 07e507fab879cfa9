//! Money: an ISO 4217 currency and an integer amount of its minor unit (kuruş, cent). Never a
//! float: every sum is checked for overflow, and an overflow is an error, not a wrap.

use std::fmt;

use serde::{Deserialize, Serialize};

/// ISO 4217 codes of the currencies in circulation (funds, precious metals and test codes are
/// left out: nobody buys with them).
const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// Whether `code` (upper-case) is an ISO 4217 currency in circulation.
pub fn is_currency(code: &str) -> bool {
    CURRENCIES.binary_search(&code).is_ok()
}

/// The currency code, normalized (trimmed, upper-case), if it is one.
pub fn normalize_currency(raw: &str) -> Result<String, &'static str> {
    let code = raw.trim().to_ascii_uppercase();
    if code.is_empty() {
        return Err("is required (an ISO 4217 code such as TRY or EUR)");
    }
    if !is_currency(&code) {
        return Err("is not an ISO 4217 currency code (such as TRY, EUR, USD)");
    }
    Ok(code)
}

/// An amount of money: integer minor units of one currency.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// ISO 4217 code, upper-case (`TRY`).
    pub currency: String,
    /// The amount in the currency's minor unit (`1050` TRY minor units is 10.50 TL).
    pub amount_minor: i64,
}

impl Money {
    /// An amount of a currency.
    pub fn new(currency: impl Into<String>, amount_minor: i64) -> Money {
        Money {
            currency: currency.into(),
            amount_minor,
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (minor units)", self.amount_minor, self.currency)
    }
}

/// The most a customer's purchases in one currency may total, and so the largest single
/// amount: 10^15 minor units (10 trillion units of a two-decimal currency). Within it every
/// figure computed from a customer's totals fits 64 bits: the CLV at the longest lifespan
/// (100 years) is at most 10^17.
pub const MAX_TOTAL_MINOR: i64 = 1_000_000_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_so_lookups_work() {
        assert!(CURRENCIES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(normalize_currency(" try "), Ok("TRY".into()));
        assert!(normalize_currency("XXX").is_err());
        assert!(normalize_currency("").is_err());
        assert!(normalize_currency("EURO").is_err());
    }
}
