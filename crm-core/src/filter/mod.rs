//! The list filter language: a subset of AIP-160.
//!
//! ```text
//! lifecycle_stage = "LOYALTY" AND tags:"vip" AND NOT address.country = "DE"
//! (owner = "zeynep" OR owner = "mehmet") AND create_time >= "2026-01-01T00:00:00Z"
//! ```
//!
//! | field | operators | value |
//! |---|---|---|
//! | `lifecycle_stage` | `=` `!=` `<` `<=` `>` `>=` (funnel order) | a stage name |
//! | `kind` | `=` `!=` | `PERSON` or `ORGANIZATION` |
//! | `tags`, `emails` | `:` (has) | a tag / an address |
//! | `owner`, `source`, `external_id`, `display_name`, `address.country` | `=` `!=` | text |
//! | `organization_id` | `=` `!=` | a customer id |
//! | `create_time`, `update_time` | all comparisons | an RFC 3339 time, or a date (its first instant, UTC) |
//! | `relationship_status` | `=` `!=` | `PROSPECT`, `NEW`, `ACTIVE`, `LOYAL`, `AT_RISK`, `CHURNED` |
//! | `lead_temperature` | all comparisons (`COLD < WARM < HOT`) | a temperature |
//! | `lead_score` | all comparisons | 0..=100 |
//! | `summary.purchase_count` | all comparisons | a count |
//! | `age` | all comparisons | whole years (persons with a birth date) |
//! | `organization.employee_count` | all comparisons | a count (organizations that gave one) |
//! | `clv.CODE` (`clv.EUR`) | all comparisons | minor units of that currency; customers with purchases in it (a bare `clv` is refused: amounts of different currencies do not compare) |
//! | `rfm_group` | `=` `!=` | `champions`, `loyal`, ... `lost` ([`crate::report::rfm_group`]) |
//! | `attributes.KEY` | all comparisons (as text) | text |
//! | `feedback.nps_category` | `=` `!=` | `DETRACTOR`, `PASSIVE`, `PROMOTER` (the latest NPS answer's; customers with one) |
//! | `feedback.last_nps`, `feedback.last_csat` | all comparisons | a score (customers with such an answer) |
//! | `feedback.review_count` | all comparisons | a count |
//! | `loyalty.tier` | `=` `!=` | a tier's name (`GOLD`); members only (customers with a ledger) |
//! | `loyalty.points`, `loyalty.expiring_30d` | all comparisons | points (the balance; what expires within 30 days) |
//!
//! Status, temperature, score, purchase count and age are derived when read (see
//! [`crate::relationship`]): a filter that uses them is evaluated with
//! [`Filter::matches_insight`]. A comparison with a value the customer does not have (no birth
//! date, no employee count) does not hold, whatever the operator.
//!
//! Terms combine with `AND`, `OR`, `NOT` (or `-`) and parentheses; `AND` binds tighter than `OR`.
//! Values are quoted strings (`"..."`, with `\"` and `\\`) or bare words. A syntax error names its
//! byte position; an unknown field or a bad value names the field.

use chrono::{DateTime, Utc};

use crate::customer::{Customer, CustomerId, CustomerKind};
use crate::lifecycle::LifecycleStage;
use crate::relationship::{Insight, RelationshipStatus};

mod lex;
mod term;
use crate::scoring::Temperature;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 4096;
/// Deepest nesting of parentheses and `NOT`.
const MAX_DEPTH: usize = 32;

/// A filter that cannot be used, with where and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at byte {position})")]
pub struct FilterError {
    /// Byte offset in the filter text where the problem is.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `:` (has)
    Has,
}

impl Op {
    /// How the operator is written in a filter.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Has => ":",
        }
    }

    /// Whether the operator holds for an ordering of have against want (`:` as `=`).
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Op::Eq | Op::Has => ord == Equal,
            Op::Ne => ord != Equal,
            Op::Lt => ord == Less,
            Op::Le => ord != Greater,
            Op::Gt => ord == Greater,
            Op::Ge => ord != Less,
        }
    }
}

