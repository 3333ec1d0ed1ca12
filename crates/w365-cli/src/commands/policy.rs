//! `w365 policy ...`: provisioning policies, and policies as code (export, diff, sync).
//! The plan/confirm/execute/print machinery here is shared with `w365 user-settings`.

use std::future::Future;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};
use w365_graph::Client;
use w365_graph::models::{PolicySettingType, ProvisioningType};
use w365_ops::policy::diff::{Change, PolicyPlan};
use w365_ops::policy::execute::{Created, ExecReport, execute};
use w365_ops::policy::fields::{self, Frontline, PolicyFields};
use w365_ops::policy::ops::{self, ListFilter};
use w365_ops::policy::spec::{AssignmentSpec, ObjectKind, PolicySpec, Spec};
use w365_ops::policy::tenant::Details;

use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::consent::{self, ConsentError};
use crate::exit::{self, ExitStatus};
use crate::output::{ErrorReport, Printer, envelope};
use crate::settings::{Settings, SettingsError};

/// `w365 policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// List provisioning policies: name, type, image, join type and region, single sign-on,
    /// naming template, assigned groups
    List(ListArgs),
    /// Show every property of a policy and its assignments (group names and ids, Frontline plan
    /// and allotment)
    Show(ShowArgs),
    /// Create a policy from flags or from a policy file (validated before anything is sent)
    Create(PolicyCreateArgs),
    /// Change properties of a policy (only the ones given; provisioning type cannot change)
    ///
    /// With --file, the file's properties are applied; its display_name and assignments are
    /// ignored (rename with --display-name; change assignments with assign/unassign or sync).
    Update(PolicyUpdateArgs),
    /// Delete a policy (refused while assigned unless --unassign-first)
    Delete(DeleteArgs),
    /// Assign a policy to groups; the other assignments are kept (--replace: exactly these)
    Assign(AssignArgs),
    /// Remove groups from a policy's assignments; the other assignments are kept
    Unassign(UnassignArgs),
    /// Apply the policy's current region or single sign-on setting to its existing Cloud PCs (beta)
    Apply(ApplyArgs),
    /// Apply their policies' region or single sign-on setting to the given Cloud PCs (beta applyConfig)
    ApplyConfig(ApplyConfigArgs),
    /// Write every provisioning and user settings policy to policy files (assignments by group name)
    Export(ExportArgs),
    /// Show, field by field, what differs between the policy files and the tenant (changes nothing)
    Diff(DiffArgs),
    /// Make the tenant match the policy files (--prune also deletes what no file describes)
    Sync(SyncArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only policies of this provisioning type (shared includes every Frontline kind)
    #[arg(long = "type", value_enum)]
    pub provisioning_type: Option<TypeFilter>,
    /// Only names starting with this (case-insensitive)
    #[arg(long, value_name = "PREFIX")]
    pub name_starts_with: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TypeFilter {
    Dedicated,
    Shared,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The policy's display name or id
    #[arg(value_name = "NAME|ID")]
    pub policy: String,
}

/// Properties settable from flags (each overrides the file, if any).
#[derive(Debug, Args, Default)]
pub struct PolicyFieldArgs {
    /// A policy file (TOML, `kind = "provisioningPolicy"`); flags override its values
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Display name (for update: the new name)
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Gallery image `{publisher}_{offer}_{sku}`, or a custom image id
    #[arg(long, value_name = "ID")]
    pub image_id: Option<String>,
    #[arg(long, value_name = "NAME")]
    pub image_display_name: Option<String>,
    /// gallery or custom
    #[arg(long, value_name = "TYPE")]
    pub image_type: Option<String>,
    /// dedicated, shared, sharedByUser, sharedByEntraGroup or reserve (create only)
    #[arg(long, value_name = "TYPE")]
    pub provisioning_type: Option<String>,
    /// Device name template, e.g. CPC-%USERNAME:5%-%RAND:5% (at most 15 characters generated)
    #[arg(long, value_name = "TEMPLATE")]
    pub naming_template: Option<String>,
    /// azureADJoin or hybridAzureADJoin
    #[arg(long, value_name = "TYPE")]
    pub join_type: Option<String>,
    /// Azure region or "automatic" (Microsoft-hosted network)
    #[arg(long, value_name = "REGION")]
    pub region_name: Option<String>,
    /// Region group, e.g. europeUnion, usEast
    #[arg(long, value_name = "GROUP")]
    pub region_group: Option<String>,
    /// Azure network connection id (required for hybridAzureADJoin)
    #[arg(long, value_name = "ID")]
    pub on_premises_connection_id: Option<String>,
    #[arg(long, value_name = "true|false")]
    pub single_sign_on: Option<bool>,
    #[arg(long, value_name = "true|false")]
    pub local_admin: Option<bool>,
    /// Windows locale, e.g. en-US
    #[arg(long)]
    pub locale: Option<String>,
    /// notManaged, premiumManaged, standardManaged or starterManaged
    #[arg(long, value_name = "TYPE")]
    pub managed_type: Option<String>,
    #[arg(long, value_name = "ID")]
    pub autopatch_group_id: Option<String>,
    /// cloudPc or cloudApp
    #[arg(long, value_name = "TYPE")]
    pub user_experience_type: Option<String>,
}

/// Frontline target flags of an assignment.
#[derive(Debug, Args, Default, Clone)]
pub struct FrontlineArgs {
    /// Frontline: the service plan id of the assignment
    #[arg(long = "service-plan", value_name = "ID")]
    pub service_plan: Option<String>,
    /// Frontline: the allotment's name
    #[arg(long, value_name = "NAME")]
    pub allotment_name: Option<String>,
    /// Frontline: licenses allotted to the group
    #[arg(long, value_name = "N")]
    pub allotment_count: Option<i32>,
}

/// Flags every changing command has.
#[derive(Debug, Args, Default, Clone, Copy)]
pub struct ChangeArgs {
    /// Do the reads and print the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (needed without a terminal for deletes and unassignments)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct PolicyCreateArgs {
    #[command(flatten)]
    pub fields: PolicyFieldArgs,
    /// Assign to this group after creating (repeatable; name or id)
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,
    #[command(flatten)]
    pub frontline: FrontlineArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct PolicyUpdateArgs {
    /// The policy's display name or id
    #[arg(value_name = "NAME|ID")]
    pub policy: String,
    #[command(flatten)]
    pub fields: PolicyFieldArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Display name or id
    #[arg(value_name = "NAME|ID")]
    pub target: String,
    /// Unassign every group first (Cloud PCs of a provisioning policy go into their grace period)
    #[arg(long)]
    pub unassign_first: bool,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    /// Display name or id
    #[arg(value_name = "NAME|ID")]
    pub target: String,
    /// The group (name or id); repeatable
    #[arg(long, value_name = "GROUP", required = true)]
    pub group: Vec<String>,
    #[command(flatten)]
    pub frontline: FrontlineArgs,
    /// The given groups become the complete set: every other group is unassigned
    #[arg(long)]
    pub replace: bool,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct UnassignArgs {
    /// Display name or id
    #[arg(value_name = "NAME|ID")]
    pub target: String,
    /// The group (name or id); repeatable
    #[arg(long, value_name = "GROUP", required = true)]
    pub group: Vec<String>,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Setting {
    Region,
    SingleSignOn,
}

impl Setting {
    fn graph(self) -> PolicySettingType {
        match self {
            Setting::Region => PolicySettingType::Region,
            Setting::SingleSignOn => PolicySettingType::SingleSignOn,
        }
    }
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The policy's display name or id
    #[arg(value_name = "NAME|ID")]
    pub policy: String,
    #[arg(long, value_enum, default_value_t = Setting::Region)]
    pub setting: Setting,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct ApplyConfigArgs {
    /// Cloud PC id; repeatable
    #[arg(long = "cloud-pc", value_name = "ID", required = true, num_args = 1..)]
    pub cloud_pcs: Vec<String>,
    #[arg(long, value_enum, default_value_t = Setting::Region)]
    pub setting: Setting,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Folder to write to (provisioning-policies/ and user-settings/ inside)
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Folder with the policy files
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Also show the deletes of tenant policies no file describes
    #[arg(long)]
    pub prune: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Folder with the policy files
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Also delete tenant policies no file describes (unassigning them first)
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub change: ChangeArgs,
}

fn usage(message: String) -> anyhow::Error {
    SettingsError::Usage(message).into()
}

fn read_spec(path: &Path, kind: ObjectKind) -> anyhow::Result<Spec> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    let spec = Spec::from_toml(&text).map_err(|e| {
        anyhow::Error::new(w365_ops::Error::InvalidInput {
            reason: e.located(&path.display().to_string()),
        })
    })?;
    if spec.kind() != kind {
        return Err(usage(format!(
            "{} describes a {}, not a {kind}",
            path.display(),
            spec.kind()
        )));
    }
    Ok(spec)
}

impl PolicyFieldArgs {
    /// The flags as the fields w365-ops lays over the policy file (the API's job does the same).
    fn fields(&self) -> PolicyFields {
        PolicyFields {
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            image_id: self.image_id.clone(),
            image_display_name: self.image_display_name.clone(),
            image_type: self.image_type.clone(),
            provisioning_type: self.provisioning_type.clone(),
            naming_template: self.naming_template.clone(),
            join_type: self.join_type.clone(),
            region_name: self.region_name.clone(),
            region_group: self.region_group.clone(),
            on_premises_connection_id: self.on_premises_connection_id.clone(),
            single_sign_on: self.single_sign_on,
            local_admin: self.local_admin,
            locale: self.locale.clone(),
            managed_type: self.managed_type.clone(),
            autopatch_group_id: self.autopatch_group_id.clone(),
            user_experience_type: self.user_experience_type.clone(),
        }
    }
}

impl FrontlineArgs {
    /// The Frontline target flags as w365-ops takes them.
    pub fn frontline(&self) -> Frontline {
        Frontline {
            service_plan: self.service_plan.clone(),
            allotment_name: self.allotment_name.clone(),
            allotment_count: self.allotment_count,
        }
    }
}

fn policy_spec(fields: &PolicyFieldArgs) -> anyhow::Result<PolicySpec> {
    let spec = match &fields.file {
        Some(path) => match read_spec(path, ObjectKind::ProvisioningPolicy)? {
            Spec::Policy(p) => p,
            Spec::UserSettings(_) => PolicySpec::default(),
        },
        None => PolicySpec::default(),
    };
    fields
        .fields()
        .apply(spec)
        .map_err(|e| usage(e.to_string()))
}

/// Refuses, before connecting, a new policy whose policy file (`--file`) has problems, naming
/// the file's line and key of each value that comes from the file (flags override the file, so
/// their values have no line). The same checks as planning (w365-ops), so nothing new is refused.
pub fn precheck_file(file: Option<&Path>, merged: &Spec) -> anyhow::Result<()> {
    use w365_ops::policy::validate::{self, Mode};
    let Some(path) = file else {
        return Ok(());
    };
    let mut problems = match merged {
        Spec::Policy(p) => validate::check_policy(p, Mode::Create, None),
        Spec::UserSettings(u) => validate::check_user_settings(u),
    };
    if problems.is_empty() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    let from_file = Spec::from_toml(&text).map_err(|e| {
        anyhow::Error::new(w365_ops::Error::InvalidInput {
            reason: e.located(&path.display().to_string()),
        })
    })?;
    let json = |spec: &Spec| match spec {
        Spec::Policy(p) => serde_json::to_value(p).unwrap_or_default(),
        Spec::UserSettings(u) => serde_json::to_value(u).unwrap_or_default(),
    };
    let (file_json, merged_json) = (json(&from_file), json(merged));
    for p in &mut problems {
        let key = p.field.split(['.', '[']).next().unwrap_or_default();
        let same = file_json.get(key).is_some() && file_json.get(key) == merged_json.get(key);
        if same && let Some(line) = w365_ops::policy::spec::line_of(&text, &p.field) {
            p.field = format!("{}:{line}: {}", path.display(), p.field);
        }
    }
    Err(w365_ops::Error::InvalidInput {
        reason: validate::describe(
            &format!(
                "{} '{}'",
                merged.kind(),
                w365_ops::policy::validate::clip(merged.display_name())
            ),
            &problems,
        ),
    }
    .into())
}

/// Assignment specs for `--group` flags with the Frontline target flags.
pub fn assignment_specs(groups: &[String], frontline: &FrontlineArgs) -> Vec<AssignmentSpec> {
    fields::assignment_specs(groups, &frontline.frontline())
}

pub async fn run(
    settings: &Settings,
    command: &PolicyCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    const P: ObjectKind = ObjectKind::ProvisioningPolicy;
    match command {
        PolicyCommand::List(args) => {
            let filter = ListFilter {
                provisioning_type: args.provisioning_type.map(|t| match t {
                    TypeFilter::Dedicated => ProvisioningType::Dedicated,
                    TypeFilter::Shared => ProvisioningType::Shared,
                }),
                name_starts_with: args.name_starts_with.clone(),
            };
            list(settings, printer, "policy list", P, filter).await
        }
        PolicyCommand::Show(args) => show(settings, printer, "policy show", P, &args.policy).await,
        PolicyCommand::Create(args) => {
            let mut spec = policy_spec(&args.fields)?;
            if !args.group.is_empty() {
                spec.assignments = assignment_specs(&args.group, &args.frontline);
            }
            let spec = Spec::Policy(spec);
            precheck_file(args.fields.file.as_deref(), &spec)?;
            change(
                settings,
                printer,
                "policy create",
                args.change,
                move |c| async move { ops::plan_create(&c, spec).await },
            )
            .await
        }
        PolicyCommand::Update(args) => {
            let mut spec = policy_spec(&args.fields)?;
            if args.fields.display_name.is_none() {
                spec.display_name.clear();
            }
            spec.assignments.clear();
            let target = args.policy.clone();
            change(
                settings,
                printer,
                "policy update",
                args.change,
                move |c| async move { ops::plan_update(&c, &target, Spec::Policy(spec)).await },
            )
            .await
        }
        PolicyCommand::Delete(args) => delete(settings, printer, "policy delete", P, args).await,
        PolicyCommand::Assign(args) => assign(settings, printer, "policy assign", P, args).await,
        PolicyCommand::Unassign(args) => {
            unassign(settings, printer, "policy unassign", P, args).await
        }
        PolicyCommand::Apply(args) => {
            let target = args.policy.clone();
            let setting = args.setting.graph();
            change(
                settings,
                printer,
                "policy apply",
                args.change,
                move |c| async move { ops::plan_apply(&c, &target, setting).await },
            )
            .await
        }
        PolicyCommand::ApplyConfig(args) => {
            let ids = args.cloud_pcs.clone();
            let setting = args.setting.graph();
            change(
                settings,
                printer,
                "policy apply-config",
                args.change,
                move |c| async move { ops::plan_apply_config(&c, &ids, setting).await },
            )
            .await
        }
        PolicyCommand::Export(args) => export(settings, printer, &args.dir).await,
        PolicyCommand::Diff(args) => diff(settings, printer, &args.dir, args.prune).await,
        PolicyCommand::Sync(args) => sync(settings, printer, args).await,
    }
}

pub async fn delete(
    settings: &Settings,
    printer: &Printer,
    name: &'static str,
    kind: ObjectKind,
    args: &DeleteArgs,
) -> anyhow::Result<ExitStatus> {
    let target = args.target.clone();
    let unassign_first = args.unassign_first;
    change(settings, printer, name, args.change, move |c| async move {
        ops::plan_delete(&c, kind, &target, unassign_first).await
    })
    .await
}

pub async fn assign(
    settings: &Settings,
    printer: &Printer,
    name: &'static str,
    kind: ObjectKind,
    args: &AssignArgs,
) -> anyhow::Result<ExitStatus> {
    let target = args.target.clone();
    let specs = assignment_specs(&args.group, &args.frontline);
    let replace = args.replace;
    change(settings, printer, name, args.change, move |c| async move {
        ops::plan_assign(&c, kind, &target, &specs, replace).await
    })
    .await
}

pub async fn unassign(
    settings: &Settings,
    printer: &Printer,
    name: &'static str,
    kind: ObjectKind,
    args: &UnassignArgs,
) -> anyhow::Result<ExitStatus> {
    let target = args.target.clone();
    let groups = args.group.clone();
    change(settings, printer, name, args.change, move |c| async move {
        ops::plan_unassign(&c, kind, &target, &groups).await
    })
    .await
}

async fn connect(settings: &Settings) -> anyhow::Result<Connection> {
    Connection::open(settings.target()?).await
}

/// Runs `work` with a connection and closes it (saving the sandbox) whatever happened.
async fn with_connection<T, F, Fut>(settings: &Settings, work: F) -> anyhow::Result<(T, String)>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let conn = connect(settings).await?;
    let target = conn.target_name.clone();
    let result = work(conn.client.clone()).await;
    let closed = conn.close().await;
    let value = result?;
    closed?;
    Ok((value, target))
}

/// `list` of either kind.
pub async fn list(
    settings: &Settings,
    printer: &Printer,
    name: &str,
    kind: ObjectKind,
    filter: ListFilter,
) -> anyhow::Result<ExitStatus> {
    let (items, tenant) = with_connection(settings, |c| async move {
        Ok(ops::list(&c, kind, &filter).await?)
    })
    .await?;
    match printer.format() {
        OutputFormat::Json => {
            let mut doc = envelope(name, Some(&tenant), ExitStatus::Success, None);
            doc.insert("items".into(), serde_json::to_value(&items)?);
            printer.json(&Value::Object(doc));
        }
        _ => printer.result(&table(kind, &items, printer)),
    }
    Ok(ExitStatus::Success)
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "–".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => {
            if *b {
                "yes".into()
            } else {
                "no".into()
            }
        }
        Some(other) => other.to_string(),
    }
}

fn groups_text(d: &Details) -> String {
    d.assignments
        .iter()
        .map(|a| match a.allotment_licenses_count {
            Some(n) => format!("{} ({n})", a.group.display_name),
            None => a.group.display_name.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn table(kind: ObjectKind, items: &[Details], printer: &Printer) -> String {
    if items.is_empty() {
        return format!("no {kind} matches");
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    printer.fit(&mut t);
    match kind {
        ObjectKind::ProvisioningPolicy => {
            t.set_header([
                "Name",
                "Type",
                "Image",
                "Join / region",
                "SSO",
                "Naming template",
                "Groups",
            ]);
            for d in items {
                let p = &d.properties;
                let join = p
                    .get("domain_join_configurations")
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .map(|j| {
                                let region = j.get("region_name").or(j.get("region_group"));
                                format!("{} / {}", text(j.get("domain_join_type")), text(region))
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_else(|| "–".into());
                t.add_row([
                    d.display_name.clone(),
                    text(p.get("provisioning_type")),
                    text(p.get("image_display_name").or(p.get("image_id"))),
                    join,
                    text(p.get("enable_single_sign_on")),
                    text(p.get("cloud_pc_naming_template")),
                    groups_text(d),
                ]);
            }
        }
        ObjectKind::UserSettings => {
            t.set_header([
                "Name",
                "Local admin",
                "Reset",
                "Restore points",
                "User restore",
                "Groups",
            ]);
            for d in items {
                let p = &d.properties;
                let rps = p.get("restore_point_setting");
                t.add_row([
                    d.display_name.clone(),
                    text(p.get("local_admin_enabled")),
                    text(p.get("reset_enabled")),
                    text(rps.and_then(|r| r.get("frequency_type"))),
                    text(rps.and_then(|r| r.get("user_restore_enabled"))),
                    groups_text(d),
                ]);
            }
        }
        // Not listed by name (`w365 org-settings show`); shown plainly should one get here.
        ObjectKind::OrganizationSettings | ObjectKind::NetworkConnection => {
            t.set_header(["Name"]);
            for d in items {
                t.add_row([d.display_name.clone()]);
            }
        }
    }
    t.to_string()
}

/// `show` of either kind.
pub async fn show(
    settings: &Settings,
    printer: &Printer,
    name: &str,
    kind: ObjectKind,
    target: &str,
) -> anyhow::Result<ExitStatus> {
    let target = target.to_owned();
    let (d, tenant) = with_connection(settings, |c| async move {
        Ok(ops::show(&c, kind, &target).await?)
    })
    .await?;
    match printer.format() {
        OutputFormat::Json => {
            let mut doc = envelope(name, Some(&tenant), ExitStatus::Success, None);
            doc.insert("item".into(), serde_json::to_value(&d)?);
            printer.json(&Value::Object(doc));
        }
        _ => printer.result(&details_text(&d)),
    }
    Ok(ExitStatus::Success)
}

fn details_text(d: &Details) -> String {
    let mut out = format!(
        "{} '{}'\n  id: {}\n",
        capitalized(d.object),
        d.display_name,
        d.id
    );
    out.push_str("\nProperties (as in a policy file):\n");
    let props = properties_toml(d);
    for line in props.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out.push_str("\nRead-only:\n");
    if let Value::Object(ro) = &d.read_only {
        for (k, v) in ro {
            out.push_str(&format!("  {k}: {}\n", text(Some(v))));
        }
    }
    out.push_str("\nAssignments:\n");
    if d.assignments.is_empty() {
        out.push_str("  (none)\n");
    }
    for a in &d.assignments {
        out.push_str(&format!("  - {} ({})", a.group, a.group.id));
        let mut frontline = Vec::new();
        if let Some(p) = &a.service_plan_id {
            frontline.push(format!("service plan {p}"));
        }
        if let Some(n) = &a.allotment_display_name {
            frontline.push(format!("allotment '{n}'"));
        }
        if let Some(c) = a.allotment_licenses_count {
            frontline.push(format!("{c} licenses"));
        }
        if !frontline.is_empty() {
            out.push_str(&format!(": {}", frontline.join(", ")));
        }
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// The properties in the policy file's key order (display name first).
fn properties_toml(d: &Details) -> String {
    let value = Value::Object(d.properties.clone());
    let text = match d.object {
        ObjectKind::ProvisioningPolicy => serde_json::from_value::<PolicySpec>(value)
            .ok()
            .and_then(|s| toml::to_string(&s).ok()),
        ObjectKind::UserSettings => {
            serde_json::from_value::<w365_ops::policy::spec::UserSettingsSpec>(value)
                .ok()
                .and_then(|s| toml::to_string(&s).ok())
        }
        ObjectKind::OrganizationSettings | ObjectKind::NetworkConnection => None,
    };
    text.map(|t| {
        t.lines()
            .filter(|l| *l != "assignments = []")
            .collect::<Vec<_>>()
            .join("\n")
    })
    .unwrap_or_else(|| toml::to_string(&d.properties).unwrap_or_default())
}

fn capitalized(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::ProvisioningPolicy => "Provisioning policy",
        ObjectKind::UserSettings => "User settings policy",
        ObjectKind::OrganizationSettings => "Organization settings",
        ObjectKind::NetworkConnection => "Azure network connection",
    }
}

/// Why one change needs consent, whatever the tenant holds: an unassignment, a delete, `apply`,
/// `applyConfig` (a lowered Frontline allotment depends on the Cloud PCs using it).
pub fn change_reason(change: &Change) -> Option<String> {
    Some(match change {
        Change::Unassign {
            object,
            name,
            assignment,
            ..
        } => match object {
            ObjectKind::ProvisioningPolicy => format!(
                "unassign the {object} '{name}' from '{}' (its Cloud PCs go into their grace period)",
                assignment.group.display_name
            ),
            ObjectKind::UserSettings
            | ObjectKind::OrganizationSettings
            | ObjectKind::NetworkConnection => format!(
                "unassign the {object} '{name}' from '{}'",
                assignment.group.display_name
            ),
        },
        Change::Delete { object, name, .. } => format!("delete the {object} '{name}'"),
        Change::Apply { name, setting, .. } => format!(
            "apply the {} setting of '{name}' to its existing Cloud PCs (they are moved or restarted)",
            setting.as_str()
        ),
        Change::ApplyConfig {
            cloud_pc_ids,
            setting,
        } => format!(
            "apply the {} setting to {} existing Cloud PC(s) (they are moved or restarted)",
            setting.as_str(),
            cloud_pc_ids.len()
        ),
        Change::Create { .. } | Change::Update { .. } | Change::Assign { .. } => return None,
    })
}

/// Why a plan needs consent, as far as the plan alone tells (`w365 --server`, which reads no
/// Cloud PCs itself): [`change_reason`], and every lowered Frontline allotment (inline, only one
/// lowered below the Cloud PCs using it).
pub fn plan_reasons(plan: &PolicyPlan) -> Vec<String> {
    plan.changes
        .iter()
        .filter_map(|change| match change {
            Change::Assign {
                name,
                assignment,
                previous: Some(previous),
                ..
            } => match (
                assignment.allotment_licenses_count,
                previous.allotment_licenses_count,
            ) {
                (Some(new), Some(old)) if new < old => Some(format!(
                    "lower the allotment of '{}' on '{name}' from {old} to {new} (Cloud PCs using it may lose their seat)",
                    assignment.group.display_name
                )),
                _ => None,
            },
            other => change_reason(other),
        })
        .collect()
}

/// Why a plan needs consent (crate::consent), one reason per destructive change: an unassignment
/// (a provisioning policy's Cloud PCs go into their grace period), a delete, `apply` /
/// `applyConfig` (existing Cloud PCs are moved to the policy's region or get its single sign-on
/// setting, which restarts them:
/// https://learn.microsoft.com/graph/api/cloudpcprovisioningpolicy-apply?view=graph-rest-beta),
/// and a Frontline allotment lowered below the Cloud PCs that use it (reads the Cloud PCs).
async fn consent_reasons(client: &Client, plan: &PolicyPlan) -> anyhow::Result<Vec<String>> {
    let mut reasons = Vec::new();
    let mut pcs: Option<Vec<w365_graph::models::CloudPc>> = None;
    for change in &plan.changes {
        if let Some(reason) = change_reason(change) {
            reasons.push(reason);
            continue;
        }
        let Change::Assign {
            id: Some(id),
            name,
            assignment,
            previous: Some(previous),
            ..
        } = change
        else {
            continue;
        };
        let (Some(new), Some(old)) = (
            assignment.allotment_licenses_count,
            previous.allotment_licenses_count,
        ) else {
            continue;
        };
        if new >= old {
            continue;
        }
        if pcs.is_none() {
            pcs = Some(client.cloud_pcs().list(None).await.map_err(|e| {
                w365_ops::Error::from_graph(
                    e,
                    "list the Cloud PCs using the allotment",
                    "CloudPC.Read.All",
                )
            })?);
        }
        let using = pcs
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|pc| uses_allotment(pc, id, previous))
            .count();
        if usize::try_from(new).unwrap_or(0) < using {
            reasons.push(format!(
                "lower the allotment of '{}' on '{name}' from {old} to {new}, below the {using} Cloud PC(s) using it",
                assignment.group.display_name
            ));
        }
    }
    Ok(reasons)
}

/// Whether a Cloud PC of the policy `policy_id` uses the allotment of the assignment `a`: same
/// allotment name when the Cloud PC has one (else the same service plan), and not on its way out.
fn uses_allotment(
    pc: &w365_graph::models::CloudPc,
    policy_id: &str,
    a: &w365_ops::policy::diff::ResolvedAssignment,
) -> bool {
    use w365_graph::models::CloudPcStatus;
    let same_policy = pc
        .provisioning_policy_id
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case(policy_id));
    let same_allotment = match (&pc.allotment_display_name, &a.allotment_display_name) {
        (Some(pc_allotment), Some(name)) => pc_allotment.eq_ignore_ascii_case(name),
        _ => match (&pc.service_plan_id, &a.service_plan_id) {
            (Some(pc_plan), Some(plan)) => pc_plan.eq_ignore_ascii_case(plan),
            _ => true,
        },
    };
    let active = !matches!(
        pc.status,
        Some(
            CloudPcStatus::NotProvisioned
                | CloudPcStatus::InGracePeriod
                | CloudPcStatus::Deprovisioning
        )
    );
    same_policy && same_allotment && active
}

/// Plan (reads only), print for --dry-run, confirm when something is removed, execute, report.
pub async fn change<F, Fut>(
    settings: &Settings,
    printer: &Printer,
    name: &str,
    flags: ChangeArgs,
    plan: F,
) -> anyhow::Result<ExitStatus>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = w365_ops::Result<PolicyPlan>>,
{
    let conn = connect(settings).await?;
    let tenant = conn.target_name.clone();
    let client = conn.client.clone();
    let result = run_change(&client, printer, name, flags, plan).await;
    let closed = conn.close().await;
    let outcome = result?;
    closed?;
    Ok(print_outcome(printer, name, &tenant, &outcome, None))
}

/// What a changing command did.
pub struct Outcome {
    pub plan: PolicyPlan,
    pub dry_run: bool,
    /// `None` when nothing was executed (dry run, empty plan, no consent).
    pub report: Option<ExecReport>,
    pub error: Option<w365_ops::Error>,
    /// Not carried out for lack of consent.
    pub refusal: Option<ConsentError>,
}

impl Outcome {
    /// Carried out (or nothing to do) without an error.
    fn succeeded(&self) -> bool {
        !self.dry_run
            && self.error.is_none()
            && self.refusal.is_none()
            && (self.report.is_some() || self.plan.is_empty())
    }
}

async fn run_change<F, Fut>(
    client: &Client,
    printer: &Printer,
    name: &str,
    flags: ChangeArgs,
    plan: F,
) -> anyhow::Result<Outcome>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = w365_ops::Result<PolicyPlan>>,
{
    let plan = plan(client.clone()).await?;
    let mut outcome = Outcome {
        plan,
        dry_run: flags.dry_run,
        report: None,
        error: None,
        refusal: None,
    };
    if flags.dry_run || outcome.plan.is_empty() {
        return Ok(outcome);
    }
    let reasons = consent_reasons(client, &outcome.plan).await?;
    // The plan is shown before anything runs: here, or by the consent question.
    if (reasons.is_empty() || flags.yes) && printer.format() == OutputFormat::Human {
        printer.note(&format!("Plan:\n{}", outcome.plan));
    }
    if !reasons.is_empty() {
        printer.finish();
        let what = format!("{name}: {}", reasons.join("; "));
        if let Err(refusal) = consent::require(&what, &outcome.plan.to_string(), flags.yes) {
            outcome.refusal = Some(refusal);
            return Ok(outcome);
        }
    }
    let mut report = ExecReport::default();
    outcome.error = execute(client, &outcome.plan, printer, &mut report)
        .await
        .err();
    outcome.report = Some(report);
    Ok(outcome)
}

/// Prints the outcome (and, for sync, the diff after it) and returns the exit status.
fn print_outcome(
    printer: &Printer,
    name: &str,
    tenant: &str,
    outcome: &Outcome,
    after: Option<(&str, &PolicyPlan)>,
) -> ExitStatus {
    let plan = &outcome.plan;
    let mut error = match (&outcome.error, &outcome.refusal) {
        (Some(e), _) => Some(exit::report(e)),
        (None, Some(refusal)) => Some(exit::report(refusal)),
        (None, None) => None,
    };
    if error.is_none()
        && let Some((dir, after)) = after
        && !after.is_empty()
    {
        error = Some(ErrorReport {
            kind: ExitStatus::Unexpected.kind(),
            message: format!("after the sync the tenant still differs from {dir}:\n{after}"),
            chain: Vec::new(),
            hint: Some(
                "someone may have changed the tenant at the same time; run the sync again".into(),
            ),
            exit: ExitStatus::Unexpected,
        });
    }
    let status = error.as_ref().map_or(ExitStatus::Success, |e| e.exit);
    match printer.format() {
        OutputFormat::Json => {
            let mut doc = envelope(name, Some(tenant), status, error.as_ref());
            doc.insert("dryRun".into(), json!(outcome.dry_run));
            doc.insert(
                "plan".into(),
                serde_json::to_value(plan).unwrap_or_default(),
            );
            let (results, created) = match &outcome.report {
                Some(report) => (
                    serde_json::to_value(&report.changes).unwrap_or_default(),
                    serde_json::to_value(&report.created).unwrap_or_default(),
                ),
                None => (json!([]), json!([])),
            };
            doc.insert("results".into(), results);
            doc.insert("created".into(), created);
            if name == "policy sync" {
                doc.insert(
                    "inSyncAfter".into(),
                    json!(after.map(|(_, a)| a.is_empty())),
                );
            }
            printer.json(&Value::Object(doc));
        }
        _ => {
            if let Some(e) = &error {
                printer.error(e);
            }
            let shown = match &outcome.report {
                _ if outcome.refusal.is_some() => Shown::Refused,
                None => Shown::DryRun,
                Some(report) if outcome.error.is_none() => Shown::Done {
                    changes: report.changes.len(),
                    created: &report.created,
                },
                Some(report) => Shown::Stopped {
                    changes: report.changes.len(),
                },
            };
            printer.result(&outcome_text(tenant, plan, shown));
            if let Some((dir, after)) = after
                && after.is_empty()
            {
                printer.result(&format!("No differences: {tenant} matches {dir}."));
            }
        }
    }
    status
}

/// What became of a plan, for [`outcome_text`].
pub enum Shown<'a> {
    /// Planned only (`--dry-run`).
    DryRun,
    /// Not carried out for lack of consent.
    Refused,
    /// Carried out: the changes made (or found made), the objects created.
    Done {
        changes: usize,
        created: &'a [Created],
    },
    /// Stopped by an error after this many changes (the failed one included).
    Stopped { changes: usize },
}

/// The human summary of a policy change, inline and through `w365 --server` alike.
pub fn outcome_text(tenant: &str, plan: &PolicyPlan, shown: Shown<'_>) -> String {
    match shown {
        _ if plan.is_empty() => {
            format!("Nothing to do on {tenant}: the tenant already is as asked.")
        }
        Shown::Refused => format!(
            "Not carried out on {tenant}: nothing was changed.\nPlan ({}):\n{plan}",
            plan_size(plan)
        ),
        Shown::DryRun => format!(
            "Dry run on {tenant}: nothing was changed.\nPlan ({}):\n{plan}",
            plan_size(plan)
        ),
        Shown::Done { changes, created } => format!(
            "Done on {tenant}: {changes} change{} carried out.{}",
            if changes == 1 { "" } else { "s" },
            created
                .iter()
                .map(|c| format!("\n  created {} '{}' ({})", c.object, c.name, c.id))
                .collect::<String>()
        ),
        Shown::Stopped { changes } => format!(
            "Stopped on {tenant}: {} of {} changes were carried out before the error above; they stay made, and running the command again continues from there.",
            changes.saturating_sub(1),
            plan.len()
        ),
    }
}

/// "3 changes" (what a plan would do, never "carried out").
fn plan_size(plan: &PolicyPlan) -> String {
    format!(
        "{} change{}",
        plan.len(),
        if plan.len() == 1 { "" } else { "s" }
    )
}

async fn export(settings: &Settings, printer: &Printer, dir: &Path) -> anyhow::Result<ExitStatus> {
    let dir = dir.to_path_buf();
    let (report, tenant) =
        with_connection(
            settings,
            |c| async move { Ok(ops::export(&c, &dir).await?) },
        )
        .await?;
    match printer.format() {
        OutputFormat::Json => {
            let mut doc = envelope("policy export", Some(&tenant), ExitStatus::Success, None);
            if let Value::Object(body) = serde_json::to_value(&report)? {
                doc.extend(body);
            }
            printer.json(&Value::Object(doc));
        }
        _ => {
            let count = |kinds: &[ObjectKind]| {
                report
                    .files
                    .iter()
                    .filter(|f| kinds.contains(&f.object))
                    .count()
            };
            let policies = count(&[ObjectKind::ProvisioningPolicy, ObjectKind::UserSettings]);
            let connections = count(&[ObjectKind::NetworkConnection]);
            let settings = if count(&[ObjectKind::OrganizationSettings]) > 0 {
                " and the organization settings"
            } else {
                ""
            };
            let mut out = format!(
                "Exported {policies} policies, {connections} Azure network connection{}{settings} from {tenant} to {}:",
                if connections == 1 { "" } else { "s" },
                report.dir.display()
            );
            for f in &report.files {
                out.push_str(&format!(
                    "\n  {} ({} '{}')",
                    f.path.display(),
                    f.object,
                    f.display_name
                ));
            }
            for s in &report.stale {
                out.push_str(&format!("\n  warning: {} was not written by this export; a diff will show it as a policy to create (delete the file if it is obsolete)", s.display()));
            }
            for n in &report.shared_names {
                out.push_str(&format!("\n  warning: several policies are named '{n}'; diff and sync refuse it until they are renamed"));
            }
            printer.result(&out);
        }
    }
    Ok(ExitStatus::Success)
}

fn unmanaged_text(plan: &PolicyPlan) -> String {
    plan.unmanaged
        .iter()
        .map(|u| {
            format!(
                "\n  not in the files (--prune deletes it): {} '{}' ({})",
                u.object, u.name, u.id
            )
        })
        .collect()
}

async fn diff(
    settings: &Settings,
    printer: &Printer,
    dir: &Path,
    prune: bool,
) -> anyhow::Result<ExitStatus> {
    let dir = dir.to_path_buf();
    let shown = dir.display().to_string();
    let (plan, tenant) = with_connection(settings, |c| async move {
        Ok(ops::plan_sync(&c, &dir, prune).await?)
    })
    .await?;
    match printer.format() {
        OutputFormat::Json => {
            let mut doc = envelope("policy diff", Some(&tenant), ExitStatus::Success, None);
            doc.insert("dir".into(), json!(shown));
            doc.insert("inSync".into(), json!(plan.is_empty()));
            doc.insert("plan".into(), serde_json::to_value(&plan)?);
            printer.json(&Value::Object(doc));
        }
        _ => {
            let head = if plan.is_empty() {
                format!("No differences: {tenant} matches {shown}.")
            } else {
                format!(
                    "{} difference{} between {shown} and {tenant} (apply with `w365 policy sync {shown}`):\n{plan}",
                    plan.len(),
                    if plan.len() == 1 { "" } else { "s" }
                )
            };
            printer.result(&format!("{head}{}", unmanaged_text(&plan)));
        }
    }
    Ok(ExitStatus::Success)
}

async fn sync(
    settings: &Settings,
    printer: &Printer,
    args: &SyncArgs,
) -> anyhow::Result<ExitStatus> {
    let dir = args.dir.clone();
    let shown = dir.display().to_string();
    let prune = args.prune;
    let flags = args.change;
    let conn = connect(settings).await?;
    let tenant = conn.target_name.clone();
    let client = conn.client.clone();
    let result = async {
        let outcome = run_change(&client, printer, "policy sync", flags, |c| {
            let dir = dir.clone();
            async move { ops::plan_sync(&c, &dir, prune).await }
        })
        .await?;
        // Carried out: read again and show that nothing differs any more (a plan with nothing
        // to do already shows it).
        let after = if outcome.succeeded() && !outcome.plan.is_empty() {
            Some(ops::plan_sync(&client, &dir, prune).await?)
        } else if outcome.succeeded() {
            Some(PolicyPlan::default())
        } else {
            None
        };
        Ok::<_, anyhow::Error>(print_outcome(
            printer,
            "policy sync",
            &tenant,
            &outcome,
            after.as_ref().map(|a| (shown.as_str(), a)),
        ))
    }
    .await;
    let closed = conn.close().await;
    let status = result?;
    closed?;
    Ok(status)
}
