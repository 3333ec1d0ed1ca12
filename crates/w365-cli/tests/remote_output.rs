//! `w365 --server URL <operation>` prints what the inline run prints, with the same exit code.
//! Two identical sandboxes (contoso, fresh): one used inline, the other held by `w365 serve
//! --sandbox`; the same commands run against each, in the same order, and their human stdout
//! (ids and the count of Graph requests masked: status polling depends on timing) and exit codes
//! are compared. Covered: assign (dry run, real, already assigned, refused by validation), the
//! Cloud PC actions (dry run, real, a destructive one without consent), reprovision and resize
//! (dry run, without consent, with --yes), unassign (dry run, --yes), and the policy operations
//! (`policy create|update|delete|assign|unassign|apply`, `user-settings create|update|delete|
//! assign|unassign`: dry run, refused by planning, without consent, carried out); a test below
//! checks that every declared operation is run here.
//!
//! Known difference, by design: through a server a lowered Frontline allotment always asks for
//! consent (inline asks only when it falls below the Cloud PCs using it, which the client, with
//! no Graph access of its own, cannot count).
//!
//! Known difference, by design: an inline `--notify` run on the sandbox also prints the mails of
//! the local sandbox's outbox; a server's outbox is not the client's, so no --notify here.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

fn w365(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_w365"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("W365_SANDBOX_DIR", home.join("sandbox"))
        .stdin(Stdio::null());
    cmd
}

/// Hex ids (GUIDs) become `<id>`; the number of Graph requests becomes `N`.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if let Some(at) = line.find("Graph requests: ") {
            out.push_str(&line[..at]);
            out.push_str("Graph requests: N\n");
            continue;
        }
        out.push_str(&mask_guids(line));
        out.push('\n');
    }
    out
}