/// One comparison, with its value already checked and normalized for its field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    /// `lifecycle_stage OP STAGE`
    Stage(Op, LifecycleStage),
    /// `kind OP KIND`
    Kind(Op, CustomerKind),
    /// `tags:"TAG"`
    Tag(String),
    /// `emails:"ADDRESS"`
    Email(String),
    /// `owner OP TEXT`
    Owner(Op, String),
    /// `source OP TEXT`
    Source(Op, String),
    /// `external_id OP TEXT`
    ExternalId(Op, String),
    /// `display_name OP TEXT`
    DisplayName(Op, String),
    /// `address.country OP CODE`
    Country(Op, String),
    /// `organization_id OP ID`
    Organization(Op, CustomerId),
    /// `create_time OP TIME`
    CreateTime(Op, DateTime<Utc>),
    /// `update_time OP TIME`
    UpdateTime(Op, DateTime<Utc>),
    /// `relationship_status OP STATUS` (derived)
    Status(Op, RelationshipStatus),
    /// `lead_temperature OP TEMPERATURE` (derived)
    Temperature(Op, Temperature),
    /// `lead_score OP N` (derived)
    LeadScore(Op, u8),
    /// `organization.employee_count OP N` (organizations with a known count only)
    EmployeeCount(Op, u32),
    /// `attributes.KEY OP TEXT` (a missing attribute reads as empty text)
    Attribute(Op, String, String),
    /// `summary.purchase_count OP N` (derived)
    PurchaseCount(Op, u64),
    /// `age OP N`: whole years since the person's birth date (derived; persons with a birth date
    /// only)
    Age(Op, u32),
    /// `clv.CODE OP N`: the CLV in that currency, minor units (derived; customers with
    /// purchases in the currency only)
    Clv(Op, String, i64),
    /// `rfm_group = "NAME"` (derived against the portfolio; customers with purchases only)
    RfmGroup(Op, &'static str),
    /// `feedback.nps_category OP CATEGORY`: the latest NPS answer's (customers with one)
    NpsCategory(Op, crate::feedback::NpsCategory),
    /// `feedback.last_nps OP N` (customers with an NPS answer)
    LastNps(Op, u32),
    /// `feedback.last_csat OP N` (customers with a CSAT answer)
    LastCsat(Op, u32),
    /// `feedback.review_count OP N`
    ReviewCount(Op, u64),
    /// `loyalty.tier OP NAME` (`=`, `!=`; the tier now)
    LoyaltyTier(Op, String),
    /// `loyalty.points OP N` (the balance now)
    LoyaltyPoints(Op, i64),
    /// `loyalty.expiring_30d OP N` (points expiring within 30 days)
    LoyaltyExpiring(Op, i64),
    /// `consent.PURPOSE OP BOOL` (`=`, `!=`): whether consent for the purpose holds now
    /// (never asked, pending confirmation and withdrawn are `false`)
    Consent(Op, crate::privacy::ConsentPurpose, bool),
}

/// A parsed filter expression over terms `T`: the language is the same for every resource,
/// the fields differ (customers' [`Term`]; tickets' in [`crate::support::filter`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Expr<T> {
    /// Matches everything (the empty filter).
    #[default]
    All,
    /// Every part matches.
    And(Vec<Expr<T>>),
    /// Some part matches.
    Or(Vec<Expr<T>>),
    /// The part does not match.
    Not(Box<Expr<T>>),
    /// A comparison.
    Term(T),
}

/// One comparison on its way to a term: the checks every resource's fields share.
#[derive(Clone, Copy, Debug)]
pub struct Comparison<'a> {
    /// The field, as written.
    pub field: &'a str,
    /// The operator.
    pub op: Op,
    /// The value, unquoted.
    pub value: &'a str,
    /// Where the field starts in the filter text.
    pub field_at: usize,
    /// Where the value starts.
    pub value_at: usize,
}

