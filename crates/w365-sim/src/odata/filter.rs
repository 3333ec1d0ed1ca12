//! `$filter`: the syntax tree and its parser (recursive descent over the winnow tokenizer).
//!
//! Grammar (OData 4.01 precedence, lowest first):
//! ```text
//! or      := and ("or" and)*
//! and     := cmp ("and" cmp)*
//! cmp     := unary (("eq"|"ne"|"gt"|"ge"|"lt"|"le") unary | "in" "(" literal ("," literal)* ")")*
//! unary   := "not" unary | primary
//! primary := "(" or ")" | literal | function "(" args ")" | path
//! path    := segment ("/" segment)* ["/" "$count" | "/" ("any"|"all") "(" [var ":" or] ")"]
//! ```
//! Keywords and function names are case-insensitive (Graph's docs write both `startsWith` and
//! `startswith`, `NOT` and `not`). As in OData, `not` binds tighter than comparisons: write
//! `not(a eq b)`.

use time::OffsetDateTime;

use super::error::ODataError;
use super::lexer::{LexError, Lexer, Tok};

/// Nesting limit (parentheses, `not`, lambdas, chained comparisons): deep input is rejected, never
/// a stack overflow.
const MAX_DEPTH: usize = 100;

/// A parsed `$filter` expression. Parse once with [`Filter::parse`], then call
/// [`Filter::matches`] for every candidate object.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub(crate) expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Const(bool),
    /// A bare Boolean property (`accountEnabled`): true only when it holds `true`.
    Truthy(Operand),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Compare {
        op: CmpOp,
        left: Operand,
        right: Operand,
    },
    In {
        operand: Operand,
        values: Vec<Literal>,
    },
    Call {
        func: StrFunc,
        subject: Operand,
        arg: Operand,
    },
    Lambda {
        kind: LambdaKind,
        collection: Path,
        /// `None` only for `any()` (true when the collection is not empty).
        body: Option<Box<Expr>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Lit(Literal),
    Path(Path),
    /// `collection/$count`.
    Count(Path),
    /// A Boolean sub-expression used as a value (`(a eq b) eq true`, `not x eq false`).
    Bool(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path {
    pub(crate) root: Root,
    pub(crate) segments: Vec<Box<str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    /// The object being filtered (`$it`).
    It,
    /// A lambda range variable; 0 is the innermost.
    Var(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    Guid(Box<str>),
    DateTime(OffsetDateTime),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrFunc {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LambdaKind {
    Any,
    All,
}

impl Filter {
    /// Parses a (percent-decoded) `$filter` value.
    pub fn parse(text: &str) -> Result<Filter, ODataError> {
        let mut p = Parser {
            src: text,
            lexer: Lexer::new(text),
            peeked: None,
            depth: 0,
            vars: Vec::new(),
        };
        let node = p.parse_or()?;
        let (tok, at) = p.peek()?;
        if *tok != Tok::Eof {
            let at = *at;
            return Err(p.syntax(at));
        }
        let expr = p.to_bool(node).map_err(|_| ODataError::InvalidFilter {
            // Graph's wording (error sample in its docs), e.g. for `$filter='x'`.
            detail: "The $filter expression must evaluate to a single boolean value.".to_owned(),
            position: 0,
        })?;
        Ok(Filter { expr })
    }

    /// The operators of this filter that Graph allows on directory objects only in advanced queries
    /// (`ConsistencyLevel: eventual` and `$count=true`): `ne`, `not`, `endsWith` and `$count` (a
    /// collection count such as `assignedLicenses/$count eq 0`). Each at most once, in order of
    /// appearance, named as Graph names them in its error message.
    pub fn advanced_features(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        walk(&self.expr, &mut |e| match e {
            Visit::Expr(Expr::Not(_)) => push_unique(&mut out, "not"),
            Visit::Expr(Expr::Compare { op: CmpOp::Ne, .. }) => push_unique(&mut out, "ne"),
            Visit::Expr(Expr::Call {
                func: StrFunc::EndsWith,
                ..
            }) => push_unique(&mut out, "endsWith"),
            Visit::Operand(Operand::Count(_)) => push_unique(&mut out, "$count"),
            _ => {}
        });
        out
    }

    /// The property paths this filter reads, relative to the filtered object, in order of
    /// appearance and without duplicates: `displayName`, `assignedLicenses` (for a lambda or a
    /// `/$count`) and `assignedLicenses/skuId` (a property of a lambda's range variable).
    pub fn referenced_properties(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut scopes: Vec<String> = Vec::new();
        collect_properties(&self.expr, &mut scopes, &mut out);
        out
    }
}

fn push_unique(out: &mut Vec<&'static str>, s: &'static str) {
    if !out.contains(&s) {
        out.push(s);
    }
}

enum Visit<'e> {
    Expr(&'e Expr),
    Operand(&'e Operand),
}

fn walk<'e>(e: &'e Expr, f: &mut impl FnMut(Visit<'e>)) {
    f(Visit::Expr(e));
    match e {
        Expr::Const(_) => {}
        Expr::Truthy(o) => walk_operand(o, f),
        Expr::Not(inner) => walk(inner, f),
        Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| walk(i, f)),
        Expr::Compare { left, right, .. } => {
            walk_operand(left, f);
            walk_operand(right, f);
        }
        Expr::In { operand, .. } => walk_operand(operand, f),
        Expr::Call { subject, arg, .. } => {
            walk_operand(subject, f);
            walk_operand(arg, f);
        }
        Expr::Lambda { body, .. } => {
            if let Some(b) = body {
                walk(b, f);
            }
        }
    }
}

fn walk_operand<'e>(o: &'e Operand, f: &mut impl FnMut(Visit<'e>)) {
    f(Visit::Operand(o));
    if let Operand::Bool(e) = o {
        walk(e, f);
    }
}

fn path_string(p: &Path, scopes: &[String]) -> Option<String> {
    let base = match p.root {
        Root::It => None,
        Root::Var(d) => scopes.len().checked_sub(d + 1).map(|i| scopes[i].clone()),
    };
    let rel = p.segments.join("/");
    match (base, rel.is_empty()) {
        (None, true) => None,
        (None, false) => Some(rel),
        (Some(b), true) => Some(b),
        (Some(b), false) => Some(format!("{b}/{rel}")),
    }
}

fn add_path(p: &Path, scopes: &[String], out: &mut Vec<String>) {
    if let Some(s) = path_string(p, scopes)
        && !out.contains(&s)
    {
        out.push(s);
    }
}

fn collect_properties(e: &Expr, scopes: &mut Vec<String>, out: &mut Vec<String>) {
    let operand = |o: &Operand, scopes: &mut Vec<String>, out: &mut Vec<String>| match o {
        Operand::Path(p) | Operand::Count(p) => add_path(p, scopes, out),
        Operand::Bool(e) => collect_properties(e, scopes, out),
        Operand::Lit(_) => {}
    };
    match e {
        Expr::Const(_) => {}
        Expr::Truthy(o) => operand(o, scopes, out),
        Expr::Not(inner) => collect_properties(inner, scopes, out),
        Expr::And(items) | Expr::Or(items) => {
            for i in items {
                collect_properties(i, scopes, out);
            }
        }
        Expr::Compare { left, right, .. } => {
            operand(left, scopes, out);
            operand(right, scopes, out);
        }
        Expr::In { operand: o, .. } => operand(o, scopes, out),
        Expr::Call { subject, arg, .. } => {
            operand(subject, scopes, out);
            operand(arg, scopes, out);
        }
        Expr::Lambda {
            collection, body, ..
        } => {
            add_path(collection, scopes, out);
            if let Some(b) = body {
                scopes.push(path_string(collection, scopes).unwrap_or_default());
                collect_properties(b, scopes, out);
                scopes.pop();
            }
        }
    }
}

/// A parsed piece: a Boolean expression or a value, with its byte offset.
struct Node {
    kind: NodeKind,
    at: usize,
}

enum NodeKind {
    Bool(Expr),
    Val(Operand),
}

struct Parser<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    peeked: Option<(Tok<'a>, usize)>,
    depth: usize,
    /// Lambda range variables in scope, innermost last.
    vars: Vec<&'a str>,
}

fn cmp_op(word: &str) -> Option<CmpOp> {
    const OPS: [(&str, CmpOp); 6] = [
        ("eq", CmpOp::Eq),
        ("ne", CmpOp::Ne),
        ("gt", CmpOp::Gt),
        ("ge", CmpOp::Ge),
        ("lt", CmpOp::Lt),
        ("le", CmpOp::Le),
    ];
    OPS.iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(word))
        .map(|(_, op)| *op)
}

impl<'a> Parser<'a> {
    // ---- errors --------------------------------------------------------------------------

    fn char_pos(&self, byte: usize) -> usize {
        let byte = byte.min(self.src.len());
        self.src
            .get(..byte)
            .map_or(byte, |prefix| prefix.chars().count())
    }

    fn error(&self, byte: usize, detail: String) -> ODataError {
        ODataError::InvalidFilter {
            detail,
            position: self.char_pos(byte),
        }
    }

    fn at_msg(&self, what: &str, byte: usize) -> ODataError {
        let p = self.char_pos(byte);
        self.error(byte, format!("{what} at position {p} in '{}'.", self.src))
    }

    fn syntax(&self, byte: usize) -> ODataError {
        self.at_msg("Syntax error", byte)
    }

    fn expression_expected(&self, byte: usize) -> ODataError {
        self.at_msg("Expression expected", byte)
    }

    fn lex_error(&self, e: LexError) -> ODataError {
        match e {
            LexError::InvalidChar { at, ch } => {
                let p = self.char_pos(at);
                self.error(
                    at,
                    format!(
                        "Syntax error: character '{ch}' is not valid at position {p} in '{}'.",
                        self.src
                    ),
                )
            }
            LexError::Unterminated { at } => {
                self.at_msg("There is an unterminated string literal", at)
            }
            LexError::InvalidDateTime { at, text } => self.error(
                at,
                format!(
                    "The DateTimeOffset text '{text}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range."
                ),
            ),
            LexError::InvalidNumber { at, .. } => self.syntax(at),
        }
    }

    fn too_deep(&self, byte: usize) -> ODataError {
        self.error(byte, "Recursion depth exceeded allowed limit.".to_owned())
    }

    // ---- tokens --------------------------------------------------------------------------

    fn peek(&mut self) -> Result<&(Tok<'a>, usize), ODataError> {
        if self.peeked.is_none() {
            let t = self.lexer.next_token().map_err(|e| self.lex_error(e))?;
            self.peeked = Some(t);
        }
        Ok(self.peeked.as_ref().expect("peeked was just filled"))
    }

    fn bump(&mut self) -> Result<(Tok<'a>, usize), ODataError> {
        self.peek()?;
        Ok(self.peeked.take().expect("peeked was just filled"))
    }

    fn peek_is(&mut self, want: &Tok<'_>) -> Result<bool, ODataError> {
        Ok(&self.peek()?.0 == want)
    }

    /// The identifier at the cursor, if the next token is one.
    fn peek_word(&mut self) -> Result<Option<&'a str>, ODataError> {
        Ok(match self.peek()?.0 {
            Tok::Ident(w) => Some(w),
            _ => None,
        })
    }

    fn eat_word(&mut self, word: &str) -> Result<bool, ODataError> {
        if self
            .peek_word()?
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
        {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn enter(&mut self, at: usize) -> Result<(), ODataError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.too_deep(at));
        }
        Ok(())
    }

    // ---- conversions ---------------------------------------------------------------------

    fn to_bool(&self, node: Node) -> Result<Expr, ODataError> {
        match node.kind {
            NodeKind::Bool(e) => Ok(e),
            NodeKind::Val(Operand::Path(p)) => Ok(Expr::Truthy(Operand::Path(p))),
            NodeKind::Val(Operand::Lit(Literal::Bool(b))) => Ok(Expr::Const(b)),
            NodeKind::Val(Operand::Bool(e)) => Ok(*e),
            NodeKind::Val(_) => {
                let p = self.char_pos(node.at);
                Err(self.error(
                    node.at,
                    format!(
                        "The expression at position {p} in '{}' is not a Boolean expression.",
                        self.src
                    ),
                ))
            }
        }
    }

    fn to_operand(node: Node) -> Operand {
        match node.kind {
            NodeKind::Val(o) => o,
            NodeKind::Bool(e) => Operand::Bool(Box::new(e)),
        }
    }

    // ---- grammar -------------------------------------------------------------------------

    fn parse_or(&mut self) -> Result<Node, ODataError> {
        let first = self.parse_and()?;
        if !self.eat_word("or")? {
            return Ok(first);
        }
        let at = first.at;
        let mut items = vec![self.to_bool(first)?];
        loop {
            let next = self.parse_and()?;
            items.push(self.to_bool(next)?);
            if !self.eat_word("or")? {
                break;
            }
        }
        Ok(Node {
            kind: NodeKind::Bool(Expr::Or(items)),
            at,
        })
    }

    fn parse_and(&mut self) -> Result<Node, ODataError> {
        let first = self.parse_cmp()?;
        if !self.eat_word("and")? {
            return Ok(first);
        }
        let at = first.at;
        let mut items = vec![self.to_bool(first)?];
        loop {
            let next = self.parse_cmp()?;
            items.push(self.to_bool(next)?);
            if !self.eat_word("and")? {
                break;
            }
        }
        Ok(Node {
            kind: NodeKind::Bool(Expr::And(items)),
            at,
        })
    }

    fn parse_cmp(&mut self) -> Result<Node, ODataError> {
        let mut left = self.parse_unary()?;
        let depth_before = self.depth;
        let result = loop {
            let Some(word) = self.peek_word()? else {
                break Ok(left);
            };
            let at = left.at;
            if let Some(op) = cmp_op(word) {
                let (_, op_at) = self.bump()?;
                let right = self.parse_unary()?;
                self.enter(op_at)?;
                left = Node {
                    kind: NodeKind::Bool(Expr::Compare {
                        op,
                        left: Self::to_operand(left),
                        right: Self::to_operand(right),
                    }),
                    at,
                };
            } else if word.eq_ignore_ascii_case("in") {
                let (_, in_at) = self.bump()?;
                self.enter(in_at)?;
                let values = self.parse_in_list()?;
                left = Node {
                    kind: NodeKind::Bool(Expr::In {
                        operand: Self::to_operand(left),
                        values,
                    }),
                    at,
                };
            } else {
                break Ok(left);
            }
        };
        self.depth = depth_before;
        result
    }

    fn parse_in_list(&mut self) -> Result<Vec<Literal>, ODataError> {
        let (tok, at) = self.bump()?;
        if tok != Tok::LParen {
            return Err(self.at_msg("'(' expected", at));
        }
        let mut values = Vec::new();
        loop {
            let (tok, at) = self.bump()?;
            let lit = match tok {
                Tok::Ident(w) => keyword_literal(w),
                other => token_literal(other),
            };
            let Some(lit) = lit else {
                return Err(self.at_msg("Literal value expected", at));
            };
            values.push(lit);
            let (tok, at) = self.bump()?;
            match tok {
                Tok::Comma => continue,
                Tok::RParen => return Ok(values),
                _ => return Err(self.at_msg("')' or ',' expected", at)),
            }
        }
    }

    fn parse_unary(&mut self) -> Result<Node, ODataError> {
        let at = self.peek()?.1;
        self.enter(at)?;
        let node = if self.eat_word("not")? {
            let inner = self.parse_unary()?;
            Node {
                kind: NodeKind::Bool(Expr::Not(Box::new(self.to_bool(inner)?))),
                at,
            }
        } else {
            self.parse_primary()?
        };
        self.depth -= 1;
        Ok(node)
    }

    fn parse_primary(&mut self) -> Result<Node, ODataError> {
        let (tok, at) = self.bump()?;
        let val = |o| {
            Ok(Node {
                kind: NodeKind::Val(o),
                at,
            })
        };
        match tok {
            Tok::LParen => {
                let inner = self.parse_or()?;
                let (tok, close_at) = self.bump()?;
                if tok != Tok::RParen {
                    return Err(self.at_msg("')' or operator expected", close_at));
                }
                Ok(Node {
                    kind: inner.kind,
                    at,
                })
            }
            Tok::Ident(word) => {
                if let Some(lit) = keyword_literal(word) {
                    return val(Operand::Lit(lit));
                }
                if self.peek_is(&Tok::LParen)? {
                    return self.parse_call(word, at);
                }
                self.parse_path(word, at)
            }
            Tok::Eof | Tok::RParen | Tok::Comma | Tok::Colon | Tok::Slash => {
                Err(self.expression_expected(at))
            }
            other => match token_literal(other) {
                Some(lit) => val(Operand::Lit(lit)),
                None => Err(self.expression_expected(at)),
            },
        }
    }

    fn parse_call(&mut self, name: &'a str, at: usize) -> Result<Node, ODataError> {
        let func = if name.eq_ignore_ascii_case("startswith") {
            StrFunc::StartsWith
        } else if name.eq_ignore_ascii_case("endswith") {
            StrFunc::EndsWith
        } else if name.eq_ignore_ascii_case("contains") {
            StrFunc::Contains
        } else {
            return Err(self.error(
                at,
                format!(
                    "An unknown function with name '{name}' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed."
                ),
            ));
        };
        self.bump()?; // (
        let mut args = Vec::new();
        if !self.peek_is(&Tok::RParen)? {
            loop {
                let arg = self.parse_or()?;
                args.push(Self::to_operand(arg));
                let (tok, sep_at) = self.bump()?;
                match tok {
                    Tok::Comma => continue,
                    Tok::RParen => break,
                    _ => return Err(self.at_msg("')' or ',' expected", sep_at)),
                }
            }
        } else {
            self.bump()?;
        }
        let mut args = args.into_iter();
        match (args.next(), args.next(), args.next()) {
            (Some(subject), Some(arg), None) => Ok(Node {
                kind: NodeKind::Bool(Expr::Call { func, subject, arg }),
                at,
            }),
            _ => {
                let lower = name.to_ascii_lowercase();
                Err(self.error(
                    at,
                    format!(
                        "No function signature for the function with name '{lower}' matches the specified arguments. The function signatures considered are: {lower}(Edm.String Nullable=true, Edm.String Nullable=true)."
                    ),
                ))
            }
        }
    }

    fn check_segment(&self, seg: &str, at: usize) -> Result<(), ODataError> {
        if seg.starts_with('$') {
            return Err(self.syntax(at));
        }
        if seg.contains('.') {
            let p = self.char_pos(at);
            return Err(self.error(
                at,
                format!(
                    "Type casts in $filter paths are not supported by the simulator (position {p} in '{}').",
                    self.src
                ),
            ));
        }
        Ok(())
    }

    fn parse_path(&mut self, first: &'a str, at: usize) -> Result<Node, ODataError> {
        let mut path = if first.eq_ignore_ascii_case("$it") {
            Path {
                root: Root::It,
                segments: Vec::new(),
            }
        } else if let Some(d) = self.vars.iter().rev().position(|v| *v == first) {
            Path {
                root: Root::Var(d),
                segments: Vec::new(),
            }
        } else {
            self.check_segment(first, at)?;
            Path {
                root: Root::It,
                segments: vec![first.into()],
            }
        };
        while self.peek_is(&Tok::Slash)? {
            self.bump()?;
            let (tok, seg_at) = self.bump()?;
            let Tok::Ident(seg) = tok else {
                return Err(self.syntax(seg_at));
            };
            if seg.eq_ignore_ascii_case("$count") {
                return Ok(Node {
                    kind: NodeKind::Val(Operand::Count(path)),
                    at,
                });
            }
            let lambda = if seg.eq_ignore_ascii_case("any") {
                Some(LambdaKind::Any)
            } else if seg.eq_ignore_ascii_case("all") {
                Some(LambdaKind::All)
            } else {
                None
            };
            if let Some(kind) = lambda
                && self.peek_is(&Tok::LParen)?
            {
                return self.parse_lambda(kind, path, at);
            }
            self.check_segment(seg, seg_at)?;
            path.segments.push(seg.into());
        }
        Ok(Node {
            kind: NodeKind::Val(Operand::Path(path)),
            at,
        })
    }

    fn parse_lambda(
        &mut self,
        kind: LambdaKind,
        collection: Path,
        at: usize,
    ) -> Result<Node, ODataError> {
        let (_, open_at) = self.bump()?; // (
        self.enter(open_at)?;
        let (tok, var_at) = self.bump()?;
        let body = match tok {
            Tok::RParen if kind == LambdaKind::Any => None,
            Tok::Ident(var) if !var.starts_with('$') && !var.contains('.') => {
                if self.vars.contains(&var) {
                    return Err(self.error(
                        var_at,
                        format!("The range variable '{var}' has already been declared."),
                    ));
                }
                let (tok, colon_at) = self.bump()?;
                if tok != Tok::Colon {
                    return Err(self.at_msg("':' expected", colon_at));
                }
                self.vars.push(var);
                let body = self.parse_or();
                self.vars.pop();
                let body = self.to_bool(body?)?;
                let (tok, close_at) = self.bump()?;
                if tok != Tok::RParen {
                    return Err(self.at_msg("')' or operator expected", close_at));
                }
                Some(Box::new(body))
            }
            _ => return Err(self.expression_expected(var_at)),
        };
        self.depth -= 1;
        Ok(Node {
            kind: NodeKind::Bool(Expr::Lambda {
                kind,
                collection,
                body,
            }),
            at,
        })
    }
}

fn keyword_literal(word: &str) -> Option<Literal> {
    if word.eq_ignore_ascii_case("null") {
        Some(Literal::Null)
    } else if word.eq_ignore_ascii_case("true") {
        Some(Literal::Bool(true))
    } else if word.eq_ignore_ascii_case("false") {
        Some(Literal::Bool(false))
    } else {
        None
    }
}

fn token_literal(tok: Tok<'_>) -> Option<Literal> {
    Some(match tok {
        Tok::Str(s) => Literal::Str(s.into_owned().into_boxed_str()),
        Tok::Int(i) => Literal::Int(i),
        Tok::Float(f) => Literal::Float(f),
        Tok::Guid(g) => Literal::Guid(g.into()),
        Tok::DateTime(d) => Literal::DateTime(d),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Expr {
        match Filter::parse(s) {
            Ok(f) => f.expr,
            Err(e) => panic!("{s:?} should parse: {}", e.message()),
        }
    }

    fn err(s: &str) -> (String, usize) {
        match Filter::parse(s) {
            Ok(f) => panic!("{s:?} should not parse, got {f:?}"),
            Err(e) => {
                assert_eq!(e.graph_code(), "BadRequest");
                let ODataError::InvalidFilter { position, .. } = &e else {
                    panic!("wrong variant {e:?}")
                };
                (e.message(), *position)
            }
        }
    }

    fn prop(name: &str) -> Operand {
        Operand::Path(Path {
            root: Root::It,
            segments: name.split('/').map(Into::into).collect(),
        })
    }

    fn var(depth: usize, segs: &[&str]) -> Operand {
        Operand::Path(Path {
            root: Root::Var(depth),
            segments: segs.iter().map(|s| (*s).into()).collect(),
        })
    }

    fn s(v: &str) -> Operand {
        Operand::Lit(Literal::Str(v.into()))
    }

    fn cmp(op: CmpOp, left: Operand, right: Operand) -> Expr {
        Expr::Compare { op, left, right }
    }

    #[test]
    fn simple_comparisons() {
        assert_eq!(
            parse("userPrincipalName eq 'alice@contoso.com'"),
            cmp(CmpOp::Eq, prop("userPrincipalName"), s("alice@contoso.com"))
        );
        for (word, op) in [
            ("ne", CmpOp::Ne),
            ("GT", CmpOp::Gt),
            ("ge", CmpOp::Ge),
            ("Lt", CmpOp::Lt),
            ("le", CmpOp::Le),
        ] {
            assert_eq!(
                parse(&format!("a {word} 1")),
                cmp(op, prop("a"), Operand::Lit(Literal::Int(1)))
            );
        }
        assert_eq!(
            parse("accountEnabled eq false"),
            cmp(
                CmpOp::Eq,
                prop("accountEnabled"),
                Operand::Lit(Literal::Bool(false))
            )
        );
        assert_eq!(
            parse("mail eq null"),
            cmp(CmpOp::Eq, prop("mail"), Operand::Lit(Literal::Null))
        );
        assert_eq!(
            parse("licenseProcessingState/state eq 'ProcessingComplete'"),
            cmp(
                CmpOp::Eq,
                prop("licenseProcessingState/state"),
                s("ProcessingComplete")
            )
        );
    }

    #[test]
    fn quote_escaping() {
        assert_eq!(
            parse("surname eq 'O''Brien'"),
            cmp(CmpOp::Eq, prop("surname"), s("O'Brien"))
        );
        // Graph's docs example: subject eq 'let''s meet for lunch?'
        assert_eq!(
            parse("subject eq 'let''s meet for lunch?'"),
            cmp(CmpOp::Eq, prop("subject"), s("let's meet for lunch?"))
        );
    }

    #[test]
    fn unescaped_quote_is_a_syntax_error() {
        let (msg, pos) = err("userPrincipalName eq 'o'brien@contoso.com'");
        assert_eq!(pos, 24);
        assert_eq!(
            msg,
            "Invalid filter clause: Syntax error at position 24 in 'userPrincipalName eq 'o'brien@contoso.com''."
        );
        let (msg, _) = err("displayName eq 'O'Neil'");
        assert!(
            msg.starts_with("Invalid filter clause: Syntax error at position 18"),
            "{msg}"
        );
    }

    #[test]
    fn precedence_not_over_and_over_or() {
        // a or b and c  ==  a or (b and c)
        let a = cmp(CmpOp::Eq, prop("a"), Operand::Lit(Literal::Int(1)));
        let b = cmp(CmpOp::Eq, prop("b"), Operand::Lit(Literal::Int(2)));
        let c = cmp(CmpOp::Eq, prop("c"), Operand::Lit(Literal::Int(3)));
        assert_eq!(
            parse("a eq 1 or b eq 2 and c eq 3"),
            Expr::Or(vec![a.clone(), Expr::And(vec![b.clone(), c.clone()])])
        );
        assert_eq!(
            parse("a eq 1 and b eq 2 or c eq 3"),
            Expr::Or(vec![Expr::And(vec![a.clone(), b.clone()]), c.clone()])
        );
        assert_eq!(
            parse("(a eq 1 or b eq 2) and c eq 3"),
            Expr::And(vec![Expr::Or(vec![a.clone(), b.clone()]), c.clone()])
        );
        assert_eq!(
            parse("not (a eq 1) and b eq 2"),
            Expr::And(vec![Expr::Not(Box::new(a.clone())), b.clone()])
        );
        assert_eq!(
            parse("NOT(a eq 1 or b eq 2)"),
            Expr::Not(Box::new(Expr::Or(vec![a.clone(), b.clone()])))
        );
        assert_eq!(
            parse("a eq 1 or b eq 2 or c eq 3"),
            Expr::Or(vec![a.clone(), b.clone(), c.clone()])
        );
        assert_eq!(
            parse("not not (a eq 1)"),
            Expr::Not(Box::new(Expr::Not(Box::new(a))))
        );
        // `not` binds tighter than `eq` (OData precedence): (not x) eq false.
        assert_eq!(
            parse("not accountEnabled eq false"),
            cmp(
                CmpOp::Eq,
                Operand::Bool(Box::new(Expr::Not(Box::new(Expr::Truthy(prop(
                    "accountEnabled"
                )))))),
                Operand::Lit(Literal::Bool(false))
            )
        );
    }

    #[test]
    fn functions_case_insensitive() {
        for f in ["startswith", "startsWith", "STARTSWITH"] {
            assert_eq!(
                parse(&format!("{f}(displayName,'W365-')")),
                Expr::Call {
                    func: StrFunc::StartsWith,
                    subject: prop("displayName"),
                    arg: s("W365-")
                }
            );
        }
        assert_eq!(
            parse("endsWith(mail, '@outlook.com')"),
            Expr::Call {
                func: StrFunc::EndsWith,
                subject: prop("mail"),
                arg: s("@outlook.com")
            }
        );
        assert_eq!(
            parse("contains(displayName,'pc')"),
            Expr::Call {
                func: StrFunc::Contains,
                subject: prop("displayName"),
                arg: s("pc")
            }
        );
        assert_eq!(
            parse("NOT startsWith(displayName, 'Conf')"),
            Expr::Not(Box::new(Expr::Call {
                func: StrFunc::StartsWith,
                subject: prop("displayName"),
                arg: s("Conf")
            }))
        );
    }

    #[test]
    fn in_lists() {
        assert_eq!(
            parse("userPrincipalName in ('a@x.com','b@x.com')"),
            Expr::In {
                operand: prop("userPrincipalName"),
                values: vec![
                    Literal::Str("a@x.com".into()),
                    Literal::Str("b@x.com".into())
                ]
            }
        );
        assert_eq!(
            parse("id in (226ca751-f0a4-4232-9be5-73c02a92555e)"),
            Expr::In {
                operand: prop("id"),
                values: vec![Literal::Guid("226ca751-f0a4-4232-9be5-73c02a92555e".into())]
            }
        );
        assert_eq!(
            parse("x IN (1, 2.5, null, true)"),
            Expr::In {
                operand: prop("x"),
                values: vec![
                    Literal::Int(1),
                    Literal::Float(2.5),
                    Literal::Null,
                    Literal::Bool(true)
                ]
            }
        );
    }

    #[test]
    fn lambdas() {
        assert_eq!(
            parse("assignedLicenses/any(x:x/skuId eq 226ca751-f0a4-4232-9be5-73c02a92555e)"),
            Expr::Lambda {
                kind: LambdaKind::Any,
                collection: Path {
                    root: Root::It,
                    segments: vec!["assignedLicenses".into()]
                },
                body: Some(Box::new(cmp(
                    CmpOp::Eq,
                    var(0, &["skuId"]),
                    Operand::Lit(Literal::Guid("226ca751-f0a4-4232-9be5-73c02a92555e".into()))
                )))
            }
        );
        assert_eq!(
            parse("groupTypes/any(c:c eq 'Unified')"),
            Expr::Lambda {
                kind: LambdaKind::Any,
                collection: Path {
                    root: Root::It,
                    segments: vec!["groupTypes".into()]
                },
                body: Some(Box::new(cmp(CmpOp::Eq, var(0, &[]), s("Unified"))))
            }
        );
        assert!(matches!(
            parse("assignedLicenses/All(l: l/disabledPlans/$count eq 0)"),
            Expr::Lambda {
                kind: LambdaKind::All,
                ..
            }
        ));
        assert!(matches!(
            parse("assignedLicenses/any()"),
            Expr::Lambda { body: None, .. }
        ));
        // Nested lambdas resolve variables by depth; outer variables stay visible.
        let Expr::Lambda {
            body: Some(outer), ..
        } = parse("a/any(x: x/b/any(y: y eq x/name and y ne $it/id))")
        else {
            panic!()
        };
        let Expr::Lambda {
            body: Some(inner), ..
        } = *outer
        else {
            panic!()
        };
        assert_eq!(
            *inner,
            Expr::And(vec![
                cmp(CmpOp::Eq, var(0, &[]), var(1, &["name"])),
                cmp(
                    CmpOp::Ne,
                    var(0, &[]),
                    Operand::Path(Path {
                        root: Root::It,
                        segments: vec!["id".into()]
                    })
                )
            ])
        );
    }

    #[test]
    fn count_segments_and_literals() {
        assert_eq!(
            parse("assignedLicenses/$count eq 0"),
            cmp(
                CmpOp::Eq,
                Operand::Count(Path {
                    root: Root::It,
                    segments: vec!["assignedLicenses".into()]
                }),
                Operand::Lit(Literal::Int(0))
            )
        );
        assert!(matches!(
            parse("createdDateTime ge 2021-11-01"),
            Expr::Compare {
                right: Operand::Lit(Literal::DateTime(_)),
                ..
            }
        ));
        assert!(matches!(
            parse("lastModifiedDateTime lt 2025-01-01T10:00:00Z"),
            Expr::Compare {
                right: Operand::Lit(Literal::DateTime(_)),
                ..
            }
        ));
        assert_eq!(
            parse("status eq microsoft.graph.cloudPcStatus'provisioned'"),
            cmp(CmpOp::Eq, prop("status"), s("provisioned"))
        );
        assert_eq!(
            parse("accountEnabled"),
            Expr::Truthy(prop("accountEnabled"))
        );
        assert_eq!(parse("true"), Expr::Const(true));
        assert_eq!(
            parse("(displayName) eq 'x'"),
            cmp(CmpOp::Eq, prop("displayName"), s("x"))
        );
    }

    #[test]
    fn graph_documentation_examples_parse() {
        for f in [
            "startswith(givenName, 'J')",
            "userPrincipalName eq 'alice@contoso.com'",
            "displayName eq 'W365-Provisioning'",
            "startswith(displayName,'W365-')",
            "hasMembersWithLicenseErrors eq true",
            "accountEnabled eq false",
            "accountEnabled ne true",
            "assignedLicenses/$count eq 0",
            "endsWith(mail,'@outlook.com')",
            "startsWith(mobilePhone, '25478') OR startsWith(mobilePhone, '25473')",
            "companyName ne null and NOT(companyName eq 'Microsoft')",
            "NOT startsWith(displayName, 'Conf')",
            "proxyAddresses/any (p:endsWith(p, 'OnMicrosoft.com'))",
            "endsWith(userPrincipalName,'#EXT#@contoso.com')",
            "createdDateTime ge 2021-11-01",
            "userPrincipalName in ('a@x.com','b@x.com')",
            "groupTypes/any(c:c eq 'Unified')",
            "assignedLicenses/any(x:x/skuId eq 226ca751-f0a4-4232-9be5-73c02a92555e)",
            "jobtitle ge '!' and accountenabled eq true",
            "subject eq 'let''s meet for lunch?'",
        ] {
            parse(f);
        }
    }

    #[test]
    fn error_messages_with_positions() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "Expression expected at position 0 in ''."),
            (
                "displayName eq",
                14,
                "Expression expected at position 14 in 'displayName eq'.",
            ),
            (
                "jobtitle ge '!' , accountenabled eq true",
                16,
                "Syntax error at position 16 in 'jobtitle ge '!' , accountenabled eq true'.",
            ),
            (
                "a eq 'abc",
                9,
                "There is an unterminated string literal at position 9 in 'a eq 'abc'.",
            ),
            (
                "(a eq 1",
                7,
                "')' or operator expected at position 7 in '(a eq 1'.",
            ),
            (
                "startswith(a 'x')",
                13,
                "')' or ',' expected at position 13 in 'startswith(a 'x')'.",
            ),
            ("a in 'x'", 5, "'(' expected at position 5 in 'a in 'x''."),
            (
                "a in ('x' 'y')",
                10,
                "')' or ',' expected at position 10 in 'a in ('x' 'y')'.",
            ),
            (
                "a in (b)",
                6,
                "Literal value expected at position 6 in 'a in (b)'.",
            ),
            (
                "a eq #",
                5,
                "Syntax error: character '#' is not valid at position 5 in 'a eq #'.",
            ),
            (
                "a eq 12abc",
                5,
                "Syntax error at position 5 in 'a eq 12abc'.",
            ),
            (
                "a/any(x x eq 1)",
                8,
                "':' expected at position 8 in 'a/any(x x eq 1)'.",
            ),
            (
                "a/all()",
                6,
                "Expression expected at position 6 in 'a/all()'.",
            ),
            (
                "a/any(x:x eq 1",
                14,
                "')' or operator expected at position 14 in 'a/any(x:x eq 1'.",
            ),
            ("a/", 2, "Syntax error at position 2 in 'a/'."),
            (
                "a/$count/b eq 1",
                8,
                "Syntax error at position 8 in 'a/$count/b eq 1'.",
            ),
            ("a eq 1)", 6, "Syntax error at position 6 in 'a eq 1)'."),
            (
                "'x'",
                0,
                "The $filter expression must evaluate to a single boolean value.",
            ),
            (
                "a/$count",
                0,
                "The $filter expression must evaluate to a single boolean value.",
            ),
            (
                "not 'x'",
                4,
                "The expression at position 4 in 'not 'x'' is not a Boolean expression.",
            ),
            (
                "a eq 1 and 5",
                11,
                "The expression at position 11 in 'a eq 1 and 5' is not a Boolean expression.",
            ),
            (
                "é eq 'x' or",
                11,
                "Expression expected at position 11 in 'é eq 'x' or'.",
            ),
        ];
        for (input, pos, detail) in cases {
            let (msg, p) = err(input);
            assert_eq!(
                msg,
                format!("Invalid filter clause: {detail}"),
                "input {input:?}"
            );
            assert_eq!(p, *pos, "input {input:?}");
        }
    }

    #[test]
    fn function_and_lambda_errors() {
        let (msg, pos) = err("tolower(displayName) eq 'x'");
        assert_eq!(pos, 0);
        assert!(
            msg.contains("An unknown function with name 'tolower' was found."),
            "{msg}"
        );
        let (msg, _) = err("startswith(displayName)");
        assert!(
            msg.contains("No function signature for the function with name 'startswith' matches the specified arguments."),
            "{msg}"
        );
        let (msg, _) = err("contains(a, 'b', 'c')");
        assert!(msg.contains("function with name 'contains'"), "{msg}");
        let (msg, _) = err("startswith()");
        assert!(msg.contains("No function signature"), "{msg}");
        let (msg, pos) = err("a/any(x: x/b/any(x: x eq 1))");
        assert_eq!(pos, 17);
        assert!(
            msg.contains("The range variable 'x' has already been declared."),
            "{msg}"
        );
        let (msg, _) = err("members/microsoft.graph.user/any(u: u/id eq 'x')");
        assert!(msg.contains("Type casts"), "{msg}");
        let (msg, _) = err("a eq 2025-13-01");
        assert!(
            msg.contains("The DateTimeOffset text '2025-13-01' should be in format"),
            "{msg}"
        );
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let deep = format!("{}a eq 1{}", "(".repeat(5000), ")".repeat(5000));
        let (msg, _) = err(&deep);
        assert!(
            msg.contains("Recursion depth exceeded allowed limit."),
            "{msg}"
        );
        let nots = format!("{}a", "not ".repeat(5000));
        assert!(err(&nots).0.contains("Recursion depth"));
        let chain = format!("a{}", " eq 1".repeat(5000));
        assert!(err(&chain).0.contains("Recursion depth"));
        let lambdas = (0..200).fold("x eq 1".to_owned(), |acc, i| format!("c/any(v{i}: {acc})"));
        assert!(err(&lambdas).0.contains("Recursion depth"));
        // A long flat chain of `or` is fine (it is not nested).
        let flat = vec!["a eq 1"; 5000].join(" or ");
        assert!(Filter::parse(&flat).is_ok());
        // Moderate nesting is fine.
        let ok = format!("{}a eq 1{}", "(".repeat(40), ")".repeat(40));
        assert!(Filter::parse(&ok).is_ok());
    }

    #[test]
    fn advanced_features_detected() {
        let f = |s: &str| Filter::parse(s).unwrap().advanced_features();
        assert!(f("displayName eq 'x' and startswith(mail,'a')").is_empty());
        assert!(f("userPrincipalName in ('a','b')").is_empty());
        assert!(f("groupTypes/any(c:c eq 'Unified')").is_empty());
        assert_eq!(f("accountEnabled ne true"), vec!["ne"]);
        assert_eq!(f("endsWith(mail,'@outlook.com')"), vec!["endsWith"]);
        assert_eq!(f("assignedLicenses/$count eq 0"), vec!["$count"]);
        assert_eq!(
            f("companyName ne null and NOT(companyName eq 'Microsoft')"),
            vec!["ne", "not"]
        );
        assert_eq!(
            f("proxyAddresses/any(p:endsWith(p, 'OnMicrosoft.com')) or not (a ne 1)"),
            vec!["endsWith", "not", "ne"]
        );
        assert_eq!(f("(a eq 1) eq (b ne 2)"), vec!["ne"]);
    }

    #[test]
    fn referenced_properties_listed() {
        let f = |s: &str| Filter::parse(s).unwrap().referenced_properties();
        assert_eq!(
            f("displayName eq 'x' and startswith(mail,'a') or displayName eq 'y'"),
            vec!["displayName", "mail"]
        );
        assert_eq!(
            f("assignedLicenses/any(x:x/skuId eq 226ca751-f0a4-4232-9be5-73c02a92555e)"),
            vec!["assignedLicenses", "assignedLicenses/skuId"]
        );
        assert_eq!(f("groupTypes/any(c:c eq 'Unified')"), vec!["groupTypes"]);
        assert_eq!(
            f("licenseProcessingState/state eq 'x' and assignedLicenses/$count eq 0"),
            vec!["licenseProcessingState/state", "assignedLicenses"]
        );
        assert!(f("true").is_empty());
    }
}
