//! `cloudPcNamingTemplate`: parsing, validation (reference §6.5) and rendering of device names.

use super::ids::IdGenerator;

/// The template the service uses when a policy has none (reference §6.5, unverified).
pub const DEFAULT_TEMPLATE: &str = "CPC-%USERNAME:5%-%RAND:5%";

/// Longest name a template may produce (a NetBIOS name).
pub const MAX_NAME_LEN: usize = 15;

/// Fewest `%RAND%` characters a template must ask for.
pub const MIN_RAND: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    UserName(usize),
    Rand(usize),
}

/// A validated naming template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamingTemplate {
    parts: Vec<Part>,
}

impl NamingTemplate {
    /// Parses and validates: tokens `%USERNAME:x%` (x ≥ 1) and exactly one `%RAND:y%` (y ≥ 5),
    /// literal characters `[A-Za-z0-9-]`, and at most 15 characters generated (literal + Σx + Σy).
    /// The error text says which rule was broken.
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = template;
        while let Some(c) = rest.chars().next() {
            if c == '%' {
                let after = &rest[1..];
                let Some(end) = after.find('%') else {
                    return Err(format!(
                        "the naming template '{template}' has an unterminated '%' token"
                    ));
                };
                let token = &after[..end];
                let (name, count) = token.split_once(':').ok_or_else(|| {
                    format!("the naming template token '%{token}%' is not %USERNAME:x% or %RAND:y%")
                })?;
                let n: usize = count.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("the naming template token '%{token}%' needs a positive length")
                })?;
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                if name.eq_ignore_ascii_case("USERNAME") {
                    parts.push(Part::UserName(n));
                } else if name.eq_ignore_ascii_case("RAND") {
                    parts.push(Part::Rand(n));
                } else {
                    return Err(format!(
                        "the naming template token '%{token}%' is not %USERNAME:x% or %RAND:y%"
                    ));
                }
                rest = &after[end + 1..];
            } else {
                if !(c.is_ascii_alphanumeric() || c == '-') {
                    return Err(format!(
                        "the naming template may only contain letters, digits, hyphens and tokens; '{c}' is not allowed"
                    ));
                }
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        let rands: Vec<usize> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Rand(n) => Some(*n),
                _ => None,
            })
            .collect();
        match rands.as_slice() {
            [] => return Err("the naming template must contain a %RAND:y% token".to_owned()),
            [y] if *y < MIN_RAND => {
                return Err(format!(
                    "the %RAND:y% token of the naming template needs y of at least {MIN_RAND}"
                ));
            }
            [_] => {}
            _ => {
                return Err(
                    "the naming template must contain exactly one %RAND:y% token".to_owned(),
                );
            }
        }
        let tpl = Self { parts };
        if tpl.max_len() > MAX_NAME_LEN {
            return Err(format!(
                "the naming template can generate {} characters; the limit is {MAX_NAME_LEN}",
                tpl.max_len()
            ));
        }
        Ok(tpl)
    }

    /// The longest name this template can produce.
    pub fn max_len(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Literal(s) => s.len(),
                Part::UserName(n) | Part::Rand(n) => *n,
            })
            .sum()
    }

    /// A device name for the user: `%USERNAME:x%` is the first x allowed characters of the UPN
    /// prefix (characters outside `[A-Za-z0-9-]` are dropped), `%RAND:y%` y characters `[A-Z0-9]`.
    pub fn render(&self, user_principal_name: &str, ids: &mut IdGenerator) -> String {
        let prefix = user_principal_name.split('@').next().unwrap_or_default();
        let clean: String = prefix
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::UserName(n) => out.extend(clean.chars().take(*n)),
                Part::Rand(n) => out.push_str(&ids.rand_chars(*n)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_examples() {
        for t in [
            "%RAND:5%",
            "ABC-%RAND:5%",
            "CPC-%USERNAME:4%-%RAND:5%",
            DEFAULT_TEMPLATE,
            "a%rand:5%",
        ] {
            NamingTemplate::parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        }
    }

    #[test]
    fn rejects_each_broken_rule() {
        let cases = [
            ("CPC-%USERNAME:5%", "must contain a %RAND"),
            ("%RAND:4%", "at least 5"),
            ("%RAND:5%%RAND:5%", "exactly one"),
            ("CPC-%USERNAME:6%-%RAND:5%", "16 characters"),
            ("CPC_%RAND:5%", "'_' is not allowed"),
            ("CPC %RAND:5%", "' ' is not allowed"),
            ("CPC-%RAND:5", "unterminated"),
            ("%FOO:3%%RAND:5%", "not %USERNAME"),
            ("%USERNAME:0%%RAND:5%", "positive length"),
            ("%RAND%", "not %USERNAME"),
        ];
        for (t, want) in cases {
            let err = NamingTemplate::parse(t).expect_err(t);
            assert!(err.contains(want), "{t}: {err}");
        }
    }

    #[test]
    fn length_is_literal_plus_tokens() {
        let t = NamingTemplate::parse("CPC-%USERNAME:4%-%RAND:5%").unwrap();
        assert_eq!(t.max_len(), 4 + 4 + 1 + 5);
        assert!(NamingTemplate::parse("ABCDEFGHIJ%RAND:5%").is_ok());
        assert!(NamingTemplate::parse("ABCDEFGHIJK%RAND:5%").is_err());
    }

    #[test]
    fn renders_username_prefix_and_random_part() {
        let t = NamingTemplate::parse("CPC-%USERNAME:5%-%RAND:5%").unwrap();
        let mut ids = IdGenerator::new(1);
        let name = t.render("al.ex_w@contoso.com", &mut ids);
        assert!(name.starts_with("CPC-alexw-"), "{name}");
        assert_eq!(name.len(), 15);
        let short = t.render("bo@contoso.com", &mut ids);
        assert!(short.starts_with("CPC-bo-"), "{short}");
        assert_eq!(short.len(), 12);
    }
}
