//! Saving the whole [`Store`] to a JSON file and loading it back. App secrets are stored only as
//! salted hashes and the token-signing key is never written (a loaded state gets a fresh key, so
//! tokens of an earlier run are refused and clients sign in again), so the file holds no secret.

use std::path::Path;

use time::OffsetDateTime;

use crate::SimError;
use crate::state::{ClockSnapshot, Store};

/// Writes the store (with the clock's position) to `path`, atomically (temp file + rename).
pub fn save(store: &mut Store, path: &Path, virtual_now: OffsetDateTime) -> Result<(), SimError> {
    store.clock = Some(ClockSnapshot {
        virtual_now,
        saved_at: crate::clock::wall_now(),
    });
    let json = serde_json::to_vec(store).map_err(|source| SimError::StateFormat {
        path: path.to_owned(),
        source,
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| SimError::StateFile {
            path: dir.to_owned(),
            source,
        })?;
    }
    write_atomically(path, &json)
}

/// Writes `bytes` to `path` so that a reader (or a crash) sees either the old file or the new
/// one, never a part: a temporary file with a name of its own (process id + random, so two
/// writers never share one) in the same directory, flushed to disk, then renamed over `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SimError> {
    use std::io::Write as _;
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.to_owned(),
        None => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    let tmp = dir.join(format!(
        ".{name}.{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(SimError::StateFile { path: tmp, source });
    }
    if let Err(source) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(SimError::StateFile {
            path: path.to_owned(),
            source,
        });
    }
    Ok(())
}

/// Reads a store saved by [`save`] (indexes rebuilt).
pub fn load(path: &Path) -> Result<Store, SimError> {
    let bytes = std::fs::read(path).map_err(|source| SimError::StateFile {
        path: path.to_owned(),
        source,
    })?;
    let mut store: Store =
        serde_json::from_slice(&bytes).map_err(|source| SimError::StateFormat {
            path: path.to_owned(),
            source,
        })?;
    store.rebuild_indexes();
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, SeedFile};
    use crate::state::DirectoryTimings;

    #[test]
    fn concurrent_writers_never_fail_and_never_leave_a_partial_file() {
        let dir = std::env::temp_dir().join(format!("w365-sim-atomic-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("state.json");
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let body = serde_json::to_vec(
                        &serde_json::json!({"writer": i, "pad": "x".repeat(64 * 1024)}),
                    )
                    .expect("json");
                    for _ in 0..20 {
                        write_atomically(&path, &body).expect("an atomic write never fails");
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        let text = std::fs::read(&path).expect("read");
        let doc: serde_json::Value = serde_json::from_slice(&text).expect("a whole document");
        assert!(doc["writer"].as_u64().is_some_and(|w| w < 8));
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["state.json"], "no temporary file left");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn round_trip_keeps_state_and_writes_no_secret() {
        let now = time::macros::datetime!(2026-01-05 08:00 UTC);
        let tenant = SeedFile::contoso()
            .build(DirectoryTimings::realistic(), now)
            .expect("seed");
        let mut store = Store::with_tenant(tenant);
        let tenant_id = store.default_tenant_id().to_owned();
        {
            let t = store.tenant_mut(&tenant_id).expect("tenant");
            let group = t.directory.groups_named("Engineering")[0].clone();
            let user = t
                .directory
                .user_id_by_upn("megan.bowen@contoso.com")
                .expect("user")
                .to_owned();
            t.add_member(&group, &user, now).expect("add");
        }
        let dir = std::env::temp_dir().join(format!("w365-sim-persist-{}", uuid::Uuid::new_v4()));
        let path = dir.join("state.json");
        save(&mut store, &path, now).expect("save");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            !text.contains(ADMIN_CLIENT_SECRET),
            "plaintext secret in the state file"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .filter(|n| n != "state.json")
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        let loaded = load(&path).expect("load");
        let t = loaded.tenant(&tenant_id).expect("tenant");
        let original = store.tenant(&tenant_id).expect("tenant");
        assert_eq!(t.directory.user_count(), original.directory.user_count());
        let group = &t.directory.groups_named("Engineering")[0];
        let user = t
            .directory
            .user_by_key("MEGAN.BOWEN@contoso.com")
            .expect("index rebuilt");
        assert!(t.directory.is_member(group, &user.id));
        assert!(
            t.directory.member_of(&user.id).any(|g| g == group),
            "member_of index rebuilt"
        );
        assert_eq!(t.licensing.skus, original.licensing.skus);
        assert!(t.apps.get(ADMIN_CLIENT_ID).is_some());
        assert_eq!(loaded.clock.map(|c| c.virtual_now), Some(now));
        let _ = std::fs::remove_dir_all(dir);
    }
}
