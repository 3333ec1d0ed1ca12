//! w365-graph's models against Microsoft Graph's documented example responses
//! (fixtures/graph-examples, copied from the shared reference with their SOURCES): every example
//! for a resource w365 uses decodes into the type `manifest.tsv` names, unknown properties and
//! enum members included; the documentation's own errors are rejected with a clear error (an
//! entity without its id, invalid JSON) or tolerated where w365 only displays the value (an
//! unparseable timestamp keeps its item, marked unreadable).
//!
//! A test binary of its own (not in tests/suite.rs): one test captures logs with a thread's
//! default subscriber, which another test's thread can race (see tests/observability.rs).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use w365_graph::Page;
use w365_graph::models::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/graph-examples")
}

/// Decodes like the client does (serde_path_to_error): `Err` carries the JSON path and cause.
fn decode<T: DeserializeOwned>(file: &str) -> Result<T, String> {
    let text = std::fs::read_to_string(fixtures().join(file)).expect("fixture readable");
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| format!("at {}: {}", e.path(), e.inner()))
}

fn decode_as(file: &str, target: &str) -> Result<(), String> {
    macro_rules! by_name {
        ($($name:literal => $ty:ty),* $(,)?) => {
            match target {
                $( concat!("one:", $name) => decode::<$ty>(file).map(drop),
                   concat!("page:", $name) => decode::<Page<$ty>>(file).map(drop), )*
                "collection:String" => decode::<Collection<String>>(file).map(drop),
                other => panic!("{file}: no type for {other}"),
            }
        };
    }
    by_name! {
        "CloudPc" => CloudPc,
        "CloudPcV1" => CloudPcV1,
        "FrontLineServicePlan" => FrontLineServicePlan,
        "ProvisioningPolicy" => ProvisioningPolicy,
        "CloudPcUserSetting" => CloudPcUserSetting,
        "ServicePlan" => ServicePlan,
        "Group" => Group,
        "User" => User,
        "DirectoryObject" => DirectoryObject,
        "SubscribedSku" => SubscribedSku,
        "AssignedLicense" => AssignedLicense,
        "LicenseAssignmentState" => LicenseAssignmentState,
    }
}

fn manifest() -> Vec<(String, String)> {
    std::fs::read_to_string(fixtures().join("manifest.tsv"))
        .expect("manifest")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (file, target) = l.split_once('\t').expect("file<TAB>target");
            (file.to_owned(), target.trim().to_owned())
        })
        .collect()
}

/// Examples that must not decode, with the part of the error that says why. The documentation's
/// errors are listed in fixtures/graph-examples/SOURCES.md.
const REJECTED: &[(&str, &str)] = &[
    // Not valid JSON as published (missing `,`).
    ("beta/cloudpcprovisioningpolicy-get-2.json", "expected `,`"),
    // A GET by id wrapped in {"value": {...}}: no entity (and no id) at the top.
    (
        "beta/cloudpcfrontlineserviceplan-get.json",
        "at .: missing field `id`",
    ),
    // $select without id: w365 always selects id and acts on it, so an entity without one is
    // an error naming where, never a silently empty id.
    ("v1.0/group-list-4.json", "at value[0]: missing field `id`"),
    ("v1.0/group-list-5.json", "at value[0]: missing field `id`"),
    (
        "v1.0/group-list-members-5.json",
        "at value[0]: missing field `id`",
    ),
    ("v1.0/user-get-3.json", "at .: missing field `id`"),
    ("v1.0/user-get-4.json", "at .: missing field `id`"),
    ("v1.0/user-get-5.json", "at .: missing field `id`"),
    ("v1.0/user-list-10.json", "at value[0]: missing field `id`"),
    ("v1.0/user-list-4.json", "at value[0]: missing field `id`"),
    ("v1.0/user-list-6.json", "at value[0]: missing field `id`"),
    ("v1.0/user-list-7.json", "at value[0]: missing field `id`"),
    (
        "v1.0/user-list-memberof-1.json",
        "at value[0]: missing field `id`",
    ),
    (
        "v1.0/user-list-memberof-5.json",
        "at value[0]: missing field `id`",
    ),
    // Resource pages' JSON representations with type placeholders, not responses.
    ("v1.0/resources/assignedlicense.json", "at disabledPlans[0]"),
    (
        "v1.0/resources/licenseassignmentstate.json",
        "at disabledPlans",
    ),
];

