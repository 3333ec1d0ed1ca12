//! `$filter` evaluation against JSON objects.
//!
//! Semantics (directory-style): string comparisons ignore case; a missing property is `null`;
//! comparing values of different types (a string with a number, a collection with a string) is
//! false for every operator, including `ne`; `null eq null` is true and `x ne null` is true for any
//! present value; ordering operators are false when either side is `null`. Evaluation borrows from
//! the object and allocates nothing except for `contains` on non-ASCII text.

use std::cmp::Ordering;

use serde_json::Value;
use time::OffsetDateTime;

use super::filter::{CmpOp, Expr, Filter, LambdaKind, Literal, Operand, Path, Root, StrFunc};
use super::lexer::parse_datetime_value;
use super::text;

/// A value seen by the evaluator, borrowed from the object or the filter.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    DateTime(OffsetDateTime),
    /// A collection, an object, or anything else no literal can be compared with.
    Opaque,
}

/// The lambda range variables in scope: a linked list on the stack.
struct Scope<'s, 'v> {
    value: &'v Value,
    parent: Option<&'s Scope<'s, 'v>>,
}

impl Filter {
    /// True when `item` (the full JSON object, camelCase property names) satisfies the filter.
    pub fn matches(&self, item: &Value) -> bool {
        eval(&self.expr, item, None)
    }
}

fn eval<'v>(e: &Expr, root: &'v Value, scope: Option<&Scope<'_, 'v>>) -> bool {
    match e {
        Expr::Const(b) => *b,
        Expr::Truthy(o) => matches!(operand(o, root, scope), Val::Bool(true)),
        Expr::Not(inner) => !eval(inner, root, scope),
        Expr::And(items) => items.iter().all(|i| eval(i, root, scope)),
        Expr::Or(items) => items.iter().any(|i| eval(i, root, scope)),
        Expr::Compare { op, left, right } => {
            compare(*op, operand(left, root, scope), operand(right, root, scope))
        }
        Expr::In { operand: o, values } => {
            let v = operand(o, root, scope);
            values.iter().any(|l| equals(v, literal(l)) == Some(true))
        }
        Expr::Call { func, subject, arg } => {
            let (Val::Str(s), Val::Str(a)) =
                (operand(subject, root, scope), operand(arg, root, scope))
            else {
                return false;
            };
            match func {
                StrFunc::StartsWith => text::starts_with_ci(s, a),
                StrFunc::EndsWith => text::ends_with_ci(s, a),
                StrFunc::Contains => text::contains_ci(s, a),
            }
        }
        Expr::Lambda {
            kind,
            collection,
            body,
        } => {
            let items: &[Value] = match resolve(collection, root, scope) {
                Some(Value::Array(items)) => items,
                None | Some(Value::Null) => &[],
                Some(_) => return false,
            };
            let Some(body) = body else {
                return !items.is_empty();
            };
            let test = |item: &'v Value| {
                let inner = Scope {
                    value: item,
                    parent: scope,
                };
                eval(body, root, Some(&inner))
            };
            match kind {
                LambdaKind::Any => items.iter().any(test),
                LambdaKind::All => items.iter().all(test),
            }
        }
    }
}

fn resolve<'v>(p: &Path, root: &'v Value, scope: Option<&Scope<'_, 'v>>) -> Option<&'v Value> {
    let mut cur = match p.root {
        Root::It => root,
        Root::Var(depth) => {
            let mut s = scope?;
            for _ in 0..depth {
                s = s.parent?;
            }
            s.value
        }
    };
    for seg in &p.segments {
        let Value::Object(map) = cur else {
            return None;
        };
        cur = text::get_ci(map, seg)?.1;
    }
    Some(cur)
}

fn json<'v>(v: Option<&'v Value>) -> Val<'v> {
    match v {
        None | Some(Value::Null) => Val::Null,
        Some(Value::Bool(b)) => Val::Bool(*b),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Val::Int(i),
            None => n.as_f64().map_or(Val::Opaque, Val::Float),
        },
        Some(Value::String(s)) => Val::Str(s),
        Some(Value::Array(_) | Value::Object(_)) => Val::Opaque,
    }
}

