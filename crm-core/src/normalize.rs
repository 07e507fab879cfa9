//! Normal forms: one spelling per email, phone and tag, so that uniqueness and lookups work.
//!
//! Text a person cannot tell apart must be stored alike, or not at all:
//! - every text is stored in Unicode NFC, so `é` typed as one character or as `e` and a
//!   combining accent is the same name, the same email, the same search word;
//! - characters that change nothing visible or change how text around them is shown (control
//!   characters, Unicode format characters such as U+200B ZERO WIDTH SPACE, U+202E RIGHT-TO-LEFT
//!   OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE, U+FEFF, and the line and paragraph separators) are
//!   refused in emails and every identifier, and in other text but for U+200C and U+200D, the
//!   joiners that Persian, Indic and emoji text needs.

use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

/// Whether `c` is invisible or changes how the text around it is shown: a control or format
/// character, or a line or paragraph separator.
pub fn is_invisible(c: char) -> bool {
    // ASCII has no format or separator characters: only its controls are invisible. Most text
    // is ASCII, and the Unicode table lookup is the larger part of checking an email.
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// Whether `c` is refused in free text: invisible, but for the two joiners.
pub fn is_refused_in_text(c: char) -> bool {
    is_invisible(c) && c != '\u{200C}' && c != '\u{200D}'
}

/// `text` in Unicode normal form C.
pub fn nfc(text: &str) -> String {
    if is_nfc(text) {
        return text.to_owned();
    }
    text.nfc().collect()
}

/// `text`, owned, in Unicode normal form C: itself when it is already.
fn into_nfc(text: String) -> String {
    if is_nfc(&text) {
        return text;
    }
    text.nfc().collect()
}

/// Whether `text` is already in normal form C, answered without composing it: true for all
/// ASCII text and for most text written on a keyboard (Unicode's quick check), false when in
/// doubt.
pub fn is_nfc(text: &str) -> bool {
    text.is_ascii()
        || unicode_normalization::is_nfc_quick(text.chars())
            == unicode_normalization::IsNormalized::Yes
}

/// Lower-cases and checks an email address. Returns the normal form, or why it is not an address.
///
/// The check is deliberately practical, not RFC 5322 in full: one `@`, a local part of 1-64
/// printable characters without spaces, a domain of dot-separated labels of letters, digits and
/// hyphens (internationalized labels allowed), with at least one dot; 254 bytes at most.
pub fn normalize_email(raw: &str) -> Result<String, &'static str> {
    let email = into_nfc(raw.trim().to_lowercase());
    if email.is_empty() {
        return Err("is required");
    }
    if email.chars().any(is_invisible) {
        return Err(
            "must not contain invisible or direction-changing characters (such as U+200B or U+202E)",
        );
    }
    if email.len() > 254 {
        return Err("must be at most 254 bytes");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must be an email address like name@example.com");
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !is_invisible(c) && !"@()<>[]\\,;:\"".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(email)
    } else {
        Err("must be an email address like name@example.com")
    }
}

/// Writes a phone number in E.164 form: `+` then 8 to 15 digits, the first not 0.
///
/// Spaces, dots, dashes and parentheses are dropped and a leading `00` becomes `+`. A number
/// without a country code cannot be normalized without knowing the country, so it is refused.
pub fn normalize_phone(raw: &str) -> Result<String, &'static str> {
    let mut digits = String::with_capacity(16);
    let mut plus = false;
    for (i, c) in raw.trim().chars().enumerate() {
        match c {
            '+' if i == 0 => plus = true,
            '0'..='9' => digits.push(c),
            ' ' | '.' | '-' | '(' | ')' | '/' => {}
            _ => return Err("may contain only digits, spaces, dots, dashes and parentheses"),
        }
    }
    if !plus {
        match digits.strip_prefix("00") {
            Some(rest) => digits = rest.to_owned(),
            None => return Err("must start with + and the country code (E.164)"),
        }
    }
    if digits.starts_with('0') || !(8..=15).contains(&digits.len()) {
        return Err("must be + and 8 to 15 digits, not starting with 0 (E.164)");
    }
    Ok(format!("+{digits}"))
}

/// Normalizes a tag: trimmed, lower-case, inner white space as `-`; 1 to 64 characters of
/// letters, digits and `-_:./`.
pub fn normalize_tag(raw: &str) -> Result<String, &'static str> {
    // Lower-casing the Turkish dotted capital I gives "i" plus a combining dot: drop the dot.
    let lower = into_nfc(raw.trim().to_lowercase()).replace('\u{307}', "");
    let tag = lower.split_whitespace().collect::<Vec<_>>().join("-");
    if tag.is_empty() {
        return Err("must not be empty");
    }
    if tag.chars().count() > crate::validate::MAX_TAG_CHARS {
        return Err("must be at most 64 characters");
    }
    if !tag
        .chars()
        .all(|c| c.is_alphanumeric() || "-_:./".contains(c))
    {
        return Err("may contain only letters, digits and - _ : . /");
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            normalize_email(" Ada@Example.COM"),
            Ok("ada@example.com".into())
        );
        assert_eq!(
            normalize_email("müşteri@örnek.com.tr"),
            Ok("müşteri@örnek.com.tr".into())
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.io",
            "ada@localhost",
            "a b@x.io",
            "a@x..io",
            "a@-x.io",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(
            normalize_phone("+90 532 123 45 67"),
            Ok("+905321234567".into())
        );
        assert_eq!(
            normalize_phone("0049 (30) 1234-5678"),
            Ok("+493012345678".into())
        );
        for bad in [
            "0532 123 45 67",
            "+0 123 456 789",
            "+1",
            "+1 555 CALL NOW",
            "++1555123456",
        ] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// The shortcuts (ASCII, Unicode's quick check) give what composing gives.
        #[test]
        fn the_nfc_shortcut_agrees_with_composing(text in "\\PC{0,12}|[a-zA-Z0-9@. ]{0,12}|[eaoucsgi\u{300}-\u{36f}\u{327}\u{1100}-\u{1112}\u{1161}-\u{1175}]{0,8}") {
            let composed: String = text.nfc().collect();
            proptest::prop_assert_eq!(nfc(&text), composed.clone());
            if is_nfc(&text) {
                proptest::prop_assert_eq!(&text, &composed);
            }
        }
    }

    #[test]
    fn the_ascii_shortcut_for_invisible_characters_agrees_with_the_unicode_table() {
        for c in (0..=0x7f_u8).map(char::from) {
            let by_table = matches!(
                c.general_category(),
                GeneralCategory::Control
                    | GeneralCategory::Format
                    | GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
            );
            assert_eq!(is_invisible(c), by_table, "{c:?}");
        }
        assert!(is_invisible('\u{200B}') && is_invisible('\u{202E}') && is_invisible('\u{85}'));
        assert!(!is_invisible('é') && !is_invisible('ş'));
    }

    #[test]
    fn tags_have_one_spelling() {
        assert_eq!(
            normalize_tag("  Early   Adopter "),
            Ok("early-adopter".into())
        );
        assert_eq!(normalize_tag("İstanbul"), Ok("istanbul".into()));
        assert!(normalize_tag("").is_err());
        assert!(normalize_tag("vip!").is_err());
    }
}
