//! The filter's lexer and recursive-descent parser: text to [`Expr`], with byte positions in
//! every error. Fields and values are turned into terms by the caller's `make`.

use super::{Expr, FilterError, MAX_DEPTH, MakeTerm, Op};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Word(String),
    Str(String),
    Op(Op),
    Open,
    Close,
    Minus,
}

impl Tok {
    pub(super) fn describe(&self) -> String {
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

pub(super) struct Token {
    pub(super) kind: Tok,
    pub(super) at: usize,
}

pub(super) fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
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

pub(super) struct Parser<'a, T> {
    pub(super) tokens: Vec<Token>,
    pub(super) pos: usize,
    pub(super) end: usize,
    pub(super) depth: usize,
    pub(super) make: MakeTerm<'a, T>,
}

impl<T> Parser<'_, T> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token { kind: Tok::Word(w), .. }) if w == word)
    }

    fn here(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.at)
    }

    fn fail<R>(&self, message: impl Into<String>) -> Result<R, FilterError> {
        Err(FilterError {
            position: self.here(),
            message: message.into(),
        })
    }

    pub(super) fn or(&mut self) -> Result<Expr<T>, FilterError> {
        let mut parts = vec![self.and()?];
        while self.peek_word("OR") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr<T>, FilterError> {
        let mut parts = vec![self.unary()?];
        while self.peek_word("AND") {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr<T>, FilterError> {
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
            self.unary().map(|f| Expr::Not(Box::new(f)))
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

    fn comparison(&mut self) -> Result<Expr<T>, FilterError> {
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
        (self.make)(&field, op, &value, field_at, value_at).map(Expr::Term)
    }
}
