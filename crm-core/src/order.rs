//! List order (AIP-132): `order_by` names one field and an optional direction.

use crate::validate::Violations;

/// A field customers can be listed by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OrderField {
    /// Creation time (the default); ties cannot happen, ids break them.
    #[default]
    CreateTime,
    /// Time of the last change.
    UpdateTime,
    /// Display name, case-insensitively.
    DisplayName,
}

/// How to order a list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OrderBy {
    /// The field.
    pub field: OrderField,
    /// Largest first.
    pub descending: bool,
}

impl OrderBy {
    /// Parses `"create_time"`, `"update_time desc"`, `"display_name asc"`; blank is the default
    /// (`create_time` ascending).
    pub fn parse(text: &str) -> Result<OrderBy, Violations> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let bad = |why: &str| Err(Violations::one("order_by", why));
        let Some(first) = words.first() else {
            return Ok(OrderBy::default());
        };
        if text.contains(',') {
            return bad("only one field can be ordered by");
        }
        let field = match *first {
            "create_time" => OrderField::CreateTime,
            "update_time" => OrderField::UpdateTime,
            "display_name" => OrderField::DisplayName,
            _ => {
                return bad(
                    "must be create_time, update_time or display_name, optionally followed by asc or desc",
                );
            }
        };
        let descending = match words.get(1).map(|w| w.to_ascii_lowercase()) {
            None => false,
            Some(w) if w == "asc" && words.len() == 2 => false,
            Some(w) if w == "desc" && words.len() == 2 => true,
            _ => return bad("the direction must be asc or desc"),
        };
        Ok(OrderBy { field, descending })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_directions() {
        assert_eq!(OrderBy::parse(""), Ok(OrderBy::default()));
        assert_eq!(
            OrderBy::parse(" update_time  DESC "),
            Ok(OrderBy {
                field: OrderField::UpdateTime,
                descending: true
            })
        );
        assert_eq!(
            OrderBy::parse("display_name asc"),
            Ok(OrderBy {
                field: OrderField::DisplayName,
                descending: false
            })
        );
        for bad in [
            "name",
            "create_time up",
            "create_time, update_time",
            "create_time desc desc",
        ] {
            assert!(OrderBy::parse(bad).is_err(), "{bad}");
        }
    }
}