impl Comparison<'_> {
    /// The value does not fit the field.
    pub fn bad_value(&self, msg: &str) -> FilterError {
        FilterError {
            position: self.value_at,
            message: format!("{}: {msg}", self.field),
        }
    }

    /// The operator does not fit the field.
    pub fn bad_op(&self) -> FilterError {
        FilterError {
            position: self.field_at,
            message: format!("{} does not support `{}`", self.field, self.op.symbol()),
        }
    }

    /// The operator, if it is `=` or `!=`.
    pub fn equality(&self) -> Result<Op, FilterError> {
        if matches!(self.op, Op::Eq | Op::Ne) {
            Ok(self.op)
        } else {
            Err(self.bad_op())
        }
    }

    /// The operator, if it compares (not `:`).
    pub fn ordered(&self) -> Result<Op, FilterError> {
        if self.op == Op::Has {
            Err(self.bad_op())
        } else {
            Ok(self.op)
        }
    }

    /// The value as an RFC 3339 time.
    pub fn time(&self) -> Result<chrono::DateTime<chrono::Utc>, FilterError> {
        chrono::DateTime::parse_from_rfc3339(self.value)
            .map(|t| t.to_utc())
            .map_err(|_| self.bad_value("expected an RFC 3339 time like 2026-12-07T12:30:00+03:00"))
    }

    /// The field is not one of `resource`'s.
    pub fn unknown(&self, resource: &str) -> FilterError {
        FilterError {
            position: self.field_at,
            message: format!("{:?} is not a filterable {resource} field", self.field),
        }
    }
}

/// Turns a field, an operator and a value (with their byte positions) into a term.
pub type MakeTerm<'a, T> = &'a dyn Fn(&str, Op, &str, usize, usize) -> Result<T, FilterError>;

impl<T> Expr<T> {
    /// Parses filter text whose comparisons `make` turns into terms; blank text is
    /// [`Expr::All`].
    pub fn parse_with(text: &str, make: MakeTerm<'_, T>) -> Result<Expr<T>, FilterError> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(FilterError {
                position: MAX_FILTER_BYTES,
                message: format!("a filter is at most {MAX_FILTER_BYTES} bytes"),
            });
        }
        let tokens = lex::lex(text)?;
        if tokens.is_empty() {
            return Ok(Expr::All);
        }
        let mut p = lex::Parser {
            tokens,
            pos: 0,
            end: text.len(),
            depth: 0,
            make,
        };
        let filter = p.or()?;
        match p.tokens.get(p.pos) {
            None => Ok(filter),
            Some(t) => Err(FilterError {
                position: t.at,
                message: format!("unexpected {}", t.kind.describe()),
            }),
        }
    }

    /// Whether the expression holds, each term judged by `holds`.
    pub fn eval_with(&self, holds: &dyn Fn(&T) -> bool) -> bool {
        match self {
            Expr::All => true,
            Expr::And(parts) => parts.iter().all(|f| f.eval_with(holds)),
            Expr::Or(parts) => parts.iter().any(|f| f.eval_with(holds)),
            Expr::Not(f) => !f.eval_with(holds),
            Expr::Term(t) => holds(t),
        }
    }

    /// Whether some term satisfies `pred`.
    pub fn any_term(&self, pred: &dyn Fn(&T) -> bool) -> bool {
        match self {
            Expr::All => false,
            Expr::And(parts) | Expr::Or(parts) => parts.iter().any(|f| f.any_term(pred)),
            Expr::Not(f) => f.any_term(pred),
            Expr::Term(t) => pred(t),
        }
    }

    /// The terms at the top level (joined by `AND`) that `pick` keeps: any one of them
    /// narrows the matches to a superset of the expression's.
    pub fn top_terms<U>(&self, pick: &dyn Fn(&T) -> Option<U>) -> Vec<U> {
        let top: Vec<&Expr<T>> = match self {
            Expr::And(parts) => parts.iter().collect(),
            other => vec![other],
        };
        top.into_iter()
            .filter_map(|f| match f {
                Expr::Term(t) => pick(t),
                _ => None,
            })
            .collect()
    }
}

/// A parsed customer filter.
pub type Filter = Expr<Term>;

/// An equality a secondary index can answer: the store reads only the customers it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexedTerm {
    /// `lifecycle_stage = X`
    Stage(LifecycleStage),
    /// `kind = X`
    Kind(CustomerKind),
    /// `tags:"x"`
    Tag(String),
    /// `owner = "x"`
    Owner(String),
    /// `organization_id = "x"`
    Organization(CustomerId),
    /// `address.country = "X"`
    Country(String),
    /// `relationship_status = X`: served by an index of derived values, kept current as time
    /// passes (see the store's design notes).
    Status(RelationshipStatus),
    /// `lead_temperature = X`: likewise.
    Temperature(Temperature),
    /// `loyalty.tier = "X"`: served by the loyalty members' tier index, brought to the
    /// query's instant first.
    LoyaltyTier(String),
}

