//! The lifecycle: the stages from first contact to advocacy, and how a customer moves along them.
//!
//! | stage | also called | what happens |
//! |---|---|---|
//! | Awareness | Reach | learns of the problem and of the brand |
//! | Consideration | Acquisition | researches, compares, gives contact details |
//! | Purchase | Conversion | buys; becomes a paying customer |
//! | Retention | Post-purchase | uses the product, judges it |
//! | Loyalty | | buys regularly, ignores competitor offers |
//! | Advocacy | | recommends the brand actively |
//!
//! Moving forward is always allowed. Moving backward rewrites history a little, so it needs a
//! reason a person can read later.

use serde::{Deserialize, Serialize};

/// A lifecycle stage. Stages are ordered: `Awareness < Consideration < ... < Advocacy`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum LifecycleStage {
    /// Learns of the problem and of the brand (also called Reach).
    #[default]
    Awareness,
    /// Researches and compares; gives contact details (also called Acquisition).
    Consideration,
    /// Buys; becomes a paying customer (also called Conversion).
    Purchase,
    /// Uses the product and judges it (also called Post-purchase).
    Retention,
    /// Buys regularly and ignores competitor offers.
    Loyalty,
    /// Recommends the brand actively.
    Advocacy,
}

impl LifecycleStage {
    /// Every stage, in order.
    pub const ALL: [LifecycleStage; 6] = [
        LifecycleStage::Awareness,
        LifecycleStage::Consideration,
        LifecycleStage::Purchase,
        LifecycleStage::Retention,
        LifecycleStage::Loyalty,
        LifecycleStage::Advocacy,
    ];

    /// The contract name (`AWARENESS` ... `ADVOCACY`).
    pub fn name(self) -> &'static str {
        match self {
            LifecycleStage::Awareness => "AWARENESS",
            LifecycleStage::Consideration => "CONSIDERATION",
            LifecycleStage::Purchase => "PURCHASE",
            LifecycleStage::Retention => "RETENTION",
            LifecycleStage::Loyalty => "LOYALTY",
            LifecycleStage::Advocacy => "ADVOCACY",
        }
    }

    /// Parses a contract name, case-insensitively; the alternative names (`REACH`, `ACQUISITION`,
    /// `CONVERSION`, `POST_PURCHASE`) are accepted too.
    pub fn parse(name: &str) -> Option<LifecycleStage> {
        let upper = name.trim().to_ascii_uppercase().replace('-', "_");
        let stage = match upper.as_str() {
            "AWARENESS" | "REACH" => LifecycleStage::Awareness,
            "CONSIDERATION" | "ACQUISITION" => LifecycleStage::Consideration,
            "PURCHASE" | "CONVERSION" => LifecycleStage::Purchase,
            "RETENTION" | "POST_PURCHASE" => LifecycleStage::Retention,
            "LOYALTY" => LifecycleStage::Loyalty,
            "ADVOCACY" => LifecycleStage::Advocacy,
            _ => return None,
        };
        Some(stage)
    }

    /// The stage's position, 0 for Awareness.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The stage at a position, the inverse of [`LifecycleStage::rank`].
    pub fn from_rank(rank: u8) -> Option<LifecycleStage> {
        Self::ALL.get(usize::from(rank)).copied()
    }
}

/// Why a stage change is not allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    /// Moving backward needs a reason, and none was given.
    #[error("moving from {} back to {} needs a reason", from.name(), to.name())]
    BackwardWithoutReason {
        /// The current stage.
        from: LifecycleStage,
        /// The requested, earlier stage.
        to: LifecycleStage,
    },
}

/// Checks a manual move from one stage to another: forward (or staying) is free, backward needs
/// a non-blank reason.
pub fn check_manual_move(
    from: LifecycleStage,
    to: LifecycleStage,
    reason: Option<&str>,
) -> Result<(), MoveError> {
    let has_reason = reason.is_some_and(|r| !r.trim().is_empty());
    if to < from && !has_reason {
        return Err(MoveError::BackwardWithoutReason { from, to });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_ordered_as_the_funnel() {
        for pair in LifecycleStage::ALL.windows(2) {
            assert!(pair[0] < pair[1]);
        }
        for stage in LifecycleStage::ALL {
            assert_eq!(LifecycleStage::from_rank(stage.rank()), Some(stage));
            assert_eq!(LifecycleStage::parse(stage.name()), Some(stage));
        }
        assert_eq!(
            LifecycleStage::parse("conversion"),
            Some(LifecycleStage::Purchase)
        );
        assert_eq!(LifecycleStage::parse("funnel"), None);
    }

    #[test]
    fn forward_is_free_and_backward_needs_a_reason() {
        use LifecycleStage::*;
        assert!(check_manual_move(Awareness, Loyalty, None).is_ok());
        assert!(check_manual_move(Loyalty, Loyalty, None).is_ok());
        assert_eq!(
            check_manual_move(Loyalty, Purchase, Some("  ")),
            Err(MoveError::BackwardWithoutReason {
                from: Loyalty,
                to: Purchase
            })
        );
        assert!(check_manual_move(Loyalty, Purchase, Some("entered by mistake")).is_ok());
    }
}
