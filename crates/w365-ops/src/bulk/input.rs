//! Reading a bulk file: CSV with a header (delimiter `,`, `;`, tab or `|`, detected from the
//! header) or JSON lines (`.jsonl`), in UTF-8 (with or without BOM) or UTF-16 LE/BE with a BOM (as
//! Excel saves "Unicode text"). The file is streamed: each row keeps only its user, the columns it
//! overrides and its priority.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::Serialize;

/// The columns a bulk file may have (canonical kebab names, as the CLI flags).
pub const COLUMNS: [&str; 10] = [
    "user",
    "provisioning-group",
    "user-settings-group",
    "license-group",
    "provisioning-group-prefix",
    "user-settings-group-prefix",
    "priority",
    "license-group-prefix",
    "notify",
    "message",
];

/// Parameters of the command that hold for the whole run and so cannot be a column: the flag to
/// give instead, and why.
const RUN_WIDE: [(&str, &str); 7] = [
    (
        "ticket-when-out-of-licenses",
        "the run sends one ticket listing every blocked row",
    ),
    (
        "ticket-queue",
        "the run sends one ticket listing every blocked row",
    ),
    (
        "ticket-customer-id",
        "the run sends one ticket listing every blocked row",
    ),
    (
        "from-mailbox",
        "every mail and the ticket of the run go out from one mailbox, checked once before any change",
    ),
    (
        "wait-timeout",
        "one polling loop waits for the Cloud PCs of all rows",
    ),
    (
        "keep-grace-period",
        "`unassign --from` applies it to every row",
    ),
    ("keep-groups", "`unassign --from` applies it to every row"),
];

/// Letters and digits only, lower case: how column names are compared.
fn column_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A run-wide parameter named as a column: (the problem, what to do instead).
fn run_wide_column(name: &str) -> Option<(String, String)> {
    let key = column_key(name);
    if key == "messagefile" {
        return Some((
            "'message-file' cannot be a column: a row gives its mail's text itself".into(),
            "put the text in a 'message' column (at most 3000 characters), or give --message-file for every row".into(),
        ));
    }
    RUN_WIDE
        .iter()
        .find(|(flag, _)| column_key(flag) == key)
        .map(|(flag, why)| {
            (
                format!("'{flag}' cannot be a column: {why}"),
                format!("remove the column and give --{flag} (a job's parameter of the same name) for the whole file"),
            )
        })
}

/// A column, recognised from its kebab (`license-group`), camelCase (`licenseGroup`) or spaced
/// (`License Group`) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    User,
    ProvisioningGroup,
    UserSettingsGroup,
    LicenseGroup,
    ProvisioningGroupPrefix,
    UserSettingsGroupPrefix,
    Priority,
    /// `unassign --from` only.
    LicenseGroupPrefix,
    /// `assign --from`: whether the row's user is mailed when the Cloud PC is ready.
    Notify,
    /// `assign --from`: the text of the row's mail.
    Message,
}

impl Column {
    fn parse(name: &str) -> Option<Self> {
        let key = column_key(name);
        Some(match key.as_str() {
            "user" | "userprincipalname" | "upn" => Column::User,
            "provisioninggroup" => Column::ProvisioningGroup,
            "usersettingsgroup" => Column::UserSettingsGroup,
            "licensegroup" => Column::LicenseGroup,
            "provisioninggroupprefix" => Column::ProvisioningGroupPrefix,
            "usersettingsgroupprefix" => Column::UserSettingsGroupPrefix,
            "priority" => Column::Priority,
            "licensegroupprefix" => Column::LicenseGroupPrefix,
            "notify" => Column::Notify,
            "message" | "custommessage" => Column::Message,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        COLUMNS[self as usize]
    }
}

/// The values a row sets for itself (unset: the command's flags apply).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_settings_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_group_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_settings_group_prefix: Option<String>,
    /// `unassign --from` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_group_prefix: Option<String>,
    /// `assign --from` only: mail this row's user when the Cloud PC is ready (or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<bool>,
    /// `assign --from` only: the text of this row's mail (validated: at most 3000 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A row that names a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRow {
    /// The row number as a spreadsheet shows it (the header is row 1; for JSON lines, the line).
    pub row: u64,
    pub user: String,
    pub overrides: RowOverrides,
    /// Lower goes first when licences run short; rows without one follow, in file order.
    pub priority: Option<i64>,
}

/// A row that cannot be planned, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvalidRow {
    pub row: u64,
    /// The user, when the row names one.
    pub user: Option<String>,
    /// The column at fault, when one is.
    pub column: Option<String>,
    pub problem: String,
    pub fix: String,
}

