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
//! | `create_time`, `update_time` | all comparisons | an RFC 3339 time |
//! | `relationship_status` | `=` `!=` | `PROSPECT`, `NEW`, `ACTIVE`, `LOYAL`, `AT_RISK`, `CHURNED` |
//! | `lead_temperature` | all comparisons (`COLD < WARM < HOT`) | a temperature |
//! | `lead_score` | all comparisons | 0..=100 |
//!
//! The last three are derived when read (see [`crate::relationship`]): a filter that uses them
//! is evaluated with [`Filter::matches_insight`].
//!
//! Terms combine with `AND`, `OR`, `NOT` (or `-`) and parentheses; `AND` binds tighter than `OR`.
//! Values are quoted strings (`"..."`, with `\"` and `\\`) or bare words. A syntax error names its
//! byte position; an unknown field or a bad value names the field.

use chrono::{DateTime, Utc};

use crate::customer::{Customer, CustomerId, CustomerKind};
use crate::lifecycle::LifecycleStage;
use crate::normalize::{normalize_email, normalize_tag};
use crate::relationship::{Insight, RelationshipStatus};
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
    fn holds(self, ord: std::cmp::Ordering) -> bool {
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
}

/// A parsed filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Filter {
    /// Matches everything (the empty filter).
    #[default]
    All,
    /// Every part matches.
    And(Vec<Filter>),
    /// Some part matches.
    Or(Vec<Filter>),
    /// The part does not match.
    Not(Box<Filter>),
    /// A comparison.
    Term(Term),
}

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
}

fn text_matches(op: Op, have: Option<&str>, want: &str) -> bool {
    op.holds(have.unwrap_or("").cmp(want))
}

impl Filter {
    /// Parses a filter; blank text is [`Filter::All`].
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(FilterError {
                position: MAX_FILTER_BYTES,
                message: format!("a filter is at most {MAX_FILTER_BYTES} bytes"),
            });
        }
        let tokens = lex(text)?;
        if tokens.is_empty() {
            return Ok(Filter::All);
        }
        let mut p = Parser {
            tokens,
            pos: 0,
            end: text.len(),
            depth: 0,
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
        match self {
            Filter::All => true,
            Filter::And(parts) => parts.iter().all(|f| f.eval(c, insight)),
            Filter::Or(parts) => parts.iter().any(|f| f.eval(c, insight)),
            Filter::Not(f) => !f.eval(c, insight),
            Filter::Term(t) => t.eval(c, insight),
        }
    }

    /// Whether some term is on a derived field, so matching needs an [`Insight`].
    pub fn uses_insight(&self) -> bool {
        match self {
            Filter::All => false,
            Filter::And(parts) | Filter::Or(parts) => parts.iter().any(Filter::uses_insight),
            Filter::Not(f) => f.uses_insight(),
            Filter::Term(t) => matches!(
                t,
                Term::Status(..) | Term::Temperature(..) | Term::LeadScore(..)
            ),
        }
    }

    /// The equalities at the top level of the filter (joined by `AND`) that an index can answer.
    /// Any one of them, read from its index, yields a superset of the matching customers.
    pub fn indexed_terms(&self) -> Vec<IndexedTerm> {
        let top: Vec<&Filter> = match self {
            Filter::And(parts) => parts.iter().collect(),
            other => vec![other],
        };
        top.into_iter()
            .filter_map(|f| match f {
                Filter::Term(Term::Stage(Op::Eq, s)) => Some(IndexedTerm::Stage(*s)),
                Filter::Term(Term::Kind(Op::Eq, k)) => Some(IndexedTerm::Kind(*k)),
                Filter::Term(Term::Tag(t)) => Some(IndexedTerm::Tag(t.clone())),
                Filter::Term(Term::Owner(Op::Eq, o)) => Some(IndexedTerm::Owner(o.clone())),
                Filter::Term(Term::Organization(Op::Eq, id)) => {
                    Some(IndexedTerm::Organization(*id))
                }
                Filter::Term(Term::Country(Op::Eq, c)) => Some(IndexedTerm::Country(c.clone())),
                _ => None,
            })
            .collect()
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

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(Op),
    Open,
    Close,
    Minus,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("{w:?}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Op(op) => format!("operator {op:?}"),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Minus => "-".into(),
        }
    }
}