fn text_matches(op: Op, have: Option<&str>, want: &str) -> bool {
    op.holds(have.unwrap_or("").cmp(want))
}

impl Filter {
    /// Parses a filter; blank text is [`Filter::All`].
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        Expr::parse_with(text, &term::term)
    }

    /// Whether a customer matches. A term on a derived field (status, temperature, score) does
    /// not hold without an [`Insight`]: use [`Filter::matches_insight`] when
    /// [`Filter::uses_insight`].
    pub fn matches(&self, c: &Customer) -> bool {
        self.eval(c, None)
    }

    /// Whether a customer, with what is derived about it now, matches.
    pub fn matches_insight(&self, c: &Customer, insight: &Insight) -> bool {
        self.eval(c, Some(insight))
    }

    fn eval(&self, c: &Customer, insight: Option<&Insight>) -> bool {
        self.eval_with(&|t| t.eval(c, insight))
    }

    /// Whether some term is an `rfm_group`, so the insight needs the portfolio's distribution.
    pub fn uses_rfm(&self) -> bool {
        self.any_term(&|t| matches!(t, Term::RfmGroup(..)))
    }

    /// Whether some term is on a derived field, so matching needs an [`Insight`].
    pub fn uses_insight(&self) -> bool {
        self.any_term(&|t| {
            matches!(
                t,
                Term::Status(..)
                    | Term::Temperature(..)
                    | Term::LeadScore(..)
                    | Term::PurchaseCount(..)
                    | Term::Age(..)
                    | Term::Clv(..)
                    | Term::RfmGroup(..)
                    | Term::NpsCategory(..)
                    | Term::LastNps(..)
                    | Term::LastCsat(..)
                    | Term::ReviewCount(..)
                    | Term::LoyaltyTier(..)
                    | Term::LoyaltyPoints(..)
                    | Term::LoyaltyExpiring(..)
            )
        })
    }

    /// Whether some term is on loyalty, so the insight needs the customer's standing.
    pub fn uses_loyalty(&self) -> bool {
        self.any_term(&|t| {
            matches!(
                t,
                Term::LoyaltyTier(..) | Term::LoyaltyPoints(..) | Term::LoyaltyExpiring(..)
            )
        })
    }

    /// The filter as a conjunction of indexed equalities, if that is all it is (`All` is the
    /// empty conjunction): then the number of matches can be counted from the indexes alone.
    pub fn as_indexed_conjunction(&self) -> Option<Vec<IndexedTerm>> {
        let top: Vec<&Filter> = match self {
            Filter::All => return Some(Vec::new()),
            Filter::And(parts) => parts.iter().collect(),
            other => vec![other],
        };
        let terms = Filter::And(top.iter().map(|f| (*f).clone()).collect()).indexed_terms();
        (terms.len() == top.len()).then_some(terms)
    }

    /// The equalities at the top level of the filter (joined by `AND`) that an index can answer.
    /// Any one of them, read from its index, yields a superset of the matching customers.
    pub fn indexed_terms(&self) -> Vec<IndexedTerm> {
        self.top_terms(&|t| match t {
            Term::Stage(Op::Eq, s) => Some(IndexedTerm::Stage(*s)),
            Term::Kind(Op::Eq, k) => Some(IndexedTerm::Kind(*k)),
            Term::Tag(t) => Some(IndexedTerm::Tag(t.clone())),
            Term::Owner(Op::Eq, o) => Some(IndexedTerm::Owner(o.clone())),
            Term::Organization(Op::Eq, id) => Some(IndexedTerm::Organization(*id)),
            Term::Country(Op::Eq, c) => Some(IndexedTerm::Country(c.clone())),
            Term::Status(Op::Eq, s) => Some(IndexedTerm::Status(*s)),
            Term::Temperature(Op::Eq, t) => Some(IndexedTerm::Temperature(*t)),
            Term::LoyaltyTier(Op::Eq, t) => Some(IndexedTerm::LoyaltyTier(t.clone())),
            _ => None,
        })
    }
}

