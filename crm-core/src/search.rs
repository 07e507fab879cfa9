//! Search: the words a customer can be found by, folded so that case and diacritics do not
//! matter, Turkish included: "musteri" finds "Müşteri", "istanbul" finds "İstanbul", "ISIK"
//! finds "Işık".
//!
//! A customer is found by the words of its names (display name, given and family names, legal
//! name), of the local part of its emails (`ayse.yilmaz@...` gives `ayse` and `yilmaz`), and by
//! its phone numbers as digits (the full number and the last ten digits, so `0532 123 45 67`
//! finds `+90 532 123 45 67`: a query of phone characters only is read as one number);
//! one-letter words are left out. A query's words must all match, each as a whole word or as the
//! start of one; whole-word matches rank first.

use std::collections::BTreeSet;

use crate::customer::{Customer, Party};

/// Longest word kept (characters); longer ones are cut.
pub const MAX_WORD_CHARS: usize = 32;
/// Most words indexed per customer.
pub const MAX_WORDS: usize = 48;
/// Most words a query may have.
pub const MAX_QUERY_WORDS: usize = 8;

/// One character folded: lower case without diacritics (`İ`, `I`, `ı` -> `i`, `ş` -> `s`...).
fn fold_char(c: char, out: &mut String) {
    let folded = match c {
        'İ' | 'I' | 'ı' | 'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'Ş' | 'ş' | 'Ś' | 'ś' | 'Š' | 'š' | 'Ș' | 'ș' => "s",
        'Ğ' | 'ğ' => "g",
        'Ü' | 'ü' | 'Ù' | 'ù' | 'Ú' | 'ú' | 'Û' | 'û' => "u",
        'Ö' | 'ö' | 'Ò' | 'ò' | 'Ó' | 'ó' | 'Ô' | 'ô' | 'Õ' | 'õ' | 'Ø' | 'ø' => "o",
        'Ç' | 'ç' | 'Ć' | 'ć' | 'Č' | 'č' => "c",
        'À' | 'à' | 'Á' | 'á' | 'Â' | 'â' | 'Ã' | 'ã' | 'Ä' | 'ä' | 'Å' | 'å' | 'Ă' | 'ă' => {
            "a"
        }
        'È' | 'è' | 'É' | 'é' | 'Ê' | 'ê' | 'Ë' | 'ë' | 'Ě' | 'ě' => "e",
        'Ñ' | 'ñ' | 'Ń' | 'ń' => "n",
        'Ý' | 'ý' | 'ÿ' => "y",
        'Ž' | 'ž' | 'Ź' | 'ź' | 'Ż' | 'ż' => "z",
        'Ř' | 'ř' => "r",
        'Ț' | 'ț' | 'Ţ' | 'ţ' => "t",
        'Ł' | 'ł' => "l",
        'Đ' | 'đ' => "d",
        'ß' => "ss",
        'Æ' | 'æ' => "ae",
        'Œ' | 'œ' => "oe",
        c => {
            out.extend(c.to_lowercase());
            return;
        }
    };
    out.push_str(folded);
}

/// Text folded for search: NFC, lower case, diacritics removed (so `é` typed as `e` and a
/// combining accent folds like `é`).
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let mut out = String::with_capacity(text.len());
    if crate::normalize::is_nfc(text) {
        text.chars().for_each(|c| fold_char(c, &mut out));
    } else {
        text.nfc().for_each(|c| fold_char(c, &mut out));
    }
    out
}

/// The folded words of a text: runs of letters and digits, cut at [`MAX_WORD_CHARS`].
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(MAX_WORD_CHARS).collect::<String>())
        .collect::<Vec<_>>()
        .into_iter()
}

/// The digits of a phone number and its last ten digits (the national number in most plans).
fn phone_words(number: &str) -> Vec<String> {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let mut out = vec![digits.clone()];
    if digits.len() > 10 {
        out.push(digits[digits.len() - 10..].to_owned());
    }
    out
}

/// Every word a customer can be found by (at most [`MAX_WORDS`]).
pub fn customer_words(c: &Customer) -> BTreeSet<String> {
    let d = &c.data;
    let mut out = BTreeSet::new();
    out.extend(words(&d.display_name));
    match &d.party {
        Party::Person(p) => {
            out.extend(words(&p.given_name));
            out.extend(words(&p.family_name));
        }
        Party::Organization(o) => out.extend(words(&o.legal_name)),
    }
    for e in &d.emails {
        let local = e.address.split('@').next().unwrap_or_default();
        out.extend(words(local));
    }
    for p in &d.phones {
        out.extend(phone_words(&p.number));
    }
    // One-letter words ("A.Ş." gives "a" and "s") would find everyone.
    out.retain(|w| w.chars().count() > 1);
    while out.len() > MAX_WORDS {
        out.pop_last();
    }
    out
}

/// Digits without the leading zeros of a trunk prefix (`0532...` -> `532...`).
fn strip_trunk(digits: &str) -> String {
    match digits.trim_start_matches('0') {
        "" => digits.to_owned(),
        rest => rest.to_owned(),
    }
}

/// The words of a query (at most [`MAX_QUERY_WORDS`]); digit-only words lose leading zeros
/// (a trunk prefix), so `0532...` finds `+90 532...`.
pub fn query_words(query: &str) -> Vec<String> {
    // A query of phone characters only is one number, however it is spaced.
    let phone_like = |c: char| c.is_ascii_digit() || " +-().".contains(c);
    if query.chars().any(|c| c.is_ascii_digit()) && query.chars().all(phone_like) {
        let digits: String = query.chars().filter(char::is_ascii_digit).collect();
        return vec![strip_trunk(&digits)];
    }
    let mut out: Vec<String> = Vec::new();
    for w in words(query) {
        let w = if w.chars().all(|c| c.is_ascii_digit()) {
            strip_trunk(&w)
        } else {
            w
        };
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out.truncate(MAX_QUERY_WORDS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turkish_and_other_diacritics_fold_away() {
        assert_eq!(fold("Müşteri"), "musteri");
        assert_eq!(fold("İstanbul"), "istanbul");
        assert_eq!(fold("IŞIK Çağlar"), "isik caglar");
        assert_eq!(fold("Łódź Straße"), "lodz strasse");
        assert_eq!(
            words("Anadolu Lojistik A.Ş.").collect::<Vec<_>>(),
            ["anadolu", "lojistik", "a", "s"]
        );
        assert_eq!(query_words("0532 123 45 67"), ["5321234567"]);
        assert_eq!(query_words("+90 (532) 123-45-67"), ["905321234567"]);
        assert_eq!(query_words("ayse 2024"), ["ayse", "2024"]);
        assert_eq!(phone_words("+905321234567"), ["905321234567", "5321234567"]);
    }
}
