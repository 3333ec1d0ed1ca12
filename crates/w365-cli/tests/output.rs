//! Output formats against a simulator over HTTP: the JSON document contract (usage errors,
//! failures, list/show, a no-op sync), tables that fit the terminal (and `-o wide`), timestamps
//! to the second, CSV that a spreadsheet cannot run, completions and the man page.

use std::collections::BTreeSet;
use std::process::Stdio;

use assert_cmd::Command;
use serde_json::Value;
use w365_testkit::TestSim;

use crate::common::{Env, Output, json, run};

const ENVELOPE: [&str; 6] = [
    "schemaVersion",
    "command",
    "tenant",
    "ok",
    "exitCode",
    "error",
];

fn keys(doc: &Value) -> BTreeSet<String> {
    doc.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Asserts the README's envelope and that stdout holds exactly one JSON document.
fn assert_envelope(out: &Output, command: &str, code: i32) -> Value {
    assert_eq!(out.code, code, "{}\n{}", out.stdout, out.stderr);
    let doc = json(out);
    for k in ENVELOPE {
        assert!(doc.get(k).is_some(), "{command}: no '{k}' in {doc}");
    }
    assert_eq!(doc["schemaVersion"], 1);
    assert_eq!(doc["command"], command, "{doc}");
    assert_eq!(doc["exitCode"], code, "{doc}");
    assert_eq!(doc["ok"], code == 0, "{doc}");
    if code == 0 {
        assert_eq!(doc["error"], Value::Null, "{doc}");
    } else {
        for k in ["kind", "message", "chain", "hint"] {
            assert!(
                doc["error"].get(k).is_some(),
                "{command}: error has no {k}: {doc}"
            );
        }
    }
    doc
}

fn w365() -> Command {
    let mut cmd = Command::cargo_bin("w365").unwrap();
    cmd.env_clear();
    cmd
}

fn output(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn usage_errors_print_a_json_document_with_kind_usage_and_nothing_else_on_stdout() {
    /// (arguments, environment, command in the document, text of the message)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case<'_>] = &[
        (&["-o", "json", "assign"], &[], "assign", "needs a USER"),
        (
            &["--output=json", "policy", "sync", "--bogus"],
            &[],
            "policy sync",
            "'--bogus'",
        ),
        (
            &["cloudpc", "list", "--status"],
            &[("W365_OUTPUT", "json")],
            "cloudpc list",
            "--status",
        ),
        (
            &["-ojson", "no-such-command"],
            &[],
            "w365",
            "no-such-command",
        ),
        (
            &["-o", "json", "policy"],
            &[],
            "policy",
            "subcommand is required",
        ),
    ];
    for (args, envs, command, text) in cases {
        let mut cmd = w365();
        cmd.args(*args).envs(envs.iter().copied());
        let out = output(&mut cmd);
        let doc = assert_envelope(&out, command, 2);
        assert_eq!(doc["error"]["kind"], "usage", "{args:?}: {doc}");
        assert_eq!(doc["tenant"], Value::Null);
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(message.contains(text), "{args:?}: {message}");
        // clap's own text (usage, tips) goes to stderr only.
        assert!(out.stderr.contains("Usage:") || out.stderr.contains("error:"));
    }
    // Without -o json a usage error prints nothing on stdout.
    let out = output(w365().args(["assign"]));
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[tokio::test]
async fn the_json_contract_holds_for_failures_lists_shows_and_a_no_op_sync() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    // Failures, before and after planning.
    let out = run(
        &sim,
        env.cmd(&["policy", "show", "no such policy", "-o", "json"]),
    )
    .await;
    let doc = assert_envelope(&out, "policy show", 3);
    assert_eq!(doc["tenant"], "sim");
    assert_eq!(doc["error"]["kind"], "notFound");
    let out = run(
        &sim,
        env.cmd(&["assign", "nobody@contoso.com", "-o", "json"]),
    )
    .await;
    assert_envelope(&out, "assign", 3);
    let out = run(
        &sim,
        env.cmd(&["cloudpc", "list", "--status", "sleeping", "-o", "json"]),
    )
    .await;
    assert_envelope(&out, "cloudpc list", 11);

    // Lists and shows.
    for (args, command, field) in [
        (&["policy", "list"][..], "policy list", "items"),
        (
            &["user-settings", "list"][..],
            "user-settings list",
            "items",
        ),
        (
            &["policy", "show", "cfg - Windows 365 - Provisioning - Win11"][..],
            "policy show",
            "item",
        ),
        (&["cloudpc", "list"][..], "cloudpc list", "cloudPcs"),
        (
            &["cloudpc", "show", "alice.smith@contoso.com"][..],
            "cloudpc show",
            "cloudPcs",
        ),
        (&["capacity"][..], "capacity", "skus"),
    ] {
        let mut argv = args.to_vec();
        argv.extend(["-o", "json"]);
        let out = run(&sim, env.cmd(&argv)).await;
        let doc = assert_envelope(&out, command, 0);
        assert!(doc.get(field).is_some(), "{command}: no {field}: {doc}");
    }

    // A sync with nothing to do: the changing-command fields are all there.
    let dir = env.dir().join("policies");
    let dir_s = dir.display().to_string();
    run(&sim, env.cmd(&["policy", "export", "--dir", &dir_s]))
        .await
        .expect(0);
    let out = run(&sim, env.cmd(&["policy", "sync", &dir_s, "-o", "json"])).await;
    let doc = assert_envelope(&out, "policy sync", 0);
    let want: BTreeSet<String> = ENVELOPE
        .iter()
        .chain(&["dryRun", "plan", "results", "created", "inSyncAfter"])
        .map(|k| (*k).to_owned())
        .collect();
    assert!(keys(&doc).is_superset(&want), "{doc}");
    assert_eq!(doc["results"], serde_json::json!([]));
    assert_eq!(doc["inSyncAfter"], true);
    assert_eq!(doc["plan"]["changes"], serde_json::json!([]));
}

fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

#[tokio::test]
async fn tables_fit_80_columns_and_wide_shows_every_column() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    for args in [
        &["cloudpc", "list"][..],
        &["cloudpc", "list", "--status", "inGracePeriod"][..],
        &["capacity"][..],
        &["policy", "list"][..],
        &["user-settings", "list"][..],
    ] {
        let mut cmd = env.cmd(args);
        cmd.env("COLUMNS", "80");
        let out = run(&sim, cmd).await;
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(widest(&out.stdout) <= 80, "{args:?}:\n{}", out.stdout);
    }
    let mut cmd = env.cmd(&["cloudpc", "list", "-o", "wide"]);
    cmd.env("COLUMNS", "80");
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Policy"), "{}", out.stdout);
    assert!(
        widest(&out.stdout) > 80,
        "wide is not fitted:\n{}",
        out.stdout
    );
    // Ids are never cut or wrapped: they stay whole in the fitted table, ready to copy.
    let mut cmd = env.cmd(&["cloudpc", "list", "--status", "inGracePeriod"]);
    cmd.env("COLUMNS", "80");
    let out = run(&sim, cmd).await;
    let id = sim
        .client()
        .cloud_pcs()
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.user_principal_name.as_deref() == Some("grace.wilson@contoso.com"))
        .unwrap()
        .id;
    assert!(out.stdout.contains(&id), "{id} not in\n{}", out.stdout);
    assert!(widest(&out.stdout) <= 80, "{}", out.stdout);
}