fn literal(l: &Literal) -> Val<'_> {
    match l {
        Literal::Null => Val::Null,
        Literal::Bool(b) => Val::Bool(*b),
        Literal::Int(i) => Val::Int(*i),
        Literal::Float(f) => Val::Float(*f),
        Literal::Str(s) | Literal::Guid(s) => Val::Str(s),
        Literal::DateTime(d) => Val::DateTime(*d),
    }
}

fn operand<'a>(o: &'a Operand, root: &'a Value, scope: Option<&Scope<'_, 'a>>) -> Val<'a> {
    match o {
        Operand::Lit(l) => literal(l),
        Operand::Path(p) => json(resolve(p, root, scope)),
        Operand::Count(p) => match resolve(p, root, scope) {
            None | Some(Value::Null) => Val::Int(0),
            Some(Value::Array(a)) => i64::try_from(a.len()).map_or(Val::Opaque, Val::Int),
            Some(_) => Val::Opaque,
        },
        Operand::Bool(e) => Val::Bool(eval(e, root, scope)),
    }
}

/// `Some(equal)`, or `None` when the two values cannot be compared.
fn equals(a: Val<'_>, b: Val<'_>) -> Option<bool> {
    match (a, b) {
        (Val::Null, Val::Null) => Some(true),
        (Val::Null, _) | (_, Val::Null) => Some(false),
        (Val::Bool(x), Val::Bool(y)) => Some(x == y),
        (Val::Str(x), Val::Str(y)) => Some(text::eq_ci(x, y)),
        _ => order(a, b).map(|o| o == Ordering::Equal),
    }
}

/// The order of two comparable, non-null values.
fn order(a: Val<'_>, b: Val<'_>) -> Option<Ordering> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(&y)),
        (Val::Int(x), Val::Float(y)) => (x as f64).partial_cmp(&y),
        (Val::Float(x), Val::Int(y)) => x.partial_cmp(&(y as f64)),
        (Val::Float(x), Val::Float(y)) => x.partial_cmp(&y),
        (Val::Str(x), Val::Str(y)) => Some(text::cmp_ci(x, y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(&y)),
        (Val::DateTime(x), Val::DateTime(y)) => Some(x.cmp(&y)),
        (Val::DateTime(x), Val::Str(s)) => parse_datetime_value(s).map(|y| x.cmp(&y)),
        (Val::Str(s), Val::DateTime(y)) => parse_datetime_value(s).map(|x| x.cmp(&y)),
        _ => None,
    }
}

