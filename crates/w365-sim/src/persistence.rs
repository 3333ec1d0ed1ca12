//! Saving the whole [`Store`] to a JSON file and loading it back. App secrets are stored only as
//! salted hashes and the token-signing key is never written, so the file holds no secret.

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
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, json).map_err(|source| SimError::StateFile {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| SimError::StateFile {
        path: path.to_owned(),
        source,
    })
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