/// The whole file is unusable: nothing is planned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {problem}; {fix}")]
    File {
        path: String,
        problem: String,
        fix: String,
    },
}

/// Everything read from the file.
#[derive(Debug, Default)]
pub struct ParsedInput {
    pub rows: Vec<InputRow>,
    pub invalid: Vec<InvalidRow>,
    /// Rows with no value at all (skipped).
    pub empty_rows: Vec<u64>,
}

/// Reads a bulk file (JSON lines when it ends in `.jsonl`, CSV otherwise).
pub fn read_file(path: &Path) -> Result<ParsedInput, InputError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| InputError::Read {
        path: shown.clone(),
        source,
    })?;
    let reader = decoded(BufReader::new(file), &shown)?;
    let jsonl = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    if jsonl {
        read_jsonl(reader, &shown)
    } else {
        read_csv(reader, &shown)
    }
}

/// Reads a bulk file's text as submitted to a job (`name` names it in messages): JSON lines when
/// its first character is `{`, CSV otherwise (a leading byte-order mark is ignored).
pub fn read_text(text: &str, name: &str) -> Result<ParsedInput, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let reader: Box<dyn BufRead> = Box::new(io::Cursor::new(text.as_bytes().to_vec()));
    if text.trim_start().starts_with('{') {
        read_jsonl(reader, name)
    } else {
        read_csv(reader, name)
    }
}

/// Reads CSV from a reader that is already UTF-8.
pub fn read_csv(mut reader: Box<dyn BufRead>, path: &str) -> Result<ParsedInput, InputError> {
    let file_err = |problem: String, fix: &str| InputError::File {
        path: path.to_owned(),
        problem,
        fix: fix.to_owned(),
    };
    let mut header = String::new();
    reader
        .read_line(&mut header)
        .map_err(|e| read_err(path, e))?;
    if header.trim().is_empty() {
        return Err(file_err(
            "the file is empty or its first line is blank".into(),
            "the first line must be a header naming the columns, at least 'user'",
        ));
    }
    let delimiter = detect_delimiter(&header);
    let builder = || {
        let mut b = csv::ReaderBuilder::new();
        b.delimiter(delimiter).has_headers(false).flexible(true);
        b
    };
    let headers = builder()
        .from_reader(header.as_bytes())
        .records()
        .next()
        .transpose()
        .map_err(|e| {
            file_err(
                format!("the header cannot be read: {e}"),
                "fix the first line",
            )
        })?
        .unwrap_or_default();
    let mut columns = Vec::with_capacity(headers.len());
    for name in headers.iter() {
        match Column::parse(name) {
            Some(c) if columns.contains(&Some(c)) => {
                return Err(file_err(
                    format!("the column '{}' appears twice in the header", c.name()),
                    "keep one of them",
                ));
            }
            Some(c) => columns.push(Some(c)),
            None if name.trim().is_empty() => columns.push(None),
            None if run_wide_column(name).is_some() => {
                let (problem, fix) = run_wide_column(name).unwrap_or_default();
                return Err(file_err(format!("{problem} (row 1, the header)"), &fix));
            }
            None => {
                return Err(file_err(
                    format!("unknown column '{}' in the header (row 1)", name.trim()),
                    &format!(
                        "the columns are: {} (camelCase names like licenseGroup work too)",
                        COLUMNS.join(", ")
                    ),
                ));
            }
        }
    }
    if !columns.contains(&Some(Column::User)) {
        return Err(file_err(
            format!(
                "the header has no 'user' column (found: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
            "add a 'user' column with the user principal names",
        ));
    }
    let mut out = ParsedInput::default();
    let mut seen = HashMap::new();
    // One line per row, so row numbers are the file's line numbers (blank lines included).
    let mut line = Vec::new();
    let mut row = 1u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| read_err(path, e))?;
        if n == 0 {
            break;
        }
        row += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            out.empty_rows.push(row);
            continue;
        }
        let mut record = csv::ByteRecord::new();
        if text.contains(&b'"') {
            // Quoted values: the CSV parser (building one per line costs, so only here).
            let mut rdr = builder().from_reader(text);
            if let Err(e) = rdr.read_byte_record(&mut record) {
                return Err(file_err(
                    format!("row {row} cannot be read: {e}"),
                    "check the quotes of the row",
                ));
            }
        } else {
            // Without quotes a CSV line is its fields split at the delimiter.
            for field in text.split(|b| *b == delimiter) {
                record.push_field(field);
            }
        }
        if record.len() != columns.len() {
            return Err(file_err(
                format!(
                    "row {row} has {} field(s) but the header has {}",
                    record.len(),
                    columns.len()
                ),
                "every row needs as many fields as the header, separated like the header; quote values that contain the delimiter",
            ));
        }
        let mut fields: Vec<(Column, String)> = Vec::new();
        for (i, raw) in record.iter().enumerate() {
            let Some(Some(column)) = columns.get(i) else {
                continue;
            };
            match std::str::from_utf8(raw) {
                Ok(v) => fields.push((*column, v.trim().to_owned())),
                Err(_) => {
                    return Err(file_err(
                        format!(
                            "row {row} is not valid UTF-8 (the file may be in a legacy code page such as Windows-1252)"
                        ),
                        "save it as 'CSV UTF-8' (Excel) or UTF-16 with a byte-order mark",
                    ));
                }
            }
        }
        push_row(&mut out, &mut seen, row, fields);
    }
    Ok(out)
}