struct Token {
    kind: Tok,
    at: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        let kind = match c {
            c if c.is_whitespace() => {
                chars.next();
                continue;
            }
            '(' | ')' | ':' | '-' => {
                chars.next();
                match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    ':' => Tok::Op(Op::Has),
                    _ => Tok::Minus,
                }
            }
            '=' | '!' | '<' | '>' => {
                chars.next();
                let eq = chars.next_if(|&(_, n)| n == '=').is_some();
                match (c, eq) {
                    ('=', false) => Tok::Op(Op::Eq),
                    ('!', true) => Tok::Op(Op::Ne),
                    ('<', false) => Tok::Op(Op::Lt),
                    ('<', true) => Tok::Op(Op::Le),
                    ('>', false) => Tok::Op(Op::Gt),
                    ('>', true) => Tok::Op(Op::Ge),
                    _ => {
                        return Err(FilterError {
                            position: at,
                            message: "unknown operator".into(),
                        });
                    }
                }
            }
            '"' | '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(FilterError {
                                position: at,
                                message: "unterminated string".into(),
                            });
                        }
                        Some((_, q)) if q == c => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, e)) => s.push(e),
                            None => {
                                return Err(FilterError {
                                    position: at,
                                    message: "unterminated string".into(),
                                });
                            }
                        },
                        Some((_, other)) => s.push(other),
                    }
                }
                Tok::Str(s)
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' => {
                let mut w = String::new();
                while let Some((_, n)) =
                    chars.next_if(|&(_, n)| n.is_alphanumeric() || "_.+@".contains(n))
                {
                    w.push(n);
                }
                Tok::Word(w)
            }
            other => {
                return Err(FilterError {
                    position: at,
                    message: format!("unexpected character {other:?}"),
                });
            }
        };
        out.push(Token { kind, at });
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token { kind: Tok::Word(w), .. }) if w == word)
    }

    fn here(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.at)
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, FilterError> {
        Err(FilterError {
            position: self.here(),
            message: message.into(),
        })
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut parts = vec![self.and()?];
        while self.peek_word("OR") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut parts = vec![self.unary()?];
        while self.peek_word("AND") {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail("the filter is nested too deeply");
        }
        let negated = self.peek_word("NOT")
            || matches!(
                self.tokens.get(self.pos),
                Some(Token {
                    kind: Tok::Minus,
                    ..
                })
            );
        let result = if negated {
            self.pos += 1;
            self.unary().map(|f| Filter::Not(Box::new(f)))
        } else if matches!(
            self.tokens.get(self.pos),
            Some(Token {
                kind: Tok::Open,
                ..
            })
        ) {
            self.pos += 1;
            let inner = self.or()?;
            match self.tokens.get(self.pos) {
                Some(Token {
                    kind: Tok::Close, ..
                }) => {
                    self.pos += 1;
                    Ok(inner)
                }
                _ => self.fail("expected )"),
            }
        } else {
            self.comparison()
        };
        self.depth -= 1;
        result
    }

    fn comparison(&mut self) -> Result<Filter, FilterError> {
        let field_at = self.here();
        let field = match self.tokens.get(self.pos) {
            Some(Token {
                kind: Tok::Word(w), ..
            }) if !["AND", "OR", "NOT"].contains(&w.as_str()) => w.clone(),
            Some(t) => {
                return Err(FilterError {
                    position: t.at,
                    message: format!("expected a field name, found {}", t.kind.describe()),
                });
            }
            None => return self.fail("expected a field name, found the end"),
        };
        self.pos += 1;
        let op = match self.tokens.get(self.pos) {
            Some(Token {
                kind: Tok::Op(op), ..
            }) => *op,
            _ => return self.fail(format!("expected an operator after {field}")),
        };
        self.pos += 1;
        let value_at = self.here();
        let value = match self.tokens.get(self.pos) {
            Some(Token {
                kind: Tok::Word(w) | Tok::Str(w),
                ..
            }) => w.clone(),
            _ => return self.fail(format!("expected a value after {field}")),
        };
        self.pos += 1;
        term(&field, op, &value, field_at, value_at).map(Filter::Term)
    }
}

