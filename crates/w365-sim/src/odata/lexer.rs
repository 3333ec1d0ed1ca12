//! The `$filter` tokenizer, built on winnow. It is lazy (one token at a time, like Microsoft.OData's
//! `ExpressionLexer`), so the first error reported is the one the parser meets first.

use std::borrow::Cow;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use winnow::Parser;
use winnow::ascii::digit1;
use winnow::combinator::{alt, not, opt};
use winnow::token::{one_of, take_while};

type PResult<T> = winnow::Result<T>;

/// One token of a `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok<'a> {
    LParen,
    RParen,
    Comma,
    Colon,
    Slash,
    /// A quoted string with `''` already unescaped (also typed literals like `ns.Type'value'`).
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    /// An unquoted GUID (`8-4-4-4-12` hex digits).
    Guid(&'a str),
    /// An unquoted `Edm.DateTimeOffset` or `Edm.Date` (midnight UTC) literal.
    DateTime(OffsetDateTime),
    /// An identifier or keyword (`displayName`, `eq`, `$count`, `microsoft.graph.user`).
    Ident(&'a str),
    Eof,
}

/// A lexing failure at a byte offset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LexError {
    InvalidChar { at: usize, ch: char },
    Unterminated { at: usize },
    InvalidDateTime { at: usize, text: String },
    InvalidNumber { at: usize, text: String },
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

/// Typed literal prefixes that take a quoted value (`duration'PT1H'`, `binary'..'`). A qualified
/// name (containing a dot) followed by a quote is an enum literal (`microsoft.graph.x'value'`).
fn is_literal_prefix(ident: &str) -> bool {
    ident.contains('.')
        || ident.eq_ignore_ascii_case("duration")
        || ident.eq_ignore_ascii_case("binary")
}

pub(crate) struct Lexer<'a> {
    src: &'a str,
    rest: &'a str,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Self { src, rest: src }
    }

    fn offset(&self) -> usize {
        self.src.len() - self.rest.len()
    }

    /// The next token and its starting byte offset.
    pub(crate) fn next_token(&mut self) -> Result<(Tok<'a>, usize), LexError> {
        self.rest = self.rest.trim_start_matches(|c: char| c.is_whitespace());
        let at = self.offset();
        let Some(c) = self.rest.chars().next() else {
            return Ok((Tok::Eof, at));
        };
        let tok = match c {
            '(' => self.punct(Tok::LParen),
            ')' => self.punct(Tok::RParen),
            ',' => self.punct(Tok::Comma),
            ':' => self.punct(Tok::Colon),
            '/' => self.punct(Tok::Slash),
            '\'' => {
                self.rest = &self.rest[1..];
                Tok::Str(self.string_body()?)
            }
            c if c.is_ascii_hexdigit() || c == '-' => {
                let start = self.rest;
                match guid.parse_next(&mut self.rest) {
                    Ok(g) => Tok::Guid(g),
                    Err(_) => {
                        // A failed winnow parser may have consumed input: rewind.
                        self.rest = start;
                        if c.is_ascii_digit() {
                            self.date_or_number(at)?
                        } else if c == '-' {
                            self.number(at)?
                        } else {
                            self.ident(at)?
                        }
                    }
                }
            }
            c if is_ident_start(c) => self.ident(at)?,
            other => return Err(LexError::InvalidChar { at, ch: other }),
        };
        Ok((tok, at))
    }

    fn punct(&mut self, tok: Tok<'a>) -> Tok<'a> {
        self.rest = &self.rest[1..];
        tok
    }

    /// After the opening quote: text up to the closing quote, `''` standing for one quote.
    fn string_body(&mut self) -> Result<Cow<'a, str>, LexError> {
        let mut owned: Option<String> = None;
        loop {
            let chunk: PResult<&'a str> = take_while(0.., |c| c != '\'').parse_next(&mut self.rest);
            let chunk = chunk.unwrap_or_default();
            if self.rest.is_empty() {
                return Err(LexError::Unterminated { at: self.src.len() });
            }
            self.rest = &self.rest[1..]; // the quote
            if let Some(after) = self.rest.strip_prefix('\'') {
                self.rest = after;
                let s = owned.get_or_insert_with(String::new);
                s.push_str(chunk);
                s.push('\'');
                continue;
            }
            return Ok(match owned {
                Some(mut s) => {
                    s.push_str(chunk);
                    Cow::Owned(s)
                }
                None => Cow::Borrowed(chunk),
            });
        }
    }

    fn ident(&mut self, at: usize) -> Result<Tok<'a>, LexError> {
        let r: PResult<&'a str> = (one_of(is_ident_start), take_while(0.., is_ident_char))
            .take()
            .parse_next(&mut self.rest);
        let Ok(name) = r else {
            let ch = self.rest.chars().next().unwrap_or(' ');
            return Err(LexError::InvalidChar { at, ch });
        };
        if self.rest.starts_with('\'') && is_literal_prefix(name) {
            self.rest = &self.rest[1..];
            return Ok(Tok::Str(self.string_body()?));
        }
        Ok(Tok::Ident(name))
    }

    fn date_or_number(&mut self, at: usize) -> Result<Tok<'a>, LexError> {
        let start = self.rest;
        match datetime.parse_next(&mut self.rest) {
            Ok(Some(dt)) => {
                if self.rest.starts_with(is_ident_char) {
                    let text = &start[..start.len() - self.rest.len()];
                    return Err(LexError::InvalidDateTime {
                        at,
                        text: text.to_owned(),
                    });
                }
                Ok(Tok::DateTime(dt))
            }
            Ok(None) => {
                let text = &start[..start.len() - self.rest.len()];
                Err(LexError::InvalidDateTime {
                    at,
                    text: text.to_owned(),
                })
            }
            Err(_) => {
                self.rest = start;
                self.number(at)
            }
        }
    }

    fn number(&mut self, at: usize) -> Result<Tok<'a>, LexError> {
        let r: PResult<&'a str> = (
            opt('-'),
            digit1,
            opt(('.', digit1)),
            opt((one_of(['e', 'E']), opt(one_of(['+', '-'])), digit1)),
        )
            .take()
            .parse_next(&mut self.rest);
        let Ok(text) = r else {
            return Err(LexError::InvalidChar { at, ch: '-' });
        };
        if self.rest.starts_with(is_ident_char) {
            let end = self
                .rest
                .find(|c: char| !is_ident_char(c))
                .unwrap_or(self.rest.len());
            let whole = &self.src[at..self.offset() + end];
            return Err(LexError::InvalidNumber {
                at,
                text: whole.to_owned(),
            });
        }
        let invalid = || LexError::InvalidNumber {
            at,
            text: text.to_owned(),
        };
        if !text.contains(['.', 'e', 'E'])
            && let Ok(i) = text.parse::<i64>()
        {
            return Ok(Tok::Int(i));
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Tok::Float(f)),
            _ => Err(invalid()),
        }
    }
}

