//! The command line, as clap sees it. Nothing here is resolved yet: [`crate::settings`] turns these
//! raw values (plus the environment and the config profile) into validated settings.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
   0  success
   1  unexpected error
   2  usage error (bad flags, unknown tenant profile, no tenant configured), including a
      destructive change refused for lack of consent (no terminal to ask on and no --yes)
   3  not found (user, group, policy, SKU)
   4  ambiguous name (several objects share a display name; their ids are listed)
   5  out of licenses or Frontline seats
   6  already assigned
   7  Cloud PC provisioning failed
   8  timed out waiting (the work is still running in the tenant)
   9  permission denied or authentication failed
  10  Microsoft Graph unavailable after retries
  11  refused (nothing was changed): by validation, or the operator answered no when asked";

const CONSENT: &str = "\
Consent to destructive changes (unassign, reprovision, resize, cloudpc reboot/restore/
end-grace-period/power-off, policy and user-settings delete/unassign, policy apply/apply-config,
lowering a Frontline allotment below the Cloud PCs using it, sync that removes anything):
  w365 plans first (reads only) and shows the plan, then asks \"Proceed? [y/N]\" when stdin and
  stderr are terminals. --yes consents without asking (scripts). Without a terminal and without
  --yes the change is refused: nothing is changed, exit 2 (JSON error kind consentRequired).
  Any answer but y/yes: nothing is changed, exit 11 (JSON error kind notConfirmed).
  --dry-run needs no consent: it only shows the plan.";

const TARGETS: &str = "\
Which tenant a command runs against:
  --sandbox         the local sandbox: an in-process simulator of the contoso demo tenant with a fast
                    clock; its state is kept in $XDG_DATA_HOME/w365/sandbox between runs. Nothing
                    leaves your machine. The sandbox is never used implicitly: without --sandbox a
                    command needs a real tenant. With --sandbox, --tenant and W365_TENANT are ignored.
  --tenant NAME     the profile [tenants.NAME] of $XDG_CONFIG_HOME/w365/config.toml (or --config FILE);
                    without --tenant, the config's default_tenant, else the AZURE_TENANT_ID /
                    AZURE_CLIENT_ID / AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH)
                    environment variables, else W365_ACCESS_TOKEN.";

/// Provision and manage Windows 365 Cloud PCs through Microsoft Graph.
#[derive(Debug, Parser)]
#[command(name = "w365", version, after_long_help = format!("{TARGETS}\n\n{CONSENT}\n\n{EXIT_CODES}"))]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command understands.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Run against the local sandbox (an in-process simulator of the contoso tenant); wins over --tenant
    #[arg(long, global = true)]
    pub sandbox: bool,

    /// Submit operations (assign, unassign, reprovision, resize, cloudpc actions, policy and user-settings changes) as
    /// jobs to this `w365 serve` and follow them; signs in with W365_SERVER_TOKEN or the device-code flow
    #[arg(long, global = true, env = "W365_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// Use the tenant profile NAME from the config file
    #[arg(long, global = true, env = "W365_TENANT", value_name = "NAME")]
    pub tenant: Option<String>,

    /// Config file [default: $XDG_CONFIG_HOME/w365/config.toml]
    #[arg(long, global = true, env = "W365_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Output format
    #[arg(long, short = 'o', global = true, value_enum, env = "W365_OUTPUT", default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// More log output on stderr (-v info, -vv debug, -vvv trace)
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only print the result and errors (no progress)
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Step-by-step progress and a summary for people
    Human,
    /// One JSON result document on stdout
    Json,
    /// CSV on stdout (capacity and cloudpc list/show; other commands print as human)
    Csv,
    /// As human, with every column and tables not fitted to the terminal width
    Wide,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process; boxing buys nothing
