//! `w365 sim serve`: the simulator as a standalone server (a thin wrapper over `w365_sim::serve`).

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;
use w365_sim::{ClockMode, Seed, SimConfig};

use crate::cli::{SimCommand, SimServeArgs};
use crate::exit::ExitStatus;
use crate::output::Printer;

pub async fn run(command: &SimCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match command {
        SimCommand::Serve(args) => serve(args, printer).await,
    }
}

fn config(args: &SimServeArgs) -> anyhow::Result<SimConfig> {
    let clock = ClockMode::speed(args.speed).map_err(|_| {
        // 1e308 is shown as 1e308, not as 309 digits.
        let given = if args.speed.is_finite() && args.speed.abs() >= 1e7 {
            format!("{:e}", args.speed)
        } else {
            args.speed.to_string()
        };
        crate::settings::SettingsError::Usage(format!(
            "--speed must be a number greater than 0 and at most {} (times real time; the sandbox runs at 60), not {given}",
            w365_sim::clock::MAX_SPEED,
        ))
    })?;
    let mut cfg = SimConfig::contoso();
    cfg.seed = match args.seed.as_str() {
        "contoso" => Seed::Contoso,
        "empty" => Seed::Empty,
        file => Seed::File(PathBuf::from(file)),
    };
    cfg.clock = clock;
    cfg.port = args.port;
    cfg.state_file = args.state.clone();
    // Tokens are on the virtual clock: keep their usual hour of real time at this speed.
    Ok(cfg.with_real_time_token_lifetime())
}

async fn serve(args: &SimServeArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let cfg = config(args)?;
    w365_sim::serve(cfg, |handle| {
        let app = handle.admin_app();
        let base = handle.base_url();
        printer.json(&json!({
            "command": "sim serve",
            "baseUrl": base.as_str(),
            "graphV1": format!("{base}v1.0"),
            "tokenEndpoint": format!("{base}{}/oauth2/v2.0/token", handle.tenant_id()),
            "tenantId": handle.tenant_id(),
            "clientId": app.client_id,
            "clientSecret": app.client_secret,
            "adminKey": handle.admin_key().expose(),
            "adminKeyHeader": w365_sim::ADMIN_KEY_HEADER,
        }));
        printer.result(&format!(
            "w365 simulator listening on {base}\n\
             \n  Graph:          {base}v1.0 and {base}beta\
             \n  Token endpoint: {base}{tenant}/oauth2/v2.0/token\
             \n  Tenant id:      {tenant}\
             \n  Client id:      {client}\
             \n  Client secret:  {secret}\
             \n  Admin API:      {base}_sim/ (reset, outbox, requests, faults, clock)\
             \n  Admin key:      {key} (send it as the {header} header)\
             \n\nThe secret and the admin key are throwaway credentials of this local simulator.\
             \nCtrl-C or SIGTERM stops it{saving}.",
            tenant = handle.tenant_id(),
            client = app.client_id,
            secret = app.client_secret,
            key = handle.admin_key().expose(),
            header = w365_sim::ADMIN_KEY_HEADER,
            saving = if args.state.is_some() {
                " (the state is saved then, and every 30 s when it changed)"
            } else {
                ""
            },
        ));
    })
    .await
    .context("the simulator stopped with an error")?;
    Ok(ExitStatus::Success)
}