fn compare(op: CmpOp, a: Val<'_>, b: Val<'_>) -> bool {
    match op {
        CmpOp::Eq => equals(a, b) == Some(true),
        CmpOp::Ne => equals(a, b) == Some(false),
        CmpOp::Gt => order(a, b) == Some(Ordering::Greater),
        CmpOp::Ge => matches!(order(a, b), Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::Lt => order(a, b) == Some(Ordering::Less),
        CmpOp::Le => matches!(order(a, b), Some(Ordering::Less | Ordering::Equal)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn users() -> Vec<Value> {
        vec![
            json!({
                "@odata.type": "#microsoft.graph.user",
                "id": "11111111-1111-1111-1111-111111111111",
                "displayName": "Alice Adams",
                "userPrincipalName": "alice@contoso.com",
                "mail": "Alice@Contoso.com",
                "accountEnabled": true,
                "usageLocation": "US",
                "jobTitle": "Engineer",
                "createdDateTime": "2021-10-15T08:00:00Z",
                "assignedLicenses": [
                    {"skuId": "226ca751-f0a4-4232-9be5-73c02a92555e", "disabledPlans": []}
                ],
                "proxyAddresses": ["SMTP:alice@contoso.com", "smtp:alice@contoso.onmicrosoft.com"],
                "licenseProcessingState": {"state": "ProcessingComplete"},
                "employeeCount": 3
            }),
            json!({
                "id": "22222222-2222-2222-2222-222222222222",
                "displayName": "Bob O'Brien",
                "userPrincipalName": "o'brien@contoso.com",
                "mail": null,
                "accountEnabled": false,
                "jobTitle": "Manager",
                "createdDateTime": "2022-03-01T12:30:00+02:00",
                "assignedLicenses": [],
                "proxyAddresses": [],
                "employeeCount": 2.5
            }),
            json!({
                "id": "33333333-3333-3333-3333-333333333333",
                "displayName": "Émile Zola",
                "userPrincipalName": "emile@contoso.com",
                "mail": "emile@outlook.com",
                "accountEnabled": true,
                "createdDateTime": "not a date",
                "assignedLicenses": [
                    {"skuId": "C7DF2760-2C81-4EF7-B578-5B5392B571DF", "disabledPlans": ["x"]},
                    {"skuId": "226CA751-F0A4-4232-9BE5-73C02A92555E", "disabledPlans": []}
                ],
                "groupTypes": ["Unified", "DynamicMembership"]
            }),
        ]
    }

    /// The display names of the users matching `filter`.
    fn names(filter: &str) -> Vec<String> {
        let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {}", e.message()));
        users()
            .iter()
            .filter(|u| f.matches(u))
            .map(|u| u["displayName"].as_str().unwrap().to_owned())
            .collect()
    }

    const A: &str = "Alice Adams";
    const B: &str = "Bob O'Brien";
    const E: &str = "Émile Zola";

    #[test]
    fn equality_ignores_case_and_handles_quotes() {
        assert_eq!(names("userPrincipalName eq 'ALICE@contoso.com'"), [A]);
        assert_eq!(names("userPrincipalName eq 'o''brien@contoso.com'"), [B]);
        assert_eq!(names("displayName eq 'émile zola'"), [E]);
        assert_eq!(names("mail eq 'alice@contoso.com'"), [A]);
        assert_eq!(names("UserPrincipalName EQ 'alice@contoso.com'"), [A]);
    }

    #[test]
    fn null_and_missing_properties() {
        assert_eq!(names("mail eq null"), [B]);
        assert_eq!(names("mail ne null"), [A, E]);
        assert_eq!(names("usageLocation eq null"), [B, E]);
        assert_eq!(names("nonexistent eq null"), [A, B, E]);
        assert!(names("nonexistent eq 'x'").is_empty());
        assert_eq!(names("nonexistent ne 'x'"), [A, B, E]);
        assert!(names("mail gt null").is_empty());
        assert!(names("jobTitle lt 'z'").contains(&A.to_owned()));
        assert!(!names("jobTitle lt 'z'").contains(&E.to_owned()));
    }

    #[test]
    fn booleans() {
        assert_eq!(names("accountEnabled eq true"), [A, E]);
        assert_eq!(names("accountEnabled eq false"), [B]);
        assert_eq!(names("accountEnabled ne true"), [B]);
        assert_eq!(names("accountEnabled"), [A, E]);
        assert_eq!(names("not accountEnabled"), [B]);
        assert_eq!(names("not accountEnabled eq false"), [A, E]);
        assert_eq!(names("true"), [A, B, E]);
        assert!(names("false").is_empty());
    }

    #[test]
    fn type_mismatches_are_false_for_every_operator() {
        for op in ["eq", "ne", "gt", "ge", "lt", "le"] {
            assert!(
                names(&format!("accountEnabled {op} 'true'")).is_empty(),
                "{op}"
            );
            assert!(names(&format!("displayName {op} 5")).is_empty(), "{op}");
            assert!(
                names(&format!("assignedLicenses {op} 'x'")).is_empty(),
                "{op}"
            );
            // Only Alice has the (object-valued) property; for the others it is null.
            assert!(
                !names(&format!("licenseProcessingState {op} 'x'")).contains(&A.to_owned()),
                "{op}"
            );
        }
        assert!(names("startswith(accountEnabled, 't')").is_empty());
        assert!(names("startswith(displayName, 1)").is_empty());
        assert!(names("displayName/any(c: c eq 'A')").is_empty());
        assert!(names("displayName/all(c: c eq 'A')").is_empty());
    }

    #[test]
    fn numbers() {
        assert_eq!(names("employeeCount eq 3"), [A]);
        assert_eq!(names("employeeCount eq 3.0"), [A]);
        assert_eq!(names("employeeCount gt 2"), [A, B]);
        assert_eq!(names("employeeCount lt 2.75"), [B]);
        assert_eq!(names("employeeCount ge 2.5 and employeeCount le 2.5"), [B]);
        // Émile has no employeeCount: null ne 3 is true.
        assert_eq!(names("employeeCount ne 3"), [B, E]);
    }

    #[test]
    fn string_ordering() {
        assert_eq!(names("jobTitle ge '!' and accountEnabled eq true"), [A]);
        assert_eq!(names("displayName gt 'b'"), [B, E]);
        assert_eq!(names("displayName le 'ALICE ADAMS'"), [A]);
    }

    #[test]
    fn string_functions() {
        assert_eq!(names("startswith(displayName,'al')"), [A]);
        assert_eq!(names("startsWith(displayName, 'ÉM')"), [E]);
        assert_eq!(names("endswith(mail,'@OUTLOOK.com')"), [E]);
        assert_eq!(names("contains(displayName,'o''b')"), [B]);
        assert_eq!(names("contains(displayName,'')"), [A, B, E]);
        assert_eq!(names("NOT startsWith(displayName, 'Al')"), [B, E]);
        // null subject: false, so `not` of it is true
        assert_eq!(names("startswith(mail, 'a')"), [A]);
        assert_eq!(names("not startswith(mail, 'a')"), [B, E]);
    }

    #[test]
    fn in_operator() {
        assert_eq!(
            names("userPrincipalName in ('ALICE@contoso.com','emile@contoso.com','nobody@x')"),
            [A, E]
        );
        assert_eq!(names("mail in (null, 'x')"), [B]);
        assert_eq!(names("employeeCount in (2.5, 7)"), [B]);
        assert_eq!(names("id in (11111111-1111-1111-1111-111111111111)"), [A]);
    }

    #[test]
    fn guids_compare_case_insensitively() {
        assert_eq!(names("id eq 22222222-2222-2222-2222-222222222222"), [B]);
        assert_eq!(
            names("assignedLicenses/any(x:x/skuId eq 226ca751-f0a4-4232-9be5-73c02a92555e)"),
            [A, E]
        );
        assert_eq!(
            names("assignedLicenses/any(x:x/skuId eq c7df2760-2c81-4ef7-b578-5b5392b571df)"),
            [E]
        );
        assert_eq!(
            names("assignedLicenses/any(x:x/skuId eq '226CA751-f0a4-4232-9be5-73c02a92555e')"),
            [A, E]
        );
    }

    #[test]
    fn lambdas_any_all_and_counts() {
        assert_eq!(names("groupTypes/any(c:c eq 'unified')"), [E]);
        assert!(names("groupTypes/any(c:c eq 'Security')").is_empty());
        assert_eq!(names("not groupTypes/any(c:c eq 'Unified')"), [A, B]);
        assert_eq!(names("assignedLicenses/any()"), [A, E]);
        // all() over an empty or missing collection is true
        assert_eq!(names("groupTypes/all(c: c eq 'Unified')"), [A, B]);
        assert_eq!(
            names("assignedLicenses/all(l: l/disabledPlans/$count eq 0)"),
            [A, B]
        );
        assert_eq!(names("assignedLicenses/$count eq 0"), [B]);
        assert_eq!(names("assignedLicenses/$count ne 0"), [A, E]);
        assert_eq!(names("assignedLicenses/$count ge 2"), [E]);
        assert_eq!(names("groupTypes/$count eq 0"), [A, B]);
        assert_eq!(
            names("proxyAddresses/any(p:endsWith(p, 'OnMicrosoft.com'))"),
            [A]
        );
        assert_eq!(
            names(
                "proxyAddresses/any(p: startswith(p, 'smtp:') and contains(p, $it/userPrincipalName))"
            ),
            [A]
        );
        // Nested lambda referring to the outer variable.
        assert_eq!(
            names(
                "assignedLicenses/any(l: l/disabledPlans/any(p: p eq 'x' and l/skuId eq c7df2760-2c81-4ef7-b578-5b5392b571df))"
            ),
            [E]
        );
    }

    #[test]
    fn nested_paths() {
        assert_eq!(
            names("licenseProcessingState/state eq 'processingcomplete'"),
            [A]
        );
        assert_eq!(names("licenseProcessingState/state eq null"), [B, E]);
        assert!(names("displayName/length eq 1").is_empty());
    }

    #[test]
    fn dates() {
        assert_eq!(names("createdDateTime ge 2021-11-01"), [B]);
        assert_eq!(names("createdDateTime lt 2021-11-01T00:00:00Z"), [A]);
        // 12:30+02:00 is 10:30 UTC
        assert_eq!(names("createdDateTime eq 2022-03-01T10:30:00Z"), [B]);
        assert_eq!(names("createdDateTime gt 2022-03-01T10:29:59.5Z"), [B]);
        // An unparsable stored date never matches a date literal.
        assert!(!names("createdDateTime ne 2000-01-01").contains(&E.to_owned()));
    }

    #[test]
    fn precedence_in_evaluation() {
        // or binds looser than and
        assert_eq!(
            names("displayName eq 'Alice Adams' or accountEnabled eq true and mail eq null"),
            [A]
        );
        assert_eq!(
            names("(displayName eq 'Alice Adams' or accountEnabled eq true) and mail ne null"),
            [A, E]
        );
        assert_eq!(
            names("not (accountEnabled eq true and startswith(displayName,'A')) and mail ne null"),
            [E]
        );
        assert_eq!(
            names("companyName ne null and NOT(companyName eq 'Microsoft')"),
            Vec::<String>::new()
        );
        assert_eq!(names("(accountEnabled eq true) eq false"), [B]);
    }

    #[test]
    fn non_object_items_never_panic() {
        let f = Filter::parse("a/b eq 1 or x/any(y: y/z eq 2) or a/$count eq 0").unwrap();
        for v in [
            json!(null),
            json!(1),
            json!("s"),
            json!([1, 2]),
            json!({"a": [1]}),
        ] {
            let _ = f.matches(&v);
        }
        assert!(f.matches(&json!({})));
        assert!(!f.matches(&json!({"a": "s"})));
    }
}

#[cfg(test)]
mod depth_tests {
    use serde_json::json;

    use super::*;

    /// The deepest filters the parser accepts evaluate without exhausting a 2 MiB thread stack
    /// (the size of test and tokio worker threads), in a debug build.
    #[test]
    fn deepest_accepted_filters_evaluate() {
        let run = || {
            let mut deepest = None;
            for depth in (1..200).rev() {
                let text = format!("{}a eq 1{}", "(".repeat(depth), ")".repeat(depth));
                if let Ok(f) = Filter::parse(&text) {
                    deepest = Some((depth, f));
                    break;
                }
            }
            let (depth, f) = deepest.expect("some nesting is accepted");
            assert!(depth >= 90, "only {depth} levels accepted");
            assert!(f.matches(&json!({"a": 1})));

            let mut lambdas = None;
            for depth in (1..120).rev() {
                let text = (0..depth).fold("v0 eq 1".to_owned(), |acc, i| {
                    format!("c/any(v{}: {acc})", depth - i)
                });
                if let Ok(f) = Filter::parse(&text) {
                    lambdas = Some(f);
                    break;
                }
            }
            let f = lambdas.expect("some lambda nesting is accepted");
            let _ = f.matches(&json!({"c": [{"c": [1]}], "v0": 1}));

            let nots = (1..200)
                .rev()
                .find_map(|d| Filter::parse(&format!("{}a", "not ".repeat(d))).ok())
                .expect("some not nesting is accepted");
            let _ = nots.matches(&json!({"a": true}));
        };
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(run)
            .expect("spawn")
            .join()
            .expect("no stack overflow");
    }
}