fn hex_run<'a>(n: usize) -> impl Parser<&'a str, &'a str, winnow::error::ContextError> {
    take_while(n..=n, |c: char| c.is_ascii_hexdigit())
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, not followed by an identifier character or `-`.
fn guid<'a>(input: &mut &'a str) -> PResult<&'a str> {
    (
        hex_run(8),
        '-',
        hex_run(4),
        '-',
        hex_run(4),
        '-',
        hex_run(4),
        '-',
        hex_run(12),
        not(one_of(|c: char| is_ident_char(c) || c == '-')),
    )
        .take()
        .parse_next(input)
}

fn fixed_digits<'a>(n: usize) -> impl Parser<&'a str, u32, winnow::error::ContextError> {
    take_while(n..=n, |c: char| c.is_ascii_digit()).map(|s: &str| {
        s.bytes()
            .fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'))
    })
}

/// `yyyy-mm-dd` optionally followed by `Thh:mm[:ss[.fffffff]][Z|±hh:mm]`.
///
/// `Err` when the text does not look like a date at all (so it may be a number); `Ok(None)` when
/// it looks like one but a field is out of range; `Ok(Some(..))` otherwise.
pub(crate) fn datetime(input: &mut &str) -> PResult<Option<OffsetDateTime>> {
    let (year, _, month, _, day) =
        (fixed_digits(4), '-', fixed_digits(2), '-', fixed_digits(2)).parse_next(input)?;
    let time_part = opt((
        one_of(['T', 't']),
        fixed_digits(2),
        ':',
        fixed_digits(2),
        opt((
            ':',
            fixed_digits(2),
            opt(('.', take_while(1.., |c: char| c.is_ascii_digit()))),
        )),
        opt(alt((
            one_of(['Z', 'z']).map(|_| (true, 0u32, 0u32)),
            (one_of(['+', '-']), fixed_digits(2), ':', fixed_digits(2))
                .map(|(sign, h, _, m)| (sign == '+', h, m)),
        ))),
    ))
    .parse_next(input)?;
    Ok(build_datetime(year, month, day, time_part))
}