pub enum Command {
    /// Provision a Windows 365 Cloud PC for a user (the "Assign Windows365" runbook)
    ///
    /// Dedicated (Enterprise) path: adds the user to the provisioning group and the user-settings
    /// group (unless they already are in a group with the same prefix), waits until the memberships
    /// are visible, adds them to the license group, and confirms the license. If the provisioning
    /// group's name is also the name of a Frontline (shared) provisioning policy, the user gets a
    /// seat through that policy's assignment group instead. With --notify it waits for the Cloud PC
    /// and mails the user when it is ready.
    ///
    /// Application permissions needed: User.Read.All, GroupMember.ReadWrite.All,
    /// Organization.Read.All, CloudPC.Read.All and (for mails and tickets) Mail.Send.
    Assign(AssignArgs),

    /// Provisioning policies: list, show, create, update, delete, assign, unassign, apply, and policies as code (export, diff, sync)
    Policy {
        #[command(subcommand)]
        command: crate::commands::policy::PolicyCommand,
    },

    /// User settings policies: list, show, create, update, delete, assign, unassign
    UserSettings {
        #[command(subcommand)]
        command: crate::commands::user_settings::UserSettingsCommand,
    },

    /// Take a Windows 365 Cloud PC away from a user (license group or Frontline policy)
    ///
    /// Application permissions: User.Read.All, GroupMember.ReadWrite.All, Organization.Read.All,
    /// CloudPC.ReadWrite.All.
    Unassign(crate::commands::unassign::UnassignArgs),

    /// Reprovision (recreate) a user's Cloud PC of one license group
    ///
    /// Application permissions: User.Read.All, GroupMember.Read.All, Organization.Read.All,
    /// CloudPC.ReadWrite.All, and Mail.Send with --notify.
    Reprovision(crate::commands::reprovision::ReprovisionArgs),

    /// Resize a user's Cloud PC from one license group's size to another's (Graph resize)
    ///
    /// Application permissions: User.Read.All, GroupMember.ReadWrite.All, Organization.Read.All,
    /// CloudPC.ReadWrite.All, and Mail.Send with --notify.
    Resize(crate::commands::resize::ResizeArgs),

    /// List, show and act on Cloud PCs (reboot, rename, restore, troubleshoot, ...)
    Cloudpc {
        #[command(subcommand)]
        command: crate::commands::cloudpc::CloudpcCommand,
    },

    /// Per Cloud PC: last connection, hours connected, days since last use (Graph beta report)
    ///
    /// Application permission: CloudPC.Read.All.
    Usage(crate::commands::usage::UsageArgs),

    /// Take the licence back from Cloud PCs unused for N days, with the monthly cost recovered
    ///
    /// Application permissions: User.Read.All, GroupMember.ReadWrite.All, Organization.Read.All,
    /// CloudPC.Read.All (CloudPC.ReadWrite.All with --skip-grace-period).
    Reclaim(crate::commands::reclaim::ReclaimArgs),

    /// List and take restore points of a Cloud PC (Graph beta)
    ///
    /// Application permission: CloudPC.ReadWrite.All (also for `list`: Graph's retrieveSnapshots
    /// has no read-only permission).
    Snapshot {
        #[command(subcommand)]
        command: crate::commands::snapshot::SnapshotCommand,
    },

    /// Azure network connections and their health checks (Graph v1.0)
    ///
    /// Application permissions: CloudPC.Read.All (list, show), CloudPC.ReadWrite.All (create,
    /// update, delete). `check` (Graph's runHealthChecks) needs a signed-in admin's delegated
    /// CloudPC.ReadWrite.All: Graph does not support it with application permissions.
    Network {
        #[command(subcommand)]
        command: crate::commands::network::NetworkCommand,
    },

    /// Custom and gallery images (Graph v1.0)
    ///
    /// Application permissions: CloudPC.Read.All (list, show), CloudPC.ReadWrite.All (import,
    /// delete).
    Image {
        #[command(subcommand)]
        command: crate::commands::image::ImageCommand,
    },

    /// The tenant's Cloud PC organization settings (Graph v1.0)
    ///
    /// Application permissions: CloudPC.Read.All (show), CloudPC.ReadWrite.All (update).
    OrgSettings {
        #[command(subcommand)]
        command: crate::commands::org_settings::OrgSettingsCommand,
    },

