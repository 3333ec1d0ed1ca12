//! Validation before anything is sent: each problem says what is wrong and how to fix it.

use std::fmt;

use serde::Serialize;
use w365_graph::models::{DomainJoinType, ImageType, ProvisioningType};

use super::spec::{AssignmentSpec, PolicySpec, UserSettingsSpec};

/// Longest device name a naming template may generate (a NetBIOS name).
pub const MAX_NAME_LEN: usize = 15;
/// Fewest random characters a template must ask for.
pub const MIN_RAND: usize = 5;
/// Largest Frontline allotment per group.
pub const MAX_ALLOTMENT: i32 = 900;

/// Longest input echoed whole in a message; longer ones are shortened by [`clip`].
pub const MAX_ECHO: usize = 60;

/// An input as echoed in a message: whole up to [`MAX_ECHO`] characters, else its start, an
/// ellipsis and its length (a 10,000-character template does not flood the terminal).
pub fn clip(input: &str) -> String {
    let count = input.chars().count();
    if count <= MAX_ECHO {
        return input.to_owned();
    }
    let head: String = input.chars().take(MAX_ECHO - 20).collect();
    format!("{head}… ({count} characters)")
}

/// One thing wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The property (file key), e.g. `cloud_pc_naming_template`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl Problem {
    fn new(field: &str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Problem {
            field: field.to_owned(),
            message: message.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.field, self.message, self.fix)
    }
}

/// Formats problems as the `reason` of a validation error, one per line, prefixed by `what`.
pub fn describe(what: &str, problems: &[Problem]) -> String {
    let mut text = format!(
        "{what}: {} problem{} found, nothing was sent",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        text.push_str(&format!(
            "\n  - {}: {}\n    fix: {}",
            p.field, p.message, p.fix
        ));
    }
    text
}

/// What a naming template generates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateAnalysis {
    /// Literal characters + Σ `%USERNAME:x%` + Σ `%RAND:y%`.
    pub max_len: usize,
    /// The `y` of every `%RAND:y%`.
    pub rands: Vec<usize>,
}

/// Checks a naming template: tokens `%USERNAME:x%` and `%RAND:y%`, exactly one `%RAND:y%` with
/// y ≥ 5, literal characters `A-Z a-z 0-9 -`, at most 15 characters generated.
pub fn check_naming_template(template: &str) -> Result<TemplateAnalysis, Vec<Problem>> {
    const F: &str = "cloud_pc_naming_template";
    let mut problems = Vec::new();
    let mut max_len = 0usize;
    let mut rands = Vec::new();
    let mut rest = template;
    let mut bad_chars: Vec<char> = Vec::new();
    let template_shown = clip(template);
    while let Some(c) = rest.chars().next() {
        if c == '%' {
            let after = &rest[1..];
            let Some(end) = after.find('%') else {
                problems.push(Problem::new(
                    F,
                    format!("'{template_shown}' has a '%' that starts a token but no closing '%'"),
                    "write tokens as %USERNAME:x% or %RAND:y%",
                ));
                break;
            };
            let token = &after[..end];
            let parsed = token.split_once(':').and_then(|(name, n)| {
                n.parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(|n| (name.to_ascii_uppercase(), n))
            });
            match parsed {
                Some((name, n)) if name == "USERNAME" => max_len += n,
                Some((name, n)) if name == "RAND" => {
                    max_len += n;
                    rands.push(n);
                }
                _ => problems.push(Problem::new(
                    F,
                    format!("'%{token}%' is not a known token"),
                    "use %USERNAME:x% (first x characters of the user name) or %RAND:y% (y random characters), with a positive number",
                )),
            }
            rest = &after[end + 1..];
        } else {
            if !(c.is_ascii_alphanumeric() || c == '-' || bad_chars.contains(&c)) {
                bad_chars.push(c);
            }
            max_len += 1;
            rest = &rest[c.len_utf8()..];
        }
    }
    if !bad_chars.is_empty() {
        let list: Vec<String> = bad_chars.iter().map(|c| format!("'{c}'")).collect();
        problems.push(Problem::new(
            F,
            format!("'{template_shown}' contains {} (only letters, digits and hyphens are allowed outside tokens)", list.join(", ")),
            "remove those characters or replace them with hyphens",
        ));
    }
    match rands.as_slice() {
        [] => problems.push(Problem::new(
            F,
            format!("'{template_shown}' has no %RAND:y% token; one is required so that every name is unique"),
            format!("add %RAND:{MIN_RAND}% (y must be at least {MIN_RAND}), e.g. CPC-%USERNAME:4%-%RAND:{MIN_RAND}%"),
        )),
        [y] if *y < MIN_RAND => problems.push(Problem::new(
            F,
            format!("'{template_shown}' has %RAND:{y}%; y must be at least {MIN_RAND}"),
            format!("use %RAND:{MIN_RAND}% or more"),
        )),
        [_] => {}
        _ => problems.push(Problem::new(
            F,
            format!("'{template_shown}' has {} %RAND:y% tokens; exactly one is allowed", rands.len()),
            "keep a single %RAND:y% token",
        )),
    }
    if max_len > MAX_NAME_LEN {
        problems.push(Problem::new(
            F,
            format!(
                "'{template_shown}' can generate {max_len} characters (literal characters + USERNAME + RAND lengths); the limit is {MAX_NAME_LEN}"
            ),
            format!(
                "shorten it by {} character{}: fewer literal characters or a smaller %USERNAME:x%",
                max_len - MAX_NAME_LEN,
                if max_len - MAX_NAME_LEN == 1 { "" } else { "s" }
            ),
        ));
    }
    if problems.is_empty() {
        Ok(TemplateAnalysis { max_len, rands })
    } else {
        Err(problems)
    }
}