fn term(
    field: &str,
    op: Op,
    value: &str,
    field_at: usize,
    value_at: usize,
) -> Result<Term, FilterError> {
    let bad_value = |msg: String| FilterError {
        position: value_at,
        message: format!("{field}: {msg}"),
    };
    let bad_op = || FilterError {
        position: field_at,
        message: format!("{field} does not support {op:?}"),
    };
    let equality = |op: Op| {
        if matches!(op, Op::Eq | Op::Ne) {
            Ok(op)
        } else {
            Err(bad_op())
        }
    };
    let has = |op: Op| if op == Op::Has { Ok(()) } else { Err(bad_op()) };
    let time = |v: &str| {
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.to_utc())
            .map_err(|_| bad_value("expected an RFC 3339 time like 2026-01-31T00:00:00Z".into()))
    };
    Ok(match field {
        "lifecycle_stage" => {
            if op == Op::Has {
                return Err(bad_op());
            }
            let stage = LifecycleStage::parse(value)
                .ok_or_else(|| bad_value(format!("{value:?} is not a lifecycle stage")))?;
            Term::Stage(op, stage)
        }
        "kind" => {
            let kind = CustomerKind::ALL
                .into_iter()
                .find(|k| k.name().eq_ignore_ascii_case(value))
                .ok_or_else(|| bad_value("expected PERSON or ORGANIZATION".into()))?;
            Term::Kind(equality(op)?, kind)
        }
        "tags" => {
            has(op)?;
            Term::Tag(normalize_tag(value).map_err(|m| bad_value(m.into()))?)
        }
        "emails" => {
            has(op)?;
            Term::Email(normalize_email(value).map_err(|m| bad_value(m.into()))?)
        }
        "owner" => Term::Owner(equality(op)?, value.to_owned()),
        "source" => Term::Source(equality(op)?, value.to_owned()),
        "external_id" => Term::ExternalId(equality(op)?, value.to_owned()),
        "display_name" => Term::DisplayName(equality(op)?, value.to_owned()),
        "address.country" => Term::Country(equality(op)?, value.to_ascii_uppercase()),
        "organization_id" => {
            let id = value
                .parse()
                .map_err(|e: crate::customer::InvalidCustomerId| bad_value(e.to_string()))?;
            Term::Organization(equality(op)?, id)
        }
        "create_time" | "update_time" if op == Op::Has => return Err(bad_op()),
        "create_time" => Term::CreateTime(op, time(value)?),
        "relationship_status" => {
            let status = RelationshipStatus::parse(value).ok_or_else(|| {
                bad_value("expected PROSPECT, NEW, ACTIVE, LOYAL, AT_RISK or CHURNED".into())
            })?;
            Term::Status(equality(op)?, status)
        }
        "lead_temperature" | "lead_score" if op == Op::Has => return Err(bad_op()),
        "lead_temperature" => Term::Temperature(
            op,
            Temperature::parse(value)
                .ok_or_else(|| bad_value("expected COLD, WARM or HOT".into()))?,
        ),
        "lead_score" => Term::LeadScore(
            op,
            value
                .parse()
                .ok()
                .filter(|n| *n <= 100)
                .ok_or_else(|| bad_value("expected a score from 0 to 100".into()))?,
        ),
        "update_time" => Term::UpdateTime(op, time(value)?),
        other => {
            return Err(FilterError {
                position: field_at,
                message: format!("{other:?} is not a filterable field"),
            });
        }
    })
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
        let g = parse(
            r#"(owner = "zeynep" OR owner = 'mehmet') AND create_time >= "2026-01-01T00:00:00Z""#,
        );
        assert!(matches!(g, Filter::And(ref p) if matches!(p[0], Filter::Or(_))));
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
}
