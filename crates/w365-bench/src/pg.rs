//! A PostgreSQL database of a benchmark's own: created on the server given, dropped after the
//! run. An unreachable server skips the PostgreSQL part (with the reason printed).

use sqlx::Connection as _;

/// The server the benchmarks use unless told otherwise.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TempDatabase {
    admin: sqlx::AnyConnection,
    name: String,
    url: String,
}

impl TempDatabase {
    /// `None` when `server` is "none" or not reachable (the reason is printed).
    pub async fn create(server: &str, prefix: &str) -> anyhow::Result<Option<Self>> {
        if server == "none" {
            return Ok(None);
        }
        sqlx::any::install_default_drivers();
        let mut admin = match sqlx::AnyConnection::connect(server).await {
            Ok(admin) => admin,
            Err(e) => {
                println!("  PostgreSQL skipped: not reachable at {server} ({e})");
                return Ok(None);
            }
        };
        let name = format!("{prefix}_{}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .execute(&mut admin)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
        let url = format!("{base}/{name}");
        Ok(Some(Self { admin, name, url }))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn drop_now(mut self) -> anyhow::Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await?;
        Ok(())
    }
}
