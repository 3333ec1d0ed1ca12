//! `w365 audit verify|export` as a user runs them, on a SQLite job database the test fills through
//! the store: an intact chain verifies, a record changed behind the store's back is named, and the
//! export writes every record as JSON lines or CSV.

use std::path::Path;

use assert_cmd::Command;
use serde_json::{Value, json};
use sqlx::Connection;
use w365_jobs::{Identity, NewAuditRecord};

fn w365(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("w365")
        .unwrap()
        .env_clear()
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn verify_names_a_tampered_record_and_export_writes_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
    let store = w365_jobs::connect(&url).await.unwrap();
    for (n, upn) in [
        "megan.bowen@contoso.com",
        "grace.wilson@contoso.com",
        "henry.moore@contoso.com",
    ]
    .iter()
    .enumerate()
    {
        store
            .audit_append(NewAuditRecord {
                at: None,
                actor: Identity {
                    object_id: format!("0000000{n}"),
                    upn: "hanna@contoso.com".into(),
                    display_name: "Helpdesk Hanna".into(),
                },
                tenant: "contoso".into(),
                operation: "assign".into(),
                target: Some((*upn).into()),
                input: json!({"user": upn, "notify": true}),
                outcome: "submitted".into(),
                job_id: None,
                request_id: Some(format!("req-{n}")),
            })
            .await
            .unwrap();
    }
    drop(store);

    let (code, stdout, stderr) = w365(dir.path(), &["audit", "verify", "--database", &url]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("intact: 3 record(s)"), "{stdout}");

    let (code, stdout, _) = w365(
        dir.path(),
        &["-o", "json", "audit", "verify", "--database", &url],
    );
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["verdict"], json!({"verdict": "ok", "count": 3}));

    let (code, stdout, _) = w365(
        dir.path(),
        &["audit", "export", "--database", &url, "--format", "jsonl"],
    );
    assert_eq!(code, 0);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["target"], "grace.wilson@contoso.com");
    assert_eq!(lines[1]["prevHash"], lines[0]["hash"]);

    let (code, stdout, _) = w365(
        dir.path(),
        &[
            "audit",
            "export",
            "--database",
            &url,
            "--format",
            "csv",
            "--since",
            "1h",
        ],
    );
    assert_eq!(code, 0);
    let mut rows = stdout.lines();
    assert!(
        rows.next()
            .unwrap()
            .starts_with("seq,at,actorObjectId,actorUpn")
    );
    assert_eq!(rows.count(), 3);
    let (_, stdout, _) = w365(
        dir.path(),
        &[
            "audit",
            "export",
            "--database",
            &url,
            "--since",
            "2001-01-01T00:00:00Z",
        ],
    );
    assert_eq!(stdout.lines().count(), 3);
    let (code, _, stderr) = w365(
        dir.path(),
        &[
            "audit",
            "export",
            "--database",
            &url,
            "--since",
            "yesterday",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("RFC 3339"), "{stderr}");

    // Someone edits record 2 directly in the database (SQLite has no trigger to stop it).
    let path = dir.path().join("jobs.db");
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET outcome = 'refused' WHERE seq = 2")
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();

    let (code, stdout, _) = w365(dir.path(), &["audit", "verify", "--database", &url]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("BROKEN at record 2"), "{stdout}");
}