/// The characters the portal refuses in a display name.
const FORBIDDEN_NAME_CHARS: &[char] = &['<', '>', '&', '|', '"', '^'];

fn check_display_name(name: &str, problems: &mut Vec<Problem>) {
    if name.trim().is_empty() {
        problems.push(Problem::new(
            "display_name",
            "the display name is missing or empty",
            "set display_name in the file (e.g. display_name = \"W365 Standard\") or pass --display-name",
        ));
        return;
    }
    // Each forbidden character once, in the order they appear.
    let mut bad: Vec<String> = Vec::new();
    for c in name.chars().filter(|c| FORBIDDEN_NAME_CHARS.contains(c)) {
        let shown = format!("'{c}'");
        if !bad.contains(&shown) {
            bad.push(shown);
        }
    }
    if !bad.is_empty() {
        problems.push(Problem::new(
            "display_name",
            format!(
                "'{}' contains {}, which Windows 365 does not allow",
                clip(name),
                bad.join(", ")
            ),
            "remove the characters < > & | \" ^ from the name",
        ));
    }
}

/// Checks a gallery image id `{publisher}_{offer}_{sku}`.
pub fn check_gallery_image_id(image_id: &str) -> Option<Problem> {
    let parts: Vec<&str> = image_id.split('_').collect();
    let allowed = |p: &str| {
        p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
    };
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !allowed(p)) {
        return Some(Problem::new(
            "image_id",
            format!(
                "'{}' is not a gallery image id of the form {{publisher}}_{{offer}}_{{sku}} ({} part{} separated by '_')",
                clip(image_id),
                parts.len(),
                if parts.len() == 1 { "" } else { "s" }
            ),
            "use e.g. microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365, or set image_type = \"custom\" for a custom image",
        ));
    }
    None
}

/// Whether a provisioning type is a Frontline (shared) one.
pub fn is_frontline(t: Option<&ProvisioningType>) -> bool {
    matches!(
        t,
        Some(
            ProvisioningType::Shared
                | ProvisioningType::SharedByUser
                | ProvisioningType::SharedByEntraGroup
        )
    )
}

/// Whether the spec is for creating a new policy (required properties must be there) or
/// updating one (only the given properties are checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
}