fn mask_guids(line: &str) -> String {
    let bytes = line.as_bytes();
    let shape = [8, 4, 4, 4, 12];
    let guid_len = 36;
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let candidate = bytes.get(i..i + guid_len);
        let is_guid = candidate.is_some_and(|c| {
            let mut pos = 0;
            shape.iter().enumerate().all(|(n, len)| {
                let ok = c[pos..pos + len].iter().all(u8::is_ascii_hexdigit)
                    && (n == 4 || c[pos + len] == b'-');
                pos += len + 1;
                ok
            })
        });
        if is_guid {
            out.push_str("<id>");
            i += guid_len;
        } else {
            let ch = line[i..].chars().next().expect("a char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

struct Server {
    child: Child,
    url: String,
    token: String,
}

fn serve(home: &std::path::Path) -> Server {
    let mut child = w365(home)
        .args(["serve", "--sandbox", "--port", "0", "--workers", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("utf8");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    for line in lines.by_ref() {
        if line.expect("utf8").starts_with("Stop with Ctrl-C") {
            break;
        }
    }
    // Keep reading the banner's pipe so the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    let out = w365(home)
        .args(["sandbox", "token", "--role", "admin"])
        .output()
        .expect("sandbox token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .last()
        .expect("a token")
        .trim()
        .to_owned();
    Server { child, url, token }
}

#[test]
fn every_operation_prints_the_same_through_a_server_as_inline() {
    let inline_home = tempfile::tempdir().expect("home");
    let server_home = tempfile::tempdir().expect("home");
    let mut server = serve(server_home.path());
    let alice = "alice.smith@contoso.com";
    let megan = "megan.bowen@contoso.com";
    let lic128 = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";
    let lic256 = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB";
    // Each command and the exit code it must have (inline and through the server alike): 6
    // already assigned, 11 refused by validation, 2 no consent (stdin is not a terminal).
    let resize = |more: Option<&'static str>| {
        let mut args = vec!["resize", alice, "--from", lic128, "--to", lic256];
        args.extend(more);
        args
    };
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["assign", megan, "--dry-run"], 0),
        (vec!["assign", megan], 0),
        (vec!["assign", alice], 6),
        (
            vec!["assign", "kate.thomas@contoso.com", "--license-group", ""],
            11,
        ),
        (vec!["cloudpc", "troubleshoot", alice, "--dry-run"], 0),
        (vec!["cloudpc", "troubleshoot", alice], 0),
        (vec!["cloudpc", "reboot", alice], 2),
        (vec!["cloudpc", "reboot", alice, "--yes"], 0),
        (vec!["reprovision", alice, "--dry-run"], 0),
        (vec!["reprovision", alice], 2),
        (resize(Some("--dry-run")), 0),
        (resize(None), 2),
        (resize(Some("--yes")), 0),
        (vec!["unassign", megan, "--dry-run"], 0),
        (vec!["unassign", megan, "--yes"], 0),
        (vec!["reprovision", "bob.jones@contoso.com", "--yes"], 0),
        // The seed's Cloud PCs in the states these actions need: Carol's provisioned, Grace's in
        // its grace period, Kate's a Frontline one.
        (
            vec![
                "cloudpc",
                "rename",
                "carol.white@contoso.com",
                "--name",
                "Carol's desk",
            ],
            0,
        ),
        (
            vec![
                "cloudpc",
                "end-grace-period",
                "grace.wilson@contoso.com",
                "--dry-run",
            ],
            0,
        ),
        (
            vec!["cloudpc", "end-grace-period", "grace.wilson@contoso.com"],
            2,
        ),
        (
            vec![
                "cloudpc",
                "end-grace-period",
                "grace.wilson@contoso.com",
                "--yes",
            ],
            0,
        ),
        (vec!["cloudpc", "power-off", "kate.thomas@contoso.com"], 2),
        (
            vec!["cloudpc", "power-off", "kate.thomas@contoso.com", "--yes"],
            0,
        ),
        (vec!["cloudpc", "power-on", "kate.thomas@contoso.com"], 0),
        // Policies (Admin): the plan, consent where something is taken away, the change.
        (
            vec![
                "policy",
                "assign",
                WIN11,
                "--group",
                "Engineering",
                "--dry-run",
            ],
            0,
        ),
        (vec!["policy", "assign", WIN11, "--group", "Engineering"], 0),
        (
            vec![
                "policy",
                "assign",
                WIN11,
                "--group",
                "Engineering",
                "--replace",
            ],
            2,
        ),
        (vec!["policy", "apply", WIN11, "--dry-run"], 0),
        (vec!["policy", "apply", WIN11], 2),
        (
            vec![
                "policy",
                "update",
                WIN11,
                "--description",
                "Updated through w365",
            ],
            0,
        ),
        (vec!["policy", "delete", WIN11, "--dry-run"], 11),
        (
            vec![
                "policy",
                "create",
                "--display-name",
                "W365 Remote",
                "--image-type",
                "gallery",
                "--image-id",
                "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365",
                "--image-display-name",
                "Windows 11",
                "--naming-template",
                "REM-%USERNAME:4%-%RAND:5%",
                "--region-name",
                "westeurope",
                "--region-group",
                "europeUnion",
                "--group",
                "Engineering",
            ],
            0,
        ),
        (
            vec![
                "policy",
                "unassign",
                "W365 Remote",
                "--group",
                "Engineering",
            ],
            2,
        ),
        (
            vec![
                "policy",
                "delete",
                "W365 Remote",
                "--unassign-first",
                "--yes",
            ],
            0,
        ),
        (
            vec![
                "user-settings",
                "create",
                "--display-name",
                "US - Remote",
                "--reset",
                "true",
                "--group",
                "All Staff",
            ],
            0,
        ),
        (
            vec![
                "user-settings",
                "update",
                "US - Remote",
                "--local-admin",
                "true",
            ],
            0,
        ),
        (
            vec![
                "user-settings",
                "assign",
                "US - Remote",
                "--group",
                "Engineering",
            ],
            0,
        ),
        (
            vec![
                "user-settings",
                "unassign",
                "US - Remote",
                "--group",
                "Engineering",
                "--yes",
            ],
            0,
        ),
        (vec!["user-settings", "delete", "US - Remote", "--yes"], 11),
        (
            vec![
                "user-settings",
                "delete",
                "US - Remote",
                "--unassign-first",
                "--yes",
            ],
            0,
        ),
    ];
    let mut mismatches = Vec::new();
    for (args, code) in &cases {
        let inline = w365(inline_home.path())
            .arg("--sandbox")
            .args(args)
            .output()
            .expect("inline");
        let remote = w365(server_home.path())
            .env("W365_SERVER_TOKEN", &server.token)
            .args(["--sandbox", "--server", server.url.as_str()])
            .args(args)
            .output()
            .expect("remote");
        let (a, b) = (
            normalize(&String::from_utf8_lossy(&inline.stdout)),
            normalize(&String::from_utf8_lossy(&remote.stdout)),
        );
        // A dry run through the server counts the Graph requests the server's planning took.
        let remote_text = String::from_utf8_lossy(&remote.stdout);
        if args.contains(&"--dry-run") && remote_text.contains("Graph requests: 0\n") {
            mismatches.push(format!(
                "w365 {}: the server's dry run says it took no Graph request:\n{remote_text}",
                args.join(" ")
            ));
        }
        // Every command prints a summary except the one refused before planning.
        let expected_output = *code != 11;
        if a != b
            || inline.status.code() != Some(*code)
            || remote.status.code() != Some(*code)
            || a.trim().is_empty() == expected_output
        {
            mismatches.push(format!(
                "w365 {} (expected exit {code})\n-- inline (exit {:?}):\n{a}-- inline stderr:\n{}\n-- --server (exit {:?}):\n{b}-- --server stderr:\n{}",
                args.join(" "),
                inline.status.code(),
                String::from_utf8_lossy(&inline.stderr),
                remote.status.code(),
                String::from_utf8_lossy(&remote.stderr),
            ));
        }
    }
    // The policy commands went to the server, not inline: a Helpdesk operator's is refused there.
    let out = w365(server_home.path())
        .args(["sandbox", "token", "--role", "helpdesk"])
        .output()
        .expect("sandbox token");
    let helpdesk = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("a token")
        .trim()
        .to_owned();
    let refused = w365(server_home.path())
        .env("W365_SERVER_TOKEN", &helpdesk)
        .args(["--sandbox", "--server", server.url.as_str()])
        .args(["policy", "assign", WIN11, "--group", "Sales", "--dry-run"])
        .output()
        .expect("remote");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    if refused.status.code() != Some(9) || !stderr.contains("W365.Admin") {
        mismatches.push(format!(
            "a Helpdesk operator's policy assign through the server: exit {:?}, expected 9 (403)\n{stderr}",
            refused.status.code()
        ));
    }
    let _ = server.child.kill();
    let _ = server.child.wait();
    assert!(
        mismatches.is_empty(),
        "{} of {} commands differ:\n\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n\n")
    );
}

/// The provisioning policy the contoso sandbox assigns to its own group.
const WIN11: &str = "cfg - Windows 365 - Provisioning - Win11";

/// Compared elsewhere only: a restore names its restore point's time, and the two sandboxes
/// (inline and the server's) take their automatic restore points at the moment each was made,
/// seconds apart. `snapshots.rs` and the server's tests run it.
const NOT_COMPARED_HERE: &[&str] = &["cloudpc.restore"];

/// Every operation the API declares is among the commands compared above (by its CLI command:
/// `"cloudpc", "reboot"` for `cloudpc.reboot`), but for the bulk ones (`assign|unassign --from`,
/// compared in bulk_cli.rs) and [`NOT_COMPARED_HERE`]: a new operation fails this test until a
/// case runs it through a server.
#[test]
fn every_declared_operation_is_compared() {
    let source = include_str!("remote_output.rs");
    // The comparing test, up to where it runs its cases.
    let cases = &source[source
        .find("fn every_operation_prints_the_same_through_a_server_as_inline")
        .expect("the test")..];
    let cases = &cases[..cases.find("let mut mismatches").expect("its cases")];
    let compact = |text: &str| text.split_whitespace().collect::<String>();
    let cases = compact(cases);
    let mut missing = Vec::new();
    for op in w365_ops::spec::operations() {
        let quoted: Vec<String> = op.cli.iter().map(|w| format!("\"{w}\"")).collect();
        let compared = cases.contains(&compact(&quoted.join(",")));
        if op.name.ends_with(".bulk") || NOT_COMPARED_HERE.contains(&op.name.as_str()) {
            assert!(
                op.name.ends_with(".bulk") || !compared,
                "{} is compared now: take it off NOT_COMPARED_HERE",
                op.name
            );
            continue;
        }
        if !compared {
            missing.push(op.name.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "not compared through a server: {missing:?}"
    );
    for name in NOT_COMPARED_HERE {
        assert!(w365_ops::spec::operation(name).is_some(), "{name}");
    }
}

#[test]
fn ids_and_request_counts_are_masked_and_nothing_else() {
    assert_eq!(
        normalize("Cloud PC 0f8fad5b-d9cb-469f-a165-70867728950e (x)\n  Graph requests: 12\nkept"),
        "Cloud PC <id> (x)\n  Graph requests: N\nkept\n"
    );
    assert_eq!(mask_guids("not-a-guid 1234"), "not-a-guid 1234");
}