#[test]
fn the_sandbox_tables_fit_80_columns() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(
        w365()
            .env("HOME", dir.path())
            .env("W365_SANDBOX_DIR", dir.path().join("sandbox"))
            .env("COLUMNS", "80")
            .args(["sandbox", "show"]),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Users (40)"), "{}", out.stdout);
    assert!(widest(&out.stdout) <= 80, "{}", out.stdout);
    // The sandbox commands print the same envelope in JSON.
    for (args, command) in [
        (&["sandbox", "outbox", "-o", "json"][..], "sandbox outbox"),
        (&["sandbox", "show", "-o", "json"][..], "sandbox show"),
        (&["sandbox", "reset", "-o", "json"][..], "sandbox reset"),
    ] {
        let out = output(
            w365()
                .env("HOME", dir.path())
                .env("W365_SANDBOX_DIR", dir.path().join("sandbox"))
                .args(args),
        );
        let doc = assert_envelope(&out, command, 0);
        assert_eq!(doc["tenant"], "sandbox");
    }
}

fn is_second_timestamp(s: &str, sep: char, tail: &str) -> bool {
    // YYYY-MM-DD?HH:MM:SS + tail
    let b = s.as_bytes();
    s.len() == 19 + tail.len()
        && s.ends_with(tail)
        && b[4] == b'-'
        && b[7] == b'-'
        && s[10..].starts_with(sep)
        && b[13] == b':'
        && b[16] == b':'
        && s[..19]
            .chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16].contains(&i) || c.is_ascii_digit())
}