type TimePart<'a> = (
    char,
    u32,
    char,
    u32,
    Option<(char, u32, Option<(char, &'a str)>)>,
    Option<(bool, u32, u32)>,
);

fn build_datetime(
    year: u32,
    month: u32,
    day: u32,
    time_part: Option<TimePart<'_>>,
) -> Option<OffsetDateTime> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let Some((_, hour, _, minute, seconds, offset)) = time_part else {
        return Some(PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc());
    };
    let (second, nanos) = match seconds {
        None => (0, 0),
        Some((_, s, frac)) => {
            let nanos = match frac {
                None => 0,
                Some((_, digits)) => {
                    // Up to nanosecond precision; further digits are truncated.
                    let mut n: u32 = 0;
                    for (i, b) in digits.bytes().take(9).enumerate() {
                        n += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
                    }
                    n
                }
            };
            (s, nanos)
        }
    };
    let time = Time::from_hms_nano(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
        nanos,
    )
    .ok()?;
    let offset = match offset {
        None => UtcOffset::UTC,
        Some((positive, h, m)) => {
            let (h, m) = (i8::try_from(h).ok()?, i8::try_from(m).ok()?);
            if positive {
                UtcOffset::from_hms(h, m, 0).ok()?
            } else {
                UtcOffset::from_hms(-h, -m, 0).ok()?
            }
        }
    };
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

/// Parses a stored JSON string as a date/time (`2025-01-01T10:00:00Z`, `2025-01-01`), the whole
/// string or nothing.
pub(crate) fn parse_datetime_value(s: &str) -> Option<OffsetDateTime> {
    let mut input = s;
    match datetime(&mut input) {
        Ok(Some(dt)) if input.is_empty() => Some(dt),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn all(src: &str) -> Result<Vec<Tok<'_>>, LexError> {
        let mut lx = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let (t, _) = lx.next_token()?;
            if t == Tok::Eof {
                return Ok(out);
            }
            out.push(t);
        }
    }

    #[test]
    fn punctuation_identifiers_and_keywords() {
        assert_eq!(
            all("startswith(displayName,'W365-')").unwrap(),
            vec![
                Tok::Ident("startswith"),
                Tok::LParen,
                Tok::Ident("displayName"),
                Tok::Comma,
                Tok::Str(Cow::Borrowed("W365-")),
                Tok::RParen
            ]
        );
        assert_eq!(
            all("assignedLicenses/$count eq 0").unwrap(),
            vec![
                Tok::Ident("assignedLicenses"),
                Tok::Slash,
                Tok::Ident("$count"),
                Tok::Ident("eq"),
                Tok::Int(0)
            ]
        );
        assert_eq!(
            all("x:x").unwrap(),
            vec![Tok::Ident("x"), Tok::Colon, Tok::Ident("x")]
        );
    }

    #[test]
    fn strings_unescape_doubled_quotes() {
        assert_eq!(all("'o''brien'").unwrap(), vec![Tok::Str("o'brien".into())]);
        assert_eq!(all("''''").unwrap(), vec![Tok::Str("'".into())]);
        assert_eq!(all("''").unwrap(), vec![Tok::Str("".into())]);
        assert_eq!(all("'a,b (c)'").unwrap(), vec![Tok::Str("a,b (c)".into())]);
        assert_eq!(
            all("'it''s ''x'''").unwrap(),
            vec![Tok::Str("it's 'x'".into())]
        );
        assert_eq!(all("'abc"), Err(LexError::Unterminated { at: 4 }));
        assert_eq!(all("'ab''"), Err(LexError::Unterminated { at: 5 }));
        assert_eq!(
            all("microsoft.graph.cloudPcStatus'provisioned'").unwrap(),
            vec![Tok::Str("provisioned".into())]
        );
        // A keyword directly followed by a quote is still a keyword.
        assert_eq!(
            all("eq'x'").unwrap(),
            vec![Tok::Ident("eq"), Tok::Str("x".into())]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(
            all("0 42 -7").unwrap(),
            vec![Tok::Int(0), Tok::Int(42), Tok::Int(-7)]
        );
        assert_eq!(
            all("1.5 -0.25 1e3").unwrap(),
            vec![Tok::Float(1.5), Tok::Float(-0.25), Tok::Float(1000.0)]
        );
        assert_eq!(all("99999999999999999999").unwrap(), vec![Tok::Float(1e20)]);
        assert!(matches!(
            all("12abc"),
            Err(LexError::InvalidNumber { at: 0, .. })
        ));
        assert_eq!(all("-"), Err(LexError::InvalidChar { at: 0, ch: '-' }));
        assert!(matches!(all("1e999"), Err(LexError::InvalidNumber { .. })));
    }

    #[test]
    fn guids_in_any_case() {
        assert_eq!(
            all("226ca751-f0a4-4232-9be5-73c02a92555e").unwrap(),
            vec![Tok::Guid("226ca751-f0a4-4232-9be5-73c02a92555e")]
        );
        assert_eq!(
            all("C7DF2760-2C81-4EF7-B578-5B5392B571DF)").unwrap(),
            vec![
                Tok::Guid("C7DF2760-2C81-4EF7-B578-5B5392B571DF"),
                Tok::RParen
            ]
        );
        // One digit short is not a GUID: it lexes as something else (and fails to be a number).
        assert!(all("226ca751-f0a4-4232-9be5-73c02a92555").is_err());
        // Starting with letters but not a GUID: an identifier.
        assert_eq!(all("abc").unwrap(), vec![Tok::Ident("abc")]);
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            all("2021-11-01").unwrap(),
            vec![Tok::DateTime(datetime!(2021-11-01 0:00 UTC))]
        );
        assert_eq!(
            all("2025-01-01T10:00:00Z").unwrap(),
            vec![Tok::DateTime(datetime!(2025-01-01 10:00 UTC))]
        );
        assert_eq!(
            all("2025-01-01T10:00:00.1234567+02:00").unwrap(),
            vec![Tok::DateTime(datetime!(2025-01-01 10:00:00.1234567 +2))]
        );
        assert_eq!(
            all("2025-01-01T10:00-05:30").unwrap(),
            vec![Tok::DateTime(datetime!(2025-01-01 10:00 -5:30))]
        );
        assert!(matches!(
            all("2025-13-01"),
            Err(LexError::InvalidDateTime { .. })
        ));
        assert!(matches!(
            all("2025-02-30T00:00:00Z"),
            Err(LexError::InvalidDateTime { .. })
        ));
        assert!(matches!(
            all("2025-01-01T25:00:00Z"),
            Err(LexError::InvalidDateTime { .. })
        ));
        assert!(matches!(
            all("2025-01-01x"),
            Err(LexError::InvalidDateTime { .. })
        ));
    }

    #[test]
    fn stored_datetime_values() {
        assert_eq!(
            parse_datetime_value("2025-01-01T10:00:00Z"),
            Some(datetime!(2025-01-01 10:00 UTC))
        );
        assert_eq!(
            parse_datetime_value("2025-01-01"),
            Some(datetime!(2025-01-01 0:00 UTC))
        );
        assert_eq!(parse_datetime_value("2025-01-01T10:00:00Z trailing"), None);
        assert_eq!(parse_datetime_value("alice"), None);
    }

    #[test]
    fn invalid_characters() {
        assert_eq!(all("a eq #"), Err(LexError::InvalidChar { at: 5, ch: '#' }));
        assert_eq!(all("a & b"), Err(LexError::InvalidChar { at: 2, ch: '&' }));
    }
}
