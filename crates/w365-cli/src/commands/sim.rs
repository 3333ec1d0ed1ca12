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
    cfg.trust_forwarded_headers = args.trust_forwarded_headers;
    // Tokens are on the virtual clock: keep their usual hour of real time at this speed.
    Ok(cfg.with_real_time_token_lifetime())
}

/// `--tls` / `--cert` + `--key`: the server certificate, and the CA file written for clients.
fn tls(args: &SimServeArgs) -> anyhow::Result<(Option<w365_sim::tls::TlsConfig>, Option<PathBuf>)> {
    let read = |path: &PathBuf, what: &str| {
        std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the {what} {}: give a readable PEM file",
                path.display()
            )
        })
    };
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        let config = w365_sim::tls::TlsConfig {
            cert_chain_pem: read(cert, "certificate (--cert)")?,
            key_pem: read(key, "private key (--key)")?,
        };
        return Ok((Some(config), None));
    }
    if !args.tls {
        return Ok((None, None));
    }
    let generated = w365_sim::tls::generate(w365_sim::tls::LOOPBACK_NAMES)?;
    let ca_file = args.ca_file.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("w365-sim-ca-{}.pem", std::process::id()))
    });
    std::fs::write(&ca_file, &generated.ca_pem).with_context(|| {
        format!(
            "cannot write the CA certificate to {}: give a writable path with --ca-file",
            ca_file.display()
        )
    })?;
    Ok((Some(generated.server), Some(ca_file)))
}

async fn serve(args: &SimServeArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut cfg = config(args)?;
    let (tls, ca_file) = tls(args)?;
    cfg.tls = tls;
    w365_sim::serve(cfg, |handle| {
        let app = handle.admin_app();
        let base = handle.base_url();
        let mut doc = json!({
            "command": "sim serve",
            "baseUrl": base.as_str(),
            "graphV1": format!("{base}v1.0"),
            "tokenEndpoint": format!("{base}{}/oauth2/v2.0/token", handle.tenant_id()),
            "tenantId": handle.tenant_id(),
            "clientId": app.client_id,
            "clientSecret": app.client_secret,
            "adminKey": handle.admin_key().expose(),
            "adminKeyHeader": w365_sim::ADMIN_KEY_HEADER,
        });
        if let Some(ca) = &ca_file {
            doc["caFile"] = json!(ca.display().to_string());
        }
        printer.json(&doc);
        printer.result(&format!(
            "w365 simulator listening on {base}\n\
             \n  Graph:          {base}v1.0 and {base}beta\
             \n  Token endpoint: {base}{tenant}/oauth2/v2.0/token\
             \n  Tenant id:      {tenant}\
             \n  Client id:      {client}\
             \n  Client secret:  {secret}\
             \n  Admin API:      {base}_sim/ (reset, outbox, requests, faults, clock)\
             \n  Admin key:      {key} (send it as the {header} header)\
             {trust}\
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
            trust = ca_file.as_ref().map_or_else(String::new, |ca| format!(
                "\n  CA to trust:    {ca} (REQUESTS_CA_BUNDLE, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS)",
                ca = ca.display()
            )),
        ));
    })
    .await
    .context("the simulator stopped with an error")?;
    Ok(ExitStatus::Success)
}