    /// Licenses, Frontline seats, Cloud PCs by status, users waiting, grace periods
    ///
    /// Application permissions: Organization.Read.All, GroupMember.Read.All, CloudPC.Read.All.
    Capacity(crate::commands::capacity::CapacityArgs),

    /// Manage the local sandbox tenant
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },

    /// Run the tenant simulator as a standalone server (for curl, PowerShell, Graph SDKs)
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },

    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to stdout
    ///
    /// e.g. `w365 completions bash > ~/.local/share/bash-completion/completions/w365`, or
    /// `w365 completions zsh > ~/.zfunc/_w365`.
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the manual page (roff) to stdout, e.g. `w365 man > ~/.local/share/man/man1/w365.1`
    Man,
    /// Run job workers without the HTTP server (scale-out: several processes on one database)
    ///
    /// Takes queued jobs (assign, unassign, ... submitted through the service) from the job database
    /// and runs them: each job by one worker at a time, long waits parked, a dead worker's jobs
    /// taken over when their lease expires. Tenants are the config file's profiles; with
    /// --sandbox, jobs of the tenant "sandbox" run against the local sandbox.
    Worker(crate::commands::worker::WorkerArgs),

    /// Serve the REST API (Entra ID sign-in, roles, protected users) and run jobs
    ///
    /// With --sandbox: the simulated contoso tenant (named "sandbox"), its demo operators for
    /// sign-in and a SQLite job database in the sandbox directory; nothing to install. Real tenants:
    /// --server-config FILE (see the README). SIGTERM/Ctrl-C hands running jobs back to the queue.
    Serve(crate::commands::serve::ServeArgs),

    /// The audit log of the job database: verify its hash chain, export it
    Audit {
        #[command(subcommand)]
        command: crate::commands::audit::AuditCommand,
    },

    /// Windows 365's own audit log: who changed what, when (Graph v1.0 auditEvents, every page)
    ///
    /// Application permission: CloudPC.Read.All.
    AuditEvents(crate::commands::audit_events::AuditEventsArgs),

    /// Run one action over many Cloud PCs, list bulk actions, show each Cloud PC's state (Graph beta)
    ///
    /// Application permissions: CloudPC.ReadWrite.All for `create` (plus GroupMember.Read.All with
    /// --group); CloudPC.Read.All for `list` and `show`.
    BulkAction {
        #[command(subcommand)]
        command: crate::commands::bulk_action::BulkActionCommand,
    },

    /// The regions Cloud PCs can be provisioned in, with their region groups (Graph beta)
    ///
    /// Application permission: CloudPC.Read.All. Policy create / update / apply check region
    /// names against this list.
    Regions,
}

/// `w365 assign`: every parameter of the runbook. Unset options come from the environment, then
/// the tenant profile's `[tenants.NAME.assign]` table, then the runbook's defaults.
#[derive(Debug, Clone, Args)]
pub struct AssignArgs {
    /// The user's principal name (sign-in name), e.g. megan.bowen@contoso.com (or --from FILE)
    #[arg(value_name = "USER", default_value = "", hide_default_value = true)]
    pub user: String,

    /// Bulk: assign every user of a CSV file (header with a `user` column; other columns override
    /// the flags per row: provisioning-group, user-settings-group, license-group, the prefixes,
    /// priority) or of a JSON lines file (`.jsonl`)
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// Bulk: write one line per row (outcome, detail, error kind) to this file (CSV, or JSON lines
    /// when it ends in .jsonl)
    #[arg(long, value_name = "FILE", requires = "from")]
    pub results: Option<PathBuf>,

    /// Bulk: the journal that makes an interrupted run resumable [default: FILE.journal]
    #[arg(long, value_name = "FILE", requires = "from")]
    pub journal: Option<PathBuf>,

    /// Bulk: any invalid row stops the run before anything is changed
    #[arg(long, requires = "from")]
    pub strict: bool,