/// Checks a provisioning policy spec. `provisioning_type` for Frontline checks on update comes
/// from the existing policy (`existing_type`).
pub fn check_policy(
    spec: &PolicySpec,
    mode: Mode,
    existing_type: Option<&ProvisioningType>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    check_display_name(&spec.display_name, &mut problems);
    if let Some(name) = &spec.image_name {
        // Resolved to image_type/image_id/image_display_name when the plan is made.
        if name.trim().is_empty() {
            problems.push(Problem::new(
                "image_name",
                "image_name must not be empty",
                "name a custom or gallery image (`w365 image list`), or remove the line",
            ));
        }
        if spec.image_id.is_some() {
            problems.push(Problem::new(
                "image_name",
                "image_name and image_id both name the image",
                "keep one of them",
            ));
        }
    }
    if mode == Mode::Create && spec.image_name.is_none() {
        let missing = [
            (
                "image_id",
                spec.image_id.as_deref().is_none_or(|s| s.trim().is_empty()),
                "--image-id or image_id = \"publisher_offer_sku\"",
            ),
            (
                "image_display_name",
                spec.image_display_name
                    .as_deref()
                    .is_none_or(|s| s.trim().is_empty()),
                "--image-display-name or image_display_name = \"Windows 11 Enterprise\"",
            ),
            (
                "image_type",
                spec.image_type.is_none(),
                "--image-type gallery|custom or image_type = \"gallery\"",
            ),
        ];
        for (field, is_missing, how) in missing {
            if is_missing {
                problems.push(Problem::new(
                    field,
                    format!("the required property {field} is missing"),
                    format!("set it with {how}"),
                ));
            }
        }
    } else {
        for (field, value) in [
            ("image_id", spec.image_id.as_deref()),
            ("image_display_name", spec.image_display_name.as_deref()),
        ] {
            if value.is_some_and(|v| v.trim().is_empty()) {
                problems.push(Problem::new(
                    field,
                    format!("{field} must not be empty"),
                    format!("give a value for {field} or leave it out to keep the current one"),
                ));
            }
        }
    }
    if spec.image_type == Some(ImageType::Gallery)
        && let Some(id) = spec.image_id.as_deref().filter(|id| !id.trim().is_empty())
        && let Some(p) = check_gallery_image_id(id)
    {
        problems.push(p);
    }
    if let Some(ImageType::Other(t)) = &spec.image_type {
        problems.push(Problem::new(
            "image_type",
            format!("'{}' is not an image type", clip(t)),
            "use image_type = \"gallery\" or \"custom\"",
        ));
    }
    if let Some(t) = &spec.provisioning_type
        && matches!(
            t,
            ProvisioningType::Other(_) | ProvisioningType::UnknownFutureValue
        )
    {
        problems.push(Problem::new(
            "provisioning_type",
            format!("'{}' is not a provisioning type", clip(&t.to_string())),
            "use dedicated, shared, sharedByUser, sharedByEntraGroup or reserve",
        ));
    }
    if let Some(t) = &spec.cloud_pc_naming_template
        && let Err(mut p) = check_naming_template(t)
    {
        problems.append(&mut p);
    }
    for (i, dj) in spec.domain_join_configurations.iter().flatten().enumerate() {
        let field = format!("domain_join_configurations[{i}]");
        let hybrid = matches!(dj.domain_join_type, Some(DomainJoinType::HybridAzureAdJoin));
        if hybrid
            && dj.network_connection.is_none()
            && dj
                .on_premises_connection_id
                .as_deref()
                .is_none_or(|s| s.trim().is_empty())
        {
            problems.push(Problem::new(
                &field,
                "hybrid Azure AD join (hybridAzureADJoin) needs an Azure network connection, and none is given",
                "set network_connection = \"NAME\" or on_premises_connection_id (or --on-premises-connection-id) to an Azure network connection (`w365 network list`), or use domain_join_type = \"azureADJoin\"",
            ));
        }
        if let Some(DomainJoinType::Other(t)) = &dj.domain_join_type {
            problems.push(Problem::new(
                &field,
                format!("'{}' is not a domain join type", clip(t)),
                "use azureADJoin or hybridAzureADJoin",
            ));
        }
    }
    if spec
        .domain_join_configurations
        .as_ref()
        .is_some_and(Vec::is_empty)
    {
        problems.push(Problem::new(
            "domain_join_configurations",
            "the list of domain join configurations is empty",
            "add one [[domain_join_configurations]] entry, or leave the key out to keep the current ones",
        ));
    }
    let frontline = is_frontline(spec.provisioning_type.as_ref().or(existing_type));
    check_assignments(&spec.assignments, frontline, &mut problems);
    problems
}

