//! The shape of the workspace's tests: with `autotests = false`, a file in a crate's tests/ that
//! neither its tests/suite.rs declares nor its manifest names as a test target of its own would
//! never be compiled, and its tests would silently not run.

use std::path::Path;

#[test]
fn every_test_file_is_in_its_suite() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut missing = Vec::new();
    let mut suites = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path().join("tests");
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        let suite = std::fs::read_to_string(dir.join("suite.rs")).unwrap_or_default();
        let manifest = std::fs::read_to_string(dir.join("../Cargo.toml")).unwrap();
        let declared: Vec<&str> = suite
            .lines()
            .filter_map(|l| l.trim().strip_prefix("mod "))
            .filter_map(|l| l.strip_suffix(';'))
            .collect();
        for file in files {
            let path = file.unwrap().path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".rs"))
            else {
                continue;
            };
            // A file may also be a test target of its own, named in the manifest.
            let own_target = manifest.contains(&format!("path = \"tests/{name}.rs\""));
            if name != "suite" && !declared.contains(&name) && !own_target {
                missing.push(path.display().to_string());
            }
        }
        if !suite.is_empty() {
            suites += 1;
            assert!(
                manifest.contains("autotests = false") && manifest.contains("tests/suite.rs"),
                "{} has a tests/suite.rs but does not build it as its one test target",
                dir.display()
            );
        }
    }
    assert!(
        suites >= 8,
        "only {suites} suites found under {}",
        crates.display()
    );
    assert!(
        missing.is_empty(),
        "test files that no tests/suite.rs declares (add `mod NAME;` to it): {missing:?}"
    );
}