    /// Group assigned to the provisioning policy, by name or id [default: cfg - Windows 365 - Provisioning - Win11]
    #[arg(long, env = "W365_PROVISIONING_GROUP", value_name = "NAME|ID")]
    pub provisioning_group: Option<String>,

    /// Group assigned to the user-settings policy, by name or id [default: cfg - Windows 365 - User Settings - restore allowed]
    #[arg(long, env = "W365_USER_SETTINGS_GROUP", value_name = "NAME|ID")]
    pub user_settings_group: Option<String>,

    /// Group that carries the Windows 365 license, by name or id [default: lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB]
    #[arg(long, env = "W365_LICENSE_GROUP", value_name = "NAME|ID")]
    pub license_group: Option<String>,

    /// A user already in a group with this prefix keeps it [default: "cfg - Windows 365 - Provisioning - "]
    #[arg(long, env = "W365_PROVISIONING_GROUP_PREFIX", value_name = "PREFIX")]
    pub provisioning_group_prefix: Option<String>,

    /// A user already in a group with this prefix keeps it [default: "cfg - Windows 365 - User Settings - "]
    #[arg(long, env = "W365_USER_SETTINGS_GROUP_PREFIX", value_name = "PREFIX")]
    pub user_settings_group_prefix: Option<String>,

    /// Wait for the Cloud PC and mail the user when it is ready
    #[arg(long, overrides_with = "no_notify")]
    pub notify: bool,

    /// Do not wait or mail, even if the profile says notify = true
    #[arg(long, overrides_with = "notify")]
    pub no_notify: bool,

    /// Custom text for the ready mail (at most 3000 characters)
    #[arg(long, value_name = "TEXT", conflicts_with = "message_file")]
    pub message: Option<String>,

    /// Read the custom text for the ready mail from a file (at most 3000 characters)
    #[arg(long, value_name = "PATH")]
    pub message_file: Option<PathBuf>,

    /// Send a ticket to the ticket queue when no license (or seat) is free
    #[arg(long, overrides_with = "no_ticket_when_out_of_licenses")]
    pub ticket_when_out_of_licenses: bool,

    /// Never send a ticket, even if the profile enables it
    #[arg(long, overrides_with = "ticket_when_out_of_licenses")]
    pub no_ticket_when_out_of_licenses: bool,

    /// Where tickets go [sandbox default: support@glueckkanja-gab.com; a real tenant must set it]
    #[arg(long, env = "W365_TICKET_QUEUE", value_name = "ADDRESS")]
    pub ticket_queue: Option<String>,

    /// Mailbox that sends the mails and tickets [default: runbooks@contoso.com]
    #[arg(long, env = "W365_FROM_MAILBOX", value_name = "ADDRESS")]
    pub from_mailbox: Option<String>,

    /// Customer id at the start of the ticket subject [default: Contoso]
    #[arg(long, env = "W365_TICKET_CUSTOMER_ID", value_name = "ID")]
    pub ticket_customer_id: Option<String>,

    /// Who runs this (recorded in the output and in tickets) [default: the profile's caller, else the OS user]
    #[arg(long, env = "W365_CALLER", value_name = "NAME")]
    pub caller: Option<String>,

    /// Give up waiting for the Cloud PC after this long, e.g. 90m or 2h (--notify only; --timeout is an alias)
    #[arg(long, visible_alias = "timeout", value_name = "DURATION", value_parser = parse_duration)]
    pub wait_timeout: Option<Duration>,

