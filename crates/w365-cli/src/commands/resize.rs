//! `w365 resize <user> --from G1 --to G2`.

use clap::Args;
use w365_ops::resize::{ResizeOptions, ResizeReport};

use crate::connect::Connection;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::{Settings, Target};

use super::lifecycle::{Gate, conclude};
use super::summary;

#[derive(Debug, Clone, Args)]
pub struct ResizeArgs {
    /// The user's principal name
    #[arg(value_name = "USER")]
    pub user: String,

    /// The license group the user has now (name or id)
    #[arg(long, value_name = "NAME|ID")]
    pub from: String,

    /// The license group of the new size, name or id (needs a free license)
    #[arg(long, value_name = "NAME|ID")]
    pub to: String,

    /// Wait for the resized Cloud PC and mail the user when it is ready
    #[arg(long)]
    pub notify: bool,

    /// Mailbox that sends the mail [default: runbooks@contoso.com]
    #[arg(long, env = "W365_FROM_MAILBOX", value_name = "ADDRESS")]
    pub from_mailbox: Option<String>,

    /// Do not ask for confirmation (the Cloud PC restarts and is unavailable while it resizes)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Do all the reads and print the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(
    settings: &Settings,
    args: &ResizeArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let target = settings.target()?;
    let profile = target.profile().cloned().unwrap_or_default();
    let d = &profile.assign;
    // The declaration's check (the same the service applies to a job); every problem at once.
    crate::ops_spec::validate("resize", &crate::ops_spec::resize_values(args), &profile)?;
    let mut opts = ResizeOptions::new(args.user.trim(), args.from.trim(), args.to.trim());
    if let Some(p) = d.provisioning_group_prefix.clone() {
        opts.provisioning_group_prefix = p;
    }
    if let Some(p) = d.user_settings_group_prefix.clone() {
        opts.user_settings_group_prefix = p;
    }
    // The demo sender is a sandbox default only; a real tenant names its own (flag or profile).
    opts.from_mailbox = args
        .from_mailbox
        .clone()
        .or_else(|| d.from_mailbox.clone())
        .or_else(|| {
            matches!(target, Target::Sandbox { .. })
                .then(|| w365_ops::assign::SANDBOX_FROM_MAILBOX.to_owned())
        });
    opts.notify = args.notify;
    opts.dry_run = args.dry_run;
    opts.waits = target.waits();
    opts.validate()?;

    let conn = Connection::open(target).await?;
    let what = format!(
        "resize the Cloud PC of {} from '{}' to '{}' (it restarts and is unavailable while it resizes)",
        opts.user, opts.from, opts.to
    );
    let mut gate = Gate::new(printer, args.yes, what);
    let result =
        w365_ops::resize::resize_approved(&conn.client, &opts, printer, &mut |p| gate.approve(p))
            .await;
    conclude(
        "resize",
        conn,
        result,
        gate.refusal,
        printer,
        summary::of::<ResizeReport>("resize"),
    )
    .await
}