/// Reads JSON lines (one object per line, keys are column names) from a UTF-8 reader.
pub fn read_jsonl(reader: Box<dyn BufRead>, path: &str) -> Result<ParsedInput, InputError> {
    let mut out = ParsedInput::default();
    let mut seen = HashMap::new();
    for (i, line) in reader.lines().enumerate() {
        let row = i as u64 + 1;
        let line = line.map_err(|e| read_err(path, e))?;
        if line.trim().is_empty() {
            out.empty_rows.push(row);
            continue;
        }
        let object = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => {
                out.invalid.push(invalid(
                    row,
                    None,
                    None,
                    "the line is not a JSON object".into(),
                    "write one object per line, e.g. {\"user\": \"ana@contoso.com\"}",
                ));
                continue;
            }
            Err(e) => {
                out.invalid.push(invalid(
                    row,
                    None,
                    None,
                    format!("the line is not valid JSON: {e}"),
                    "write one object per line, e.g. {\"user\": \"ana@contoso.com\"}",
                ));
                continue;
            }
        };
        let mut fields = Vec::new();
        let mut unknown = None;
        let mut run_wide = None;
        for (key, value) in object {
            let Some(column) = Column::parse(&key) else {
                match run_wide_column(&key) {
                    Some(why) => run_wide = Some((key, why)),
                    None => unknown = Some(key),
                }
                break;
            };
            let text = match value {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.trim().to_owned(),
                serde_json::Value::Number(n) => n.to_string(),
                other => other.to_string(),
            };
            fields.push((column, text));
        }
        if let Some((key, (problem, fix))) = run_wide {
            out.invalid
                .push(invalid(row, None, Some(key), problem, &fix));
            continue;
        }
        if let Some(key) = unknown {
            out.invalid.push(invalid(
                row,
                None,
                Some(key.clone()),
                format!("unknown key '{key}'"),
                &format!("the keys are: {}", COLUMNS.join(", ")),
            ));
            continue;
        }
        push_row(&mut out, &mut seen, row, fields);
    }
    Ok(out)
}

fn invalid(
    row: u64,
    user: Option<String>,
    column: Option<String>,
    problem: String,
    fix: &str,
) -> InvalidRow {
    InvalidRow {
        row,
        user,
        column,
        problem,
        fix: fix.to_owned(),
    }
}