#[tokio::test]
async fn timestamps_are_to_the_second() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(
        &sim,
        env.cmd(&["cloudpc", "list", "--status", "inGracePeriod", "-o", "csv"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let row = out.stdout.lines().nth(1).unwrap();
    let stamp = row.rsplit(',').next().unwrap();
    assert!(is_second_timestamp(stamp, 'T', "Z"), "{stamp}");
    let out = run(
        &sim,
        env.cmd(&["cloudpc", "list", "--status", "inGracePeriod"]),
    )
    .await;
    let found = out.stdout.lines().any(|l| {
        l.match_indices(" UTC").any(|(i, _)| {
            i >= 19
                && l.is_char_boundary(i - 19)
                && is_second_timestamp(&l[i - 19..i + 4], ' ', " UTC")
        })
    });
    assert!(found, "{}", out.stdout);
    let out = run(&sim, env.cmd(&["capacity", "-o", "csv"])).await;
    let grace = out
        .stdout
        .lines()
        .find(|l| l.starts_with("gracePeriod,"))
        .unwrap();
    assert!(
        is_second_timestamp(grace.rsplit(',').next().unwrap(), 'T', "Z"),
        "{grace}"
    );
}

#[tokio::test]
async fn csv_cells_never_run_as_formulas_and_an_empty_result_has_its_header() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let formulas = [
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1,2)",
        "\tTAB",
    ];
    let mut seen = Vec::new();
    for (i, name) in formulas.iter().enumerate() {
        let user = [
            "bob.jones@contoso.com",
            "alice.smith@contoso.com",
            "dave.brown@contoso.com",
            "frank.miller@contoso.com",
            "kate.thomas@contoso.com",
        ][i];
        let out = run(
            &sim,
            env.cmd(&["cloudpc", "rename", user, &format!("--name={name}")]),
        )
        .await;
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        seen.push((user, *name));
    }
    let out = run(&sim, env.cmd(&["cloudpc", "list", "-o", "csv"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut reader = csv::ReaderBuilder::new().from_reader(out.stdout.as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    for (user, name) in seen {
        let rec = records
            .iter()
            .find(|r| &r[2] == user)
            .unwrap_or_else(|| panic!("{user} not in\n{}", out.stdout));
        assert_eq!(&rec[1], format!("'{name}"), "{}", out.stdout);
    }
    // Numbers stay numbers in the capacity CSV.
    let out = run(&sim, env.cmd(&["capacity", "-o", "csv"])).await;
    assert!(!out.stdout.contains(",'"), "{}", out.stdout);

    // An empty result is still a CSV with its header.
    let out = run(
        &sim,
        env.cmd(&["cloudpc", "list", "--status", "restoring", "-o", "csv"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "id,displayName,userPrincipalName,status,servicePlanName,provisioningPolicyName,gracePeriodEndDateTime\n"
    );
}

#[test]
fn completions_for_every_shell_and_bash_loads_them() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = output(w365().args(["completions", shell]));
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        for word in ["w365", "unassign", "user-settings", "dry-run"] {
            assert!(out.stdout.contains(word), "{shell}: no {word}");
        }
    }
    let out = output(w365().args(["completions", "tcsh"]));
    assert_eq!(out.code, 2);
    // bash: the script is valid and registers the completion function for w365.
    let script = output(w365().args(["completions", "bash"])).stdout;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), script).unwrap();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p w365",
            file.path().display()
        ))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("_w365"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn man_prints_a_roff_page_that_groff_renders() {
    let out = output(w365().arg("man"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(".TH w365 1"), "{}", out.stdout);
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(out.stdout.contains(section), "no {section}");
    }
    let mut groff = std::process::Command::new("groff")
        .args(["-man", "-Tutf8"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    groff
        .stdin
        .take()
        .unwrap()
        .write_all(out.stdout.as_bytes())
        .unwrap();
    let rendered = groff.wait_with_output().unwrap();
    assert!(rendered.status.success());
    let text = String::from_utf8_lossy(&rendered.stdout);
    // The page carries the exit codes and the consent rules of --help.
    assert!(text.contains("consentRequired"), "{text}");
    assert!(
        text.contains("refused by validation") || text.contains("refused (nothing"),
        "{text}"
    );
}

#[test]
fn timeout_and_wait_timeout_are_the_same_flag() {
    for flag in ["--timeout", "--wait-timeout"] {
        let out = output(w365().args(["assign", "a@b.c", flag, "5x"]));
        assert_eq!(out.code, 2);
        assert!(
            out.stderr.contains("unknown unit 'x'"),
            "{flag}: {}",
            out.stderr
        );
    }
    let help = output(w365().args(["assign", "--help"])).stdout;
    assert!(help.contains("--wait-timeout"), "{help}");
    assert!(
        help.contains("aliases: --timeout") || help.contains("alias: --timeout"),
        "{help}"
    );
}
