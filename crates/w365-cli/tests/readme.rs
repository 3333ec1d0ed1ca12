//! The README's command examples are executable: every `w365 ...` command in its ```sh and
//! ```console blocks (in console blocks, the lines after `$ `; a trailing `\` continues a line;
//! the quick start's `cargo run --release -- ...` is the same binary) runs, in README order,
//! against one fresh sandbox (XDG_DATA_HOME and the working directory in a temporary folder),
//! with the built binary, and must exit with the documented code.
//!
//! Annotation convention (kept small and explicit):
//! - A trailing shell comment containing `exit N` gives the expected exit code
//!   (`w365 --sandbox assign alice.smith@contoso.com   # already licensed -> exit 6`);
//!   without one the example must succeed (exit 0).
//! - Examples that cannot run here are listed in [`SKIPPED`] with the reason; every entry must
//!   still match an example, so the list cannot go stale.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;

/// Examples that are not run, by their text (as extracted, comment removed), with the reason.
const SKIPPED: &[(&str, &str)] = &[
    (
        "w365 sim serve --port 8080 &",
        "starts a server that runs until stopped (in the background, on a fixed port); \
         cli.rs::sim_serve_announces_working_credentials runs `w365 sim serve` and signs in with \
         what it prints",
    ),
    (
        "w365 sim serve --port 8080 -o json > sim.json &",
        "a background server on a fixed port; sim/tests/admin.rs::the_admin_api_needs_the_admin_key \
         covers the admin key it prints",
    ),
    (
        "w365 sim serve --tls --ca-file /tmp/w365-sim-ca.pem --port 8443 &",
        "a background HTTPS server on a fixed port; sim/tests/tls.rs and conformance/run serve TLS",
    ),
    (
        "w365 --sandbox worker --workers 4",
        "runs workers until stopped; tests/worker_crash.rs runs `w365 worker` processes",
    ),
    (
        "w365 serve --sandbox --port 8365 &",
        "a background server on a fixed port; tests/serve.rs runs `w365 serve --sandbox` on port 0",
    ),
    (
        "w365 --sandbox --server http://127.0.0.1:8365 assign alice.smith@contoso.com",
        "needs the server of the example above and a person approving the device code; \
         tests/serve.rs approves it through the sign-in page",
    ),
    (
        "w365 serve --server-config server.toml --bind 0.0.0.0 --database postgres://w365@db/w365",
        "a real tenant's server config and database host",
    ),
];

/// One command example of the README.
#[derive(Debug)]
struct Example {
    /// 1-based line in README.md.
    line: usize,
    /// The command as written (continuations joined, comment removed).
    text: String,
    /// The arguments after `w365`.
    args: Vec<String>,
    /// `< FILE` and `> FILE` of the example.
    stdin: Option<String>,
    stdout: Option<String>,
    expected: i32,
    /// `cat > FILE <<'TAG'` … `TAG`: a file the following examples read (name, content).
    writes: Option<(String, String)>,
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Splits a shell line into words (single and double quotes, backslash escapes) and the
/// trailing comment.
fn shell_words(line: &str) -> (Vec<String>, Option<String>) {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            word.extend(chars.next());
                        }
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '#' if !in_word => {
                let comment: String = chars.collect();
                return (words, Some(comment.trim().to_owned()));
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    (words, None)
}

/// `exit N` in a comment.
fn expected_exit(comment: Option<&str>) -> i32 {
    let Some(comment) = comment else { return 0 };
    let words: Vec<&str> = comment
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .find(|w| w[0] == "exit")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(0)
}

fn examples(readme: &str) -> Vec<Example> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut block: Option<&str> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(fence) = line.trim_start().strip_prefix("```") {
            block = match block {
                Some(_) => None,
                None => Some(fence.trim()),
            };
            i += 1;
            continue;
        }
        let start = i;
        let text = match block {
            Some("sh") => Some(line.trim_start()),
            Some("console") => line.strip_prefix("$ "),
            _ => None,
        };
        let Some(first) = text else {
            i += 1;
            continue;
        };
        // A here-document writes a file that later examples use: `cat > FILE <<'TAG'`.
        if let Some((file, tag)) = first
            .strip_prefix("cat > ")
            .and_then(|rest| rest.split_once(" <<"))
        {
            let tag = tag.trim().trim_matches(['\'', '"']);
            let mut content = String::new();
            i += 1;
            while i < lines.len() && lines[i].trim() != tag {
                content.push_str(lines[i]);
                content.push('\n');
                i += 1;
            }
            i += 1;
            out.push(Example {
                line: start + 1,
                text: first.to_owned(),
                args: Vec::new(),
                stdin: None,
                stdout: None,
                expected: 0,
                writes: Some((file.trim().to_owned(), content)),
            });
            continue;
        }
        let mut joined = first.to_owned();
        while joined.trim_end().ends_with('\\') && i + 1 < lines.len() {
            let trimmed = joined.trim_end();
            joined = format!("{} {}", &trimmed[..trimmed.len() - 1], lines[i + 1].trim());
            i += 1;
        }
        i += 1;
        let (words, comment) = shell_words(&joined);
        let args: Vec<String> = match words.first().map(String::as_str) {
            Some("w365") => words[1..].to_vec(),
            // `cargo run --release -- ARGS` runs w365 (the quick start); `-p` runs another crate.
            Some("cargo")
                if words.starts_with(&["cargo".into(), "run".into()])
                    && !words.iter().any(|w| w == "-p") =>
            {
                match words.iter().position(|w| w == "--") {
                    Some(dash) => words[dash + 1..].to_vec(),
                    None => continue,
                }
            }
            _ => continue,
        };
        let text = words.join(" ");
        // Redirections: `< FILE` feeds stdin, `> FILE` takes stdout.
        let (mut stdin, mut stdout, mut plain) = (None, None, Vec::new());
        let mut rest = args.into_iter();
        while let Some(word) = rest.next() {
            match word.as_str() {
                "<" => stdin = rest.next(),
                ">" => stdout = rest.next(),
                _ => plain.push(word),
            }
        }
        out.push(Example {
            line: start + 1,
            text,
            args: plain,
            stdin,
            stdout,
            expected: expected_exit(comment.as_deref()),
            writes: None,
        });
    }
    out
}