fn push_row(
    out: &mut ParsedInput,
    seen: &mut HashMap<String, u64>,
    row: u64,
    fields: Vec<(Column, String)>,
) {
    if fields.iter().all(|(_, v)| v.is_empty()) {
        out.empty_rows.push(row);
        return;
    }
    let user = fields
        .iter()
        .find(|(c, _)| *c == Column::User)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let named = Some(user.clone()).filter(|u| !u.is_empty());
    if user.is_empty() {
        out.invalid.push(invalid(
            row,
            None,
            Some("user".into()),
            "the user is empty".into(),
            "put the user principal name in the 'user' column, or delete the row",
        ));
        return;
    }
    if let Err(e) = crate::cloud_pc::validate_upn(&user) {
        out.invalid.push(invalid(
            row,
            named,
            Some("user".into()),
            e.to_string(),
            "use the user principal name, e.g. ana@contoso.com",
        ));
        return;
    }
    if let Some(first) = seen.get(&user.to_lowercase()) {
        out.invalid.push(invalid(
            row,
            named,
            Some("user".into()),
            format!("{user} already appears in row {first}"),
            "keep one row per user",
        ));
        return;
    }
    let mut overrides = RowOverrides::default();
    let mut priority = None;
    for (column, value) in fields {
        if value.is_empty() {
            continue;
        }
        let slot = match column {
            Column::User => continue,
            Column::Priority => {
                match value.parse::<i64>() {
                    Ok(p) => priority = Some(p),
                    Err(_) => {
                        out.invalid.push(invalid(
                            row,
                            named,
                            Some("priority".into()),
                            format!("priority '{value}' is not a whole number"),
                            "use 1 for the first, 2 for the next, ... or leave it empty",
                        ));
                        return;
                    }
                }
                continue;
            }
            Column::Notify => {
                match parse_bool(&value) {
                    Some(b) => overrides.notify = Some(b),
                    None => {
                        out.invalid.push(invalid(
                            row,
                            named,
                            Some("notify".into()),
                            format!("notify '{value}' is not true or false"),
                            "write true or false (yes/no, 1/0 work too), or leave it empty to follow --notify",
                        ));
                        return;
                    }
                }
                continue;
            }
            Column::Message => {
                if let Err(e) = crate::mail::validate_custom_message(&value) {
                    out.invalid.push(invalid(
                        row,
                        named,
                        Some("message".into()),
                        e.to_string(),
                        "shorten the message (the mail's text, at most 3000 characters), or leave it empty for --message",
                    ));
                    return;
                }
                &mut overrides.message
            }
            Column::ProvisioningGroup => &mut overrides.provisioning_group,
            Column::UserSettingsGroup => &mut overrides.user_settings_group,
            Column::LicenseGroup => &mut overrides.license_group,
            Column::ProvisioningGroupPrefix => &mut overrides.provisioning_group_prefix,
            Column::UserSettingsGroupPrefix => &mut overrides.user_settings_group_prefix,
            Column::LicenseGroupPrefix => &mut overrides.license_group_prefix,
        };
        *slot = Some(value);
    }
    seen.insert(user.to_lowercase(), row);
    out.rows.push(InputRow {
        row,
        user,
        overrides,
        priority,
    });
}

/// A yes/no cell: `true`/`false`, `yes`/`no`, `1`/`0` (any case).
fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

fn read_err(path: &str, source: io::Error) -> InputError {
    if source.kind() == io::ErrorKind::InvalidData {
        return InputError::File {
            path: path.to_owned(),
            problem: format!("the text cannot be decoded: {source}"),
            fix: "save the file as 'CSV UTF-8' (Excel) or UTF-16 with a byte-order mark".into(),
        };
    }
    InputError::Read {
        path: path.to_owned(),
        source,
    }
}

/// The delimiter the header uses most (outside quotes): `,` `;` tab or `|`; `,` for one column.
fn detect_delimiter(header: &str) -> u8 {
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for b in header.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(i) = candidates.iter().position(|c| *c == b) {
            counts[i] += 1;
        }
    }
    let (best, n) = counts
        .iter()
        .enumerate()
        .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))
        .map(|(i, n)| (i, *n))
        .unwrap_or((0, 0));
    if n == 0 { b',' } else { candidates[best] }
}

/// A UTF-8 reader for the file: a UTF-8 BOM is skipped, UTF-16 with a BOM is transcoded while
/// streaming; UTF-16 without a BOM is refused (it cannot be told apart reliably).
pub fn decoded(mut inner: BufReader<File>, path: &str) -> Result<Box<dyn BufRead>, InputError> {
    let head = inner.fill_buf().map_err(|e| read_err(path, e))?.to_vec();
    match head.as_slice() {
        [0xEF, 0xBB, 0xBF, ..] => {
            inner.consume(3);
            Ok(Box::new(inner))
        }
        [0xFF, 0xFE, ..] => {
            inner.consume(2);
            Ok(Box::new(BufReader::new(Utf16Reader::new(inner, false))))
        }
        [0xFE, 0xFF, ..] => {
            inner.consume(2);
            Ok(Box::new(BufReader::new(Utf16Reader::new(inner, true))))
        }
        [a, 0, b, 0, ..] | [0, a, 0, b, ..] if a.is_ascii() && b.is_ascii() => {
            Err(InputError::File {
                path: path.to_owned(),
                problem: "the file looks like UTF-16 without a byte-order mark".into(),
                fix: "save it as 'CSV UTF-8' or as UTF-16 with a byte-order mark".into(),
            })
        }
        _ => Ok(Box::new(inner)),
    }
}

