//! Masked personal data, for callers without the personal-data permission (least privilege,
//! KVKK art. 12 and GDPR art. 25). A masked value keeps enough to recognize it by (the first
//! letter and the domain of an email, the country code, first digit and last two digits of a
//! phone) and nothing to contact or find the person with.

/// `ayse.yilmaz@example.com` -> `a***@example.com`.
pub fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// `+905321234567` -> `+90 5** *** ** 67`: the country code (taken as the two digits after
/// `+`), the first digit of the number, the last two; every other digit a `*`, grouped 3-3-2-2
/// from the front.
pub fn mask_phone(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 {
        return "***".to_owned();
    }
    let (country, rest) = digits.split_at(2);
    let n = rest.len();
    let masked: Vec<char> = rest
        .iter()
        .enumerate()
        .map(|(i, d)| if i == 0 || i + 2 >= n { *d } else { '*' })
        .collect();
    let mut groups = Vec::new();
    let mut start = 0;
    for size in [3, 3, 2] {
        if start + size >= n {
            break;
        }
        groups.push(masked[start..start + size].iter().collect::<String>());
        start += size;
    }
    groups.push(masked[start..].iter().collect());
    format!(
        "+{} {}",
        country.iter().collect::<String>(),
        groups.join(" ")
    )
}

/// Any other personal text: its first character and `***` (empty stays empty).
pub fn mask_text(text: &str) -> String {
    match text.chars().next() {
        Some(c) => format!("{c}***"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_phones_mask_as_documented() {
        assert_eq!(mask_email("ayse.yilmaz@example.com"), "a***@example.com");
        assert_eq!(mask_phone("+905321234567"), "+90 5** *** ** 67");
        assert_eq!(mask_phone("+4915112345678"), "+49 1** *** ** *78");
        assert_eq!(mask_phone("+1"), "***");
        assert_eq!(mask_text("Bağdat Cd. 1"), "B***");
    }
}