#[test]
fn every_documented_example_decodes_or_is_rejected_for_its_documented_error() {
    let entries = manifest();
    assert!(entries.len() >= 60, "{} examples", entries.len());
    let mut decoded = 0;
    for (file, target) in &entries {
        let result = decode_as(file, target);
        match REJECTED.iter().find(|(f, _)| f == file) {
            Some((_, why)) => {
                let err = result.expect_err(&format!("{file} must be rejected"));
                assert!(err.contains(why), "{file}: {err} (expected {why})");
            }
            None => {
                result.unwrap_or_else(|e| panic!("{file} as {target}: {e}"));
                decoded += 1;
            }
        }
    }
    assert_eq!(decoded + REJECTED.len(), entries.len());
}

#[test]
fn a_user_setting_wrapped_in_value_decodes_without_an_id() {
    // CloudPcUserSetting doubles as a request body (w365-ops builds bodies from specs through
    // it), so its id stays optional; the documentation's wrapped example reads as a setting
    // without id, which w365 never acts on (it addresses settings by the ids it listed).
    let setting: CloudPcUserSetting =
        decode("v1.0/cloudpcusersetting-get-1.json").expect("decodes");
    assert_eq!(setting.id, None);
}

#[test]
fn an_unreadable_timestamp_keeps_its_item_marked_and_warns() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // The documentation's list item has "gracePeriodEndDateTime": "2020-11-010T20:00:34Z"; a page
    // of it and a readable copy.
    let text =
        std::fs::read_to_string(fixtures().join("beta/virtualendpoint-list-cloudpcs-1.json"))
            .expect("fixture");
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut readable = doc["value"][0].clone();
    readable["id"] = "readable-copy".into();
    readable["gracePeriodEndDateTime"] = "2020-11-10T20:00:34Z".into();
    doc["value"].as_array_mut().expect("value").push(readable);
    let page: Page<CloudPc> = serde_json::from_value(doc).expect("the page decodes");
    assert_eq!(page.value.len(), 2);
    let marked: Vec<&CloudPc> = page
        .value
        .iter()
        .filter(|pc| !pc.unreadable.is_empty())
        .collect();
    assert_eq!(
        marked.len(),
        1,
        "exactly the item with the bad value is marked"
    );
    assert_eq!(marked[0].unreadable, ["gracePeriodEndDateTime"]);
    assert_eq!(marked[0].grace_period_end_date_time, None);
    assert!(!marked[0].id.is_empty(), "the item keeps its other fields");
    for pc in page.value.iter().filter(|pc| pc.unreadable.is_empty()) {
        assert!(
            pc.last_modified_date_time.is_some(),
            "{}: readable timestamps stay",
            pc.id
        );
    }
    let logs = String::from_utf8(buffer.0.lock().expect("log").clone()).expect("utf-8");
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("gracePeriodEndDateTime"), "{logs}");
    assert!(logs.contains("2020-11-010T20:00:34Z"), "{logs}");

    // The v1.0 shape is just as tolerant.
    let v1: CloudPcV1 = decode("v1.0/cloudpc-get.json").expect("decodes");
    assert_eq!(v1.unreadable, ["gracePeriodEndDateTime"]);
}

#[test]
fn unknown_properties_and_enum_members_are_kept_or_ignored_not_fatal() {
    let text =
        std::fs::read_to_string(fixtures().join("beta/cloudpc-get-2.json")).expect("fixture");
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("json");
    value["status"] = "hibernatingForTheNight".into();
    value["provisioningType"] = "sharedByTheWholeFloor".into();
    value["someFuturePropertyGraphAdds"] = serde_json::json!({"nested": [1, 2]});
    let pc: CloudPc = serde_json::from_value(value).expect("decodes");
    assert_eq!(
        pc.status,
        Some(CloudPcStatus::Other("hibernatingForTheNight".into()))
    );
    assert_eq!(
        pc.provisioning_type.as_ref().map(ProvisioningType::as_str),
        Some("sharedByTheWholeFloor")
    );
}

#[test]
fn an_entity_with_a_null_id_is_an_error_naming_the_path() {
    let text = r#"{"value":[{"id":"a","userPrincipalName":"a@x.com"},{"id":null,"userPrincipalName":"b@x.com"}]}"#;
    let de = &mut serde_json::Deserializer::from_str(text);
    let err = serde_path_to_error::deserialize::<_, Page<User>>(de).expect_err("null id");
    assert_eq!(err.path().to_string(), "value[1].id");
}

#[derive(Clone, Default)]
struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