/// Transcodes UTF-16 to UTF-8 as it is read (bounded buffers, surrogate pairs across reads).
struct Utf16Reader<R> {
    inner: R,
    big_endian: bool,
    pending: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<R: Read> Utf16Reader<R> {
    fn new(inner: R, big_endian: bool) -> Self {
        Utf16Reader {
            inner,
            big_endian,
            pending: Vec::new(),
            out: Vec::new(),
            pos: 0,
            eof: false,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 8192];
        while self.pos >= self.out.len() && !self.eof {
            self.out.clear();
            self.pos = 0;
            let n = self.inner.read(&mut buf)?;
            if n == 0 {
                self.eof = true;
                if !self.pending.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the UTF-16 text ends in the middle of a character",
                    ));
                }
                return Ok(());
            }
            self.pending.extend_from_slice(&buf[..n]);
            let even = self.pending.len() / 2 * 2;
            let mut units: Vec<u16> = self.pending[..even]
                .chunks_exact(2)
                .map(|c| {
                    if self.big_endian {
                        u16::from_be_bytes([c[0], c[1]])
                    } else {
                        u16::from_le_bytes([c[0], c[1]])
                    }
                })
                .collect();
            self.pending.drain(..even);
            // A high surrogate at the end waits for its pair.
            if let Some(&last) = units.last()
                && (0xD800..0xDC00).contains(&last)
            {
                units.pop();
                let bytes = if self.big_endian {
                    last.to_be_bytes()
                } else {
                    last.to_le_bytes()
                };
                let mut rest = bytes.to_vec();
                rest.extend_from_slice(&self.pending);
                self.pending = rest;
            }
            for c in char::decode_utf16(units) {
                let c = c.map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "the file is not valid UTF-16")
                })?;
                let mut b = [0u8; 4];
                self.out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Utf16Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.refill()?;
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn parse(bytes: &[u8], name: &str) -> Result<ParsedInput, InputError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        read_file(&path)
    }

    fn utf16(text: &str, be: bool) -> Vec<u8> {
        let mut out = if be {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for u in text.encode_utf16() {
            out.extend_from_slice(&if be { u.to_be_bytes() } else { u.to_le_bytes() });
        }
        out
    }

    const TEXT: &str = "user;License Group;priority\nana@contoso.com;\"lic - X\";2\n\nbo@contoso.com;;\n;;\nANA@contoso.com;;\nnot-a-upn;;\nzoë@contoso.com;;x\n";

    fn check(p: &ParsedInput) {
        let users: Vec<_> = p.rows.iter().map(|r| (r.row, r.user.as_str())).collect();
        assert_eq!(users, [(2, "ana@contoso.com"), (4, "bo@contoso.com")]);
        assert_eq!(
            p.rows[0].overrides.license_group.as_deref(),
            Some("lic - X")
        );
        assert_eq!(p.rows[0].priority, Some(2));
        assert_eq!(p.empty_rows, [3, 5]);
        let invalid: Vec<_> = p
            .invalid
            .iter()
            .map(|i| (i.row, i.column.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(invalid, [(6, "user"), (7, "user"), (8, "priority")]);
        assert!(p.invalid[0].problem.contains("row 2"), "{:?}", p.invalid[0]);
    }

    #[test]
    fn utf8_with_and_without_bom_and_utf16_le_be_read_the_same() {
        check(&parse(TEXT.as_bytes(), "a.csv").unwrap());
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(TEXT.as_bytes());
        check(&parse(&bom, "a.csv").unwrap());
        check(&parse(&utf16(TEXT, false), "a.csv").unwrap());
        check(&parse(&utf16(TEXT, true), "a.csv").unwrap());
    }

    #[test]
    fn bad_files_are_refused_with_the_row_and_the_fix() {
        let e = parse(b"user,colour\na@contoso.com,red\n", "a.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown column 'colour'") && e.contains("license-group"),
            "{e}"
        );
        let e = parse(b"user,license-group\na@contoso.com\n", "a.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("row 2 has 1 field(s) but the header has 2"),
            "{e}"
        );
        let e = parse(b",license-group\n,x\n", "a.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no 'user' column"), "{e}");
        let e = parse(b"user\nana@contoso.com\nb\xe9@contoso.com\n", "a.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 3 is not valid UTF-8"), "{e}");
        let e = parse(&utf16(TEXT, false)[2..], "a.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("UTF-16 without a byte-order mark"), "{e}");
    }

    #[test]
    fn json_lines_use_the_same_columns() {
        let p = parse(
            b"{\"user\":\"ana@contoso.com\",\"licenseGroup\":\"lic - X\",\"priority\":1}\n\n{\"user\":\"b@contoso.com\",\"colour\":1}\n[1]\n",
            "a.jsonl",
        )
        .unwrap();
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].priority, Some(1));
        assert_eq!(p.empty_rows, [2]);
        assert_eq!(p.invalid.len(), 2);
        assert_eq!(p.invalid[0].column.as_deref(), Some("colour"));
    }
}
