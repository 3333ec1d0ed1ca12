//! One test suite for both stores: `both_stores!` instantiates each test for SQLite (a temp file)
//! and PostgreSQL (a database of its own on 127.0.0.1:5432, dropped afterwards). When PostgreSQL is
//! unreachable the PostgreSQL variant prints "skipped: ..." and passes, unless
//! W365_REQUIRE_SERVICES=1, in which case it fails.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use time::OffsetDateTime;
use w365_jobs::{ConnectOptions, Identity, ManualClock, NewJob, SqlStore};

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestDb {
    pub url: String,
    pub clock: ManualClock,
    pub store: Arc<SqlStore>,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

pub fn start_time() -> OffsetDateTime {
    time::macros::datetime!(2026-03-02 09:00 UTC)
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
        let clock = ManualClock::new(start_time());
        let store = open(&url, &clock).await;
        TestDb {
            url,
            clock,
            store,
            pg_name: None,
            _dir: Some(dir),
        }
    }

    /// `None` when PostgreSQL is unreachable (and not required).
    pub async fn postgres() -> Option<TestDb> {
        sqlx::any::install_default_drivers();
        let admin = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::AnyConnection::connect(PG_ADMIN_URL),
        )
        .await;
        let mut admin = match admin {
            Ok(Ok(c)) => c,
            other => {
                let why = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_string(),
                };
                if std::env::var("W365_REQUIRE_SERVICES").as_deref() == Ok("1") {
                    panic!(
                        "PostgreSQL not reachable at {PG_ADMIN_URL} ({why}) and W365_REQUIRE_SERVICES=1"
                    );
                }
                eprintln!("skipped: PostgreSQL not reachable at {PG_ADMIN_URL} ({why})");
                return None;
            }
        };
        let name = format!("w365_jobs_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        let clock = ManualClock::new(start_time());
        let store = open(&url, &clock).await;
        Some(TestDb {
            url,
            clock,
            store,
            pg_name: Some(name),
            _dir: None,
        })
    }

    /// A second, independent store (own pool) on the same database: another "process".
    pub async fn another_store(&self) -> Arc<SqlStore> {
        open(&self.url, &self.clock).await
    }

    pub async fn cleanup(mut self) {
        self.store.pool().close().await;
        if let Some(name) = self.pg_name.take() {
            drop_database(&name).await;
        }
    }
}

async fn drop_database(name: &str) {
    let mut admin = sqlx::AnyConnection::connect(PG_ADMIN_URL)
        .await
        .expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop test database");
}

impl Drop for TestDb {
    /// A test that panicked did not reach `cleanup`: drop its database anyway.
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(drop_database(&name));
                }
            })
            .join();
        }
    }
}

pub async fn open(url: &str, clock: &ManualClock) -> Arc<SqlStore> {
    Arc::new(
        SqlStore::connect(
            url,
            ConnectOptions {
                clock: Arc::new(clock.clone()),
                max_connections: 4,
            },
        )
        .await
        .expect("connect"),
    )
}

pub fn alice() -> Identity {
    Identity {
        object_id: "11111111-1111-1111-1111-111111111111".into(),
        upn: "alice@contoso.example".into(),
        display_name: "Alice Admin".into(),
    }
}

pub fn new_job(op: &str, tenant: &str) -> NewJob {
    NewJob::new(
        op,
        tenant,
        serde_json::json!({"user": "bob@contoso.example"}),
        alice(),
    )
}

/// Instantiates `async fn $name(t: &TestDb)` for SQLite and PostgreSQL.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let t = common::TestDb::sqlite().await;
                    super::$name(&t).await;
                    t.cleanup().await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some(t) = common::TestDb::postgres().await else { return };
                    super::$name(&t).await;
                    t.cleanup().await;
                }
            }
        )*
    };
}