    /// Do all the reads and print the plan; change nothing, send no mail
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Delete the sandbox state; the next command starts from the contoso seed
    Reset {
        /// Also generate this many users (user00001@contoso.com, ...) and add as many units to
        /// the 2 vCPU 4 GB 128 GB SKU, e.g. to try `assign --from` (at most 100000)
        #[arg(long, value_name = "N")]
        users: Option<usize>,
    },
    /// Show the sandbox tenant: users, groups, licenses, policies and Cloud PCs
    Show,
    /// Show the mail the sandbox has "sent"
    Outbox,
    /// Print an access token for a demo operator of the running `w365 serve --sandbox` (last line)
    Token {
        /// Which demo operator
        #[arg(long, value_parser = ["reader", "helpdesk", "admin"], default_value = "helpdesk")]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve the simulator on 127.0.0.1 until Ctrl-C; prints the base URL and credentials
    Serve(SimServeArgs),
}

#[derive(Debug, Args)]
pub struct SimServeArgs {
    /// TCP port on 127.0.0.1 (0 picks a free one)
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// The tenant to start with: contoso, empty, or a seed FILE
    #[arg(long, default_value = "contoso", value_name = "contoso|empty|FILE")]
    pub seed: String,

    /// Virtual clock speed: N times real time, 0 < N <= 1000000 (provisioning takes minutes at 1)
    #[arg(long, default_value_t = 60.0, value_name = "N")]
    pub speed: f64,

    /// Load the state from FILE if it exists; save it there every 30 s when it changed and on
    /// exit (Ctrl-C or SIGTERM)
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Serve HTTPS with a generated certificate; its CA certificate is written to --ca-file
    #[arg(long, conflicts_with = "cert")]
    pub tls: bool,

    /// Serve HTTPS with this certificate chain (PEM, server certificate first); needs --key
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,

    /// The private key (PEM) of --cert
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Where --tls writes the CA certificate to trust [default: w365-sim-ca-PID.pem in the temp dir]
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca_file: Option<PathBuf>,

    /// Build links from Forwarded / X-Forwarded-Proto / X-Forwarded-Host (behind a TLS proxy)
    #[arg(long)]
    pub trust_forwarded_headers: bool,
}

/// Parses `90s`, `15m`, `2h`, `1h30m` or plain seconds (the declaration's duration kind).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    w365_ops::spec::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn flags_of(cmd: &clap::Command, out: &mut std::collections::BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            out.extend(
                arg.get_long_and_visible_aliases()
                    .into_iter()
                    .flatten()
                    .map(str::to_owned),
            );
            out.extend(
                arg.get_all_aliases()
                    .into_iter()
                    .flatten()
                    .map(str::to_owned),
            );
        }
        for sub in cmd.get_subcommands() {
            flags_of(sub, out);
        }
    }

    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Hints and messages (string literals in this crate and in w365-ops) only name flags that
    /// exist (`--name` was suggested where the flag is `--display-name`).
    #[test]
    fn every_flag_named_in_a_message_exists() {
        let mut flags = std::collections::BTreeSet::from(["help".to_owned(), "version".to_owned()]);
        flags_of(&Cli::command(), &mut flags);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        rust_files(&root.join("../w365-ops/src"), &mut files);
        let mut unknown = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            // The string literals of each line (between double quotes).
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for literal in line.split('"').skip(1).step_by(2) {
                    let mut rest = literal;
                    while let Some(at) = rest.find("--") {
                        rest = &rest[at + 2..];
                        let name: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                            .collect();
                        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                            continue;
                        }
                        // `--allotment-*` names a family of flags.
                        let known = match name.strip_suffix('-') {
                            Some(prefix) => flags.iter().any(|f| f.starts_with(prefix)),
                            None => flags.contains(&name),
                        };
                        if !known {
                            unknown.push(format!("{}: --{name}", file.display()));
                        }
                    }
                }
            }
        }
        assert!(unknown.is_empty(), "flags that do not exist: {unknown:#?}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("5m3").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sandbox_is_a_global_flag() {
        let cli = Cli::try_parse_from(["w365", "assign", "a@b.c", "--sandbox"]).unwrap();
        assert!(cli.global.sandbox);
    }

    #[test]
    fn notify_flags_override_each_other() {
        let cli =
            Cli::try_parse_from(["w365", "assign", "a@b.c", "--notify", "--no-notify"]).unwrap();
        let Command::Assign(a) = cli.command else {
            panic!("expected assign")
        };
        assert!(!a.notify && a.no_notify);
    }
}