#[test]
fn the_annotation_convention_parses() {
    let (words, comment) = shell_words(
        r#"w365 --sandbox assign o\'brien@contoso.com --name "a b" 'c d'  # x -> exit 6, ok"#,
    );
    assert_eq!(
        words,
        [
            "w365",
            "--sandbox",
            "assign",
            "o'brien@contoso.com",
            "--name",
            "a b",
            "c d"
        ]
    );
    assert_eq!(expected_exit(comment.as_deref()), 6);
    assert_eq!(expected_exit(Some("the plan, no change")), 0);
    let found = examples(
        "```console\n$ w365 a \\\n    --b \"c d\"   # exit 11\nerror: x\n```\n```sh\ncargo run --release -- x y\ncargo test\n```\n",
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].args, ["a", "--b", "c d"]);
    assert_eq!(found[0].expected, 11);
    assert_eq!(found[1].args, ["x", "y"]);
    let found = examples("```sh\nw365 man > w365.1\nw365 x < /dev/null   # exit 2\n```\n");
    assert_eq!(found[0].args, ["man"]);
    assert_eq!(found[0].stdout.as_deref(), Some("w365.1"));
    assert_eq!(found[1].stdin.as_deref(), Some("/dev/null"));
    assert_eq!(found[1].expected, 2);
}

#[test]
fn every_readme_example_runs_as_shown() {
    let readme = readme();
    let all = examples(&readme);
    assert!(all.len() > 40, "too few examples found: {all:?}");
    for (skipped, _) in SKIPPED {
        assert!(
            all.iter().any(|e| e.text == *skipped),
            "the skip list names an example the README no longer has: {skipped}"
        );
    }
    // The quick start stays exactly two commands.
    let quick = readme
        .split("## Quick start")
        .nth(1)
        .and_then(|s| s.split("```sh").nth(1))
        .and_then(|s| s.split("```").next())
        .unwrap();
    assert_eq!(
        quick.lines().filter(|l| !l.trim().is_empty()).count(),
        2,
        "{quick}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for example in &all {
        if SKIPPED.iter().any(|(s, _)| *s == example.text) {
            continue;
        }
        if let Some((file, content)) = &example.writes {
            std::fs::write(dir.path().join(file), content).unwrap();
            continue;
        }
        let mut cmd = Command::cargo_bin("w365").unwrap();
        cmd.env_clear()
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .current_dir(dir.path())
            .args(&example.args)
            .timeout(Duration::from_secs(120));
        if let Some(file) = &example.stdin {
            cmd.pipe_stdin(dir.path().join(file)).unwrap();
        }
        let out = cmd.output().unwrap();
        if let Some(file) = &example.stdout {
            std::fs::write(dir.path().join(file), &out.stdout).unwrap();
        }
        let code = out.status.code().unwrap_or(-1);
        if code != example.expected {
            failures.push(format!(
                "README.md:{}: `{}` exited {code}, the README says {}\n{}\n{}",
                example.line,
                example.text,
                example.expected,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