impl Term {
    /// Whether a customer satisfies this comparison (a derived term needs the insight).
    fn eval(&self, c: &Customer, insight: Option<&Insight>) -> bool {
        let d = &c.data;
        match self {
            Term::Status(op, s) => insight.is_some_and(|i| op.holds(i.status.cmp(s))),
            Term::Temperature(op, t) => {
                insight.is_some_and(|i| op.holds(i.lead.temperature.cmp(t)))
            }
            Term::LeadScore(op, n) => insight.is_some_and(|i| op.holds(i.lead.score.cmp(n))),
            Term::PurchaseCount(op, n) => {
                insight.is_some_and(|i| op.holds(i.summary.purchase_count.cmp(n)))
            }
            Term::NpsCategory(op, c) => insight
                .and_then(|i| i.summary.feedback.nps_category())
                .is_some_and(|have| op.holds(have.cmp(c))),
            Term::LastNps(op, n) => insight
                .and_then(|i| i.summary.feedback.last_nps)
                .is_some_and(|l| op.holds(u32::from(l.score).cmp(n))),
            Term::LastCsat(op, n) => insight
                .and_then(|i| i.summary.feedback.last_csat)
                .is_some_and(|l| op.holds(u32::from(l.score).cmp(n))),
            Term::ReviewCount(op, n) => {
                insight.is_some_and(|i| op.holds(i.summary.feedback.reviews.count.cmp(n)))
            }
            Term::LoyaltyTier(op, name) => insight
                .and_then(|i| i.loyalty.as_ref())
                .is_some_and(|l| op.holds(l.tier.as_str().cmp(name.as_str()))),
            Term::LoyaltyPoints(op, n) => insight
                .and_then(|i| i.loyalty.as_ref())
                .is_some_and(|l| op.holds(l.points.cmp(n))),
            Term::LoyaltyExpiring(op, n) => insight
                .and_then(|i| i.loyalty.as_ref())
                .is_some_and(|l| op.holds(l.expiring_30d.cmp(n))),
            Term::Age(op, n) => insight
                .and_then(|i| i.age)
                .is_some_and(|a| op.holds(a.cmp(n))),
            Term::Clv(op, currency, n) => insight
                .and_then(|i| i.value.iter().find(|v| v.currency == *currency))
                .is_some_and(|v| op.holds(v.clv_minor.cmp(n))),
            Term::RfmGroup(op, g) => insight
                .and_then(|i| i.rfm_group)
                .is_some_and(|have| op.holds(have.cmp(g))),
            Term::Consent(op, purpose, want) => op.holds(d.consent.is_granted(*purpose).cmp(want)),
            Term::EmployeeCount(op, n) => match &d.party {
                crate::customer::Party::Organization(o) => {
                    o.employee_count.is_some_and(|have| op.holds(have.cmp(n)))
                }
                crate::customer::Party::Person(_) => false,
            },
            Term::Attribute(op, key, v) => {
                text_matches(*op, d.attributes.get(key).map(String::as_str), v)
            }
            Term::Stage(op, s) => op.holds(d.lifecycle_stage.cmp(s)),
            Term::Kind(op, k) => op.holds(c.kind().cmp(k)),
            Term::Tag(t) => d.tags.iter().any(|x| x == t),
            Term::Email(e) => d.emails.iter().any(|x| &x.address == e),
            Term::Owner(op, v) => text_matches(*op, d.owner.as_deref(), v),
            Term::Source(op, v) => text_matches(*op, d.source.as_deref(), v),
            Term::ExternalId(op, v) => text_matches(*op, d.external_id.as_deref(), v),
            Term::DisplayName(op, v) => text_matches(*op, Some(&d.display_name), v),
            Term::Country(op, v) => {
                text_matches(*op, d.address.as_ref().map(|a| a.country.as_str()), v)
            }
            Term::Organization(op, id) => match d.organization_id {
                Some(have) => op.holds(have.cmp(id)),
                None => *op == Op::Ne,
            },
            Term::CreateTime(op, t) => op.holds(c.create_time.cmp(t)),
            Term::UpdateTime(op, t) => op.holds(c.update_time.cmp(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Filter {
        Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_the_documented_examples() {
        let f = parse(r#"lifecycle_stage = "LOYALTY" AND tags:"VIP" AND NOT address.country = de"#);
        assert_eq!(
            f,
            Filter::And(vec![
                Filter::Term(Term::Stage(Op::Eq, LifecycleStage::Loyalty)),
                Filter::Term(Term::Tag("vip".into())),
                Filter::Not(Box::new(Filter::Term(Term::Country(Op::Eq, "DE".into())))),
            ])
        );
        assert_eq!(
            f.indexed_terms(),
            vec![
                IndexedTerm::Stage(LifecycleStage::Loyalty),
                IndexedTerm::Tag("vip".into())
            ]
        );
        assert_eq!(f.as_indexed_conjunction(), None);
        assert_eq!(
            parse(r#"kind = PERSON AND lifecycle_stage = LOYALTY"#).as_indexed_conjunction(),
            Some(vec![
                IndexedTerm::Kind(CustomerKind::Person),
                IndexedTerm::Stage(LifecycleStage::Loyalty)
            ])
        );
        assert_eq!(Filter::All.as_indexed_conjunction(), Some(vec![]));
        let g = parse(
            r#"(owner = "zeynep" OR owner = 'mehmet') AND create_time >= "2026-01-01T00:00:00Z""#,
        );
        assert!(matches!(g, Filter::And(ref p) if matches!(p[0], Filter::Or(_))));
        // A date is its first instant, in UTC.
        assert_eq!(
            parse(r#"create_time >= "2026-01-01""#),
            parse(r#"create_time >= "2026-01-01T00:00:00Z""#)
        );
        assert_eq!(parse("   "), Filter::All);
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            ("lifecycle_stage = ", 18),
            ("nickname = \"x\"", 0),
            ("kind = ROBOT", 7),
            ("tags = vip", 0),
            ("owner = a AND", 13),
            ("(owner = a", 10),
            ("owner = \"a", 8),
            ("owner = a b", 10),
            ("owner == a", 6),
        ];
        for (text, at) in cases {
            let err = Filter::parse(text)
                .err()
                .unwrap_or_else(|| panic!("{text} parsed"));
            assert_eq!(err.position, at, "{text}: {err}");
        }
        let deep = format!("{}owner = a{}", "(".repeat(100), ")".repeat(100));
        assert!(Filter::parse(&deep).is_err());
    }

    #[test]
    fn nested_and_derived_fields() {
        use crate::customer::{CustomerData, Organization, Party, Person};
        use crate::relationship::{Insight, RelationshipRules};
        use crate::scoring::ScoringModel;
        use crate::summary::Summary;
        let now = DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        let customer = |party: Party| {
            let mut data = CustomerData::new(party);
            data.attributes.insert("plan".into(), "gold".into());
            Customer {
                erased: None,
                id: CustomerId(1),
                create_time: now,
                update_time: now,
                version: 1,
                data,
            }
        };
        let org = customer(Party::Organization(Organization {
            legal_name: "Acme".into(),
            employee_count: Some(120),
            ..Organization::default()
        }));
        let ada = customer(Party::Person(Person {
            given_name: "Ada".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1990, 11, 26),
            ..Person::default()
        }));
        let summary = Summary {
            purchase_count: 3,
            ..Summary::default()
        };
        let rules = RelationshipRules::default();
        let model = ScoringModel::default();
        let insight = |c: &Customer| {
            Insight::derive(c, summary.clone(), &model, &rules, &Default::default(), now)
        };
        let holds = |text: &str, c: &Customer| parse(text).matches_insight(c, &insight(c));

        assert!(holds("organization.employee_count > 50", &org));
        assert!(!holds("organization.employee_count > 50", &ada));
        assert!(holds(
            r#"attributes.plan = "gold" AND summary.purchase_count >= 3"#,
            &org
        ));
        assert!(!holds("summary.purchase_count > 3", &org));
        // Born 1990-11-26: still 35 on 2026-11-25.
        assert!(holds("age = 35", &ada));
        assert!(!holds("age >= 30", &org), "an organization has no age");
        assert!(parse("age > 30").uses_insight());
        assert!(!parse("organization.employee_count > 3").uses_insight());
        for bad in [
            "age:3",
            "attributes.Plan = x",
            "organization.employee_count > many",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }
}