/// Checks the assignments of a policy: no group twice; Frontline targets carry a service plan and
/// an allotment count in 0..=900; dedicated ones carry neither.
pub fn check_assignments(
    assignments: &[AssignmentSpec],
    frontline: bool,
    problems: &mut Vec<Problem>,
) {
    for (i, a) in assignments.iter().enumerate() {
        let field = format!("assignments[{i}]");
        if a.group.trim().is_empty() && a.group_id.is_none() {
            problems.push(Problem::new(
                &field,
                "the group is missing",
                "set group = \"<group display name>\"",
            ));
        }
        let dup = assignments[..i]
            .iter()
            .any(|b| match (&a.group_id, &b.group_id) {
                (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
                _ => a.group.eq_ignore_ascii_case(&b.group) && a.group_id == b.group_id,
            });
        if dup {
            problems.push(Problem::new(
                &field,
                format!("the group '{}' is listed twice", clip(&a.group)),
                "keep one entry per group",
            ));
        }
        if frontline {
            if a.service_plan_id.as_deref().is_none_or(str::is_empty) {
                problems.push(Problem::new(
                    &field,
                    format!("a Frontline policy's assignment to '{}' needs a service plan", clip(&a.group)),
                    "set service_plan_id (or --service-plan) to a Frontline service plan id (see `w365 policy show` of a Frontline policy)",
                ));
            }
            match a.allotment_licenses_count {
                None => problems.push(Problem::new(
                    &field,
                    format!("a Frontline policy's assignment to '{}' needs an allotment count", clip(&a.group)),
                    "set allotment_licenses_count (or --allotment-count) to the number of licenses for the group",
                )),
                Some(n) if !(0..=MAX_ALLOTMENT).contains(&n) => problems.push(Problem::new(
                    &field,
                    format!("allotment count {n} is out of range"),
                    format!("use a number from 0 to {MAX_ALLOTMENT}"),
                )),
                Some(_) => {}
            }
        } else if a.service_plan_id.is_some()
            || a.allotment_licenses_count.is_some()
            || a.allotment_display_name.is_some()
        {
            problems.push(Problem::new(
                &field,
                format!("the assignment to '{}' has a service plan or allotment, which only assignments of Frontline (shared) provisioning policies have", clip(&a.group)),
                "remove service_plan_id, allotment_display_name and allotment_licenses_count (or the --service-plan/--allotment-* flags)",
            ));
        }
    }
}

/// Checks a user settings spec.
pub fn check_user_settings(spec: &UserSettingsSpec) -> Vec<Problem> {
    let mut problems = Vec::new();
    check_display_name(&spec.display_name, &mut problems);
    if let Some(rps) = &spec.restore_point_setting
        && let Some(w365_graph::models::RestorePointFrequencyType::Other(f)) = &rps.frequency_type
    {
        problems.push(Problem::new(
            "restore_point_setting.frequency_type",
            format!("'{}' is not a restore point frequency", clip(f)),
            "use default, fourHours, sixHours, twelveHours, sixteenHours or twentyFourHours",
        ));
    }
    if let Some(v) = &spec.cross_region_disaster_recovery_setting
        && !v.is_object()
    {
        problems.push(Problem::new(
            "cross_region_disaster_recovery_setting",
            "must be a table",
            "write it as [cross_region_disaster_recovery_setting] with Graph's property names",
        ));
    }
    check_assignments(&spec.assignments, false, &mut problems);
    problems
}

/// The refusal of a `provisioning_type` change.
pub fn provisioning_type_change(from: &ProvisioningType, to: &ProvisioningType) -> Problem {
    Problem::new(
        "provisioning_type",
        format!(
            "the provisioning type cannot change from {from} to {to}: Graph makes it immutable after a policy is created (it decides the license type of every Cloud PC the policy provisions)"
        ),
        format!(
            "keep provisioning_type = \"{from}\", or create a new policy with provisioning_type = \"{to}\", move the assignments to it, and delete this one"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_inputs_are_clipped_and_forbidden_characters_listed_once() {
        let long = format!("CPC-{}-%RAND:5%", "A".repeat(10_000));
        let problems = check_naming_template(&long).unwrap_err();
        for p in &problems {
            assert!(p.message.chars().count() < 300, "{}", p.message);
        }
        assert!(
            problems[0].message.contains("(10013 characters)"),
            "{problems:?}"
        );
        let mut problems = Vec::new();
        check_display_name("a<b<c>>d&&&", &mut problems);
        assert!(
            problems[0]
                .message
                .contains("contains '<', '>', '&', which"),
            "{problems:?}"
        );
        let mut problems = Vec::new();
        check_display_name(" ", &mut problems);
        assert!(problems[0].fix.contains("--display-name"), "{problems:?}");
        assert!(!problems[0].fix.contains("--name"), "{problems:?}");
    }
    use crate::policy::spec::DomainJoinSpec;

    fn fields(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn naming_template_length_is_computed_and_shown() {
        let ok = check_naming_template("CPC-%USERNAME:5%-%RAND:5%").unwrap();
        assert_eq!(ok.max_len, 15);
        let err = check_naming_template("CPC-%USERNAME:6%-%RAND:5%").unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(
            err[0].message.contains("can generate 16 characters"),
            "{}",
            err[0]
        );
        assert!(err[0].message.contains("the limit is 15"));
        assert!(err[0].fix.contains("shorten it by 1 character:"));
    }

    #[test]
    fn naming_template_rand_and_characters() {
        let err = check_naming_template("CPC-%USERNAME:5%").unwrap_err();
        assert!(err[0].message.contains("no %RAND:y% token"), "{}", err[0]);
        let err = check_naming_template("A-%RAND:4%").unwrap_err();
        assert!(err[0].message.contains("y must be at least 5"));
        let err = check_naming_template("A_B %RAND:5%").unwrap_err();
        assert!(err[0].message.contains("'_', ' '"), "{}", err[0]);
        let err = check_naming_template("%RAND:5%%RAND:5%").unwrap_err();
        assert!(err[0].message.contains("2 %RAND:y% tokens"));
        let err = check_naming_template("%HOST:3%-%RAND:5%").unwrap_err();
        assert!(err[0].message.contains("'%HOST:3%' is not a known token"));
        let err = check_naming_template("CPC-%RAND:5").unwrap_err();
        assert!(err[0].message.contains("no closing '%'"));
    }

    #[test]
    fn gallery_image_ids() {
        assert!(
            check_gallery_image_id(
                "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365"
            )
            .is_none()
        );
        let p = check_gallery_image_id("windows11").unwrap();
        assert!(
            p.message.contains("{publisher}_{offer}_{sku} (1 part"),
            "{p}"
        );
        assert!(check_gallery_image_id("a__c").is_some());
        assert!(check_gallery_image_id("a_b_c_d").is_some());
    }

    fn base() -> PolicySpec {
        PolicySpec {
            display_name: "W365".into(),
            image_id: Some("a_b_c".into()),
            image_display_name: Some("Win".into()),
            image_type: Some(ImageType::Gallery),
            ..PolicySpec::default()
        }
    }

    #[test]
    fn required_properties_on_create_only() {
        let spec = PolicySpec {
            display_name: "x".into(),
            ..PolicySpec::default()
        };
        let p = check_policy(&spec, Mode::Create, None);
        assert_eq!(
            fields(&p),
            vec!["image_id", "image_display_name", "image_type"]
        );
        assert!(p[0].fix.contains("--image-id"));
        assert!(check_policy(&spec, Mode::Update, None).is_empty());
        assert!(check_policy(&base(), Mode::Create, None).is_empty());
    }

    #[test]
    fn hybrid_join_needs_a_connection_and_names_are_checked() {
        let mut spec = base();
        spec.display_name = "a|b".into();
        spec.domain_join_configurations = Some(vec![DomainJoinSpec {
            domain_join_type: Some(DomainJoinType::HybridAzureAdJoin),
            ..DomainJoinSpec::default()
        }]);
        let p = check_policy(&spec, Mode::Create, None);
        assert_eq!(
            fields(&p),
            vec!["display_name", "domain_join_configurations[0]"]
        );
        assert!(p[1].message.contains("needs an Azure network connection"));
        assert!(p[1].fix.contains("on_premises_connection_id"));
    }

    #[test]
    fn frontline_assignments_need_plan_and_count() {
        let mut spec = base();
        spec.provisioning_type = Some(ProvisioningType::Shared);
        spec.assignments = vec![AssignmentSpec {
            group: "G".into(),
            ..AssignmentSpec::default()
        }];
        let p = check_policy(&spec, Mode::Create, None);
        assert_eq!(p.len(), 2, "{p:?}");
        spec.provisioning_type = Some(ProvisioningType::Dedicated);
        spec.assignments[0].allotment_licenses_count = Some(3);
        let p = check_policy(&spec, Mode::Create, None);
        assert!(p[0].message.contains("only assignments of Frontline"));
        spec.assignments = vec![
            AssignmentSpec {
                group: "G".into(),
                ..AssignmentSpec::default()
            },
            AssignmentSpec {
                group: "g".into(),
                ..AssignmentSpec::default()
            },
        ];
        let p = check_policy(&spec, Mode::Create, None);
        assert!(p[0].message.contains("listed twice"));
    }

    #[test]
    fn provisioning_type_change_gives_the_reason() {
        let p = provisioning_type_change(&ProvisioningType::Dedicated, &ProvisioningType::Shared);
        assert!(p.message.contains("cannot change from dedicated to shared"));
        assert!(p.message.contains("immutable"));
        let text = describe("policy 'x'", &[p]);
        assert!(
            text.starts_with(
                "policy 'x': 1 problem found, nothing was sent\n  - provisioning_type:"
            )
        );
    }
}
