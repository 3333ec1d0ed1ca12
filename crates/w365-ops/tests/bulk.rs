//! `assign --from FILE` (bulk) against the simulator over HTTP: planning with few reads, the
//! exact rows blocked by the free units, batched execution, one ticket, a 429 storm, resuming.

use std::path::{Path, PathBuf};
use std::time::Duration;

use w365_ops::assign::AssignOptions;
use w365_ops::bulk::{self, BulkOptions, BulkPlan, Outcome, input};
use w365_ops::execute::{Silent, Waits};
use w365_sim::seed::{SeedFile, SeedUser};
use w365_sim::{FaultRule, Seed};
use w365_testkit::TestSim;

use crate::common::{mails_to, set_frontline_allotment};

const LIC_128: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";

/// Contoso plus `n` generated users (bulk0..) with mailboxes.
async fn sim_with_users(n: usize) -> TestSim {
    let mut seed = SeedFile::contoso();
    for i in 0..n {
        seed.users.push(SeedUser {
            user_principal_name: format!("bulk{i}@contoso.com"),
            display_name: format!("Bulk User {i}"),
            given_name: None,
            surname: None,
            mail: None,
            mailbox: true,
            account_enabled: true,
            usage_location: Some("US".into()),
            job_title: None,
            department: None,
            user_type: None,
        });
    }
    TestSim::start(TestSim::manual_config(Seed::Data(Box::new(seed)))).await
}

fn opts(ticket: bool) -> BulkOptions {
    let mut base = AssignOptions::new("unused@contoso.com", "bulk test").with_sandbox_defaults();
    base.waits = Waits::uniform(Duration::from_millis(5), Duration::from_secs(60));
    if ticket {
        base.ticket_when_out_of_licenses = true;
        base.ticket_queue = Some("support@contoso.com".into());
    }
    BulkOptions {
        base,
        strict: false,
        journal: None,
        pacer: w365_graph::WritePacer::default(),
    }
}

/// 24 new users (20 units of the 128 GB SKU are free), the last one with priority 1; a user who
/// already holds the licence; an unknown user; a duplicate; a bad UPN; an empty row.
fn write_file(dir: &Path) -> PathBuf {
    let mut text = String::from("user,priority\n");
    for i in 0..24 {
        let p = if i == 23 { "1" } else { "" };
        text.push_str(&format!("bulk{i}@contoso.com,{p}\n"));
    }
    text.push_str("alice.smith@contoso.com,\n"); // row 26: seeded member of the licence group
    text.push_str("nobody@contoso.com,\n"); // row 27
    text.push_str("BULK0@contoso.com,\n"); // row 28: duplicate of row 2
    text.push_str("not-a-upn,\n"); // row 29
    text.push_str(",\n"); // row 30: empty
    let path = dir.join("users.csv");
    std::fs::write(&path, text).unwrap();
    path
}

async fn plan_file(sim: &TestSim, path: &Path, o: &BulkOptions) -> BulkPlan {
    let parsed = input::read_file(path).unwrap();
    bulk::plan(&sim.client(), o, parsed, path, &Silent)
        .await
        .unwrap()
}

fn outcome_of(plan_rows: &[bulk::RowResult], row: u64) -> Outcome {
    plan_rows.iter().find(|r| r.row == row).unwrap().outcome
}

fn writes(sim: &TestSim) -> usize {
    sim.sim()
        .request_log()
        .iter()
        .filter(|r| {
            (r.path.starts_with("/v1.0/") || r.path.starts_with("/beta/"))
                && r.method != "GET"
                && !r.path.ends_with("/$batch")
        })
        .count()
}

/// Answers the simulator gave with 429.
fn throttled(sim: &TestSim) -> usize {
    sim.sim()
        .request_log()
        .iter()
        .filter(|r| r.status == 429)
        .count()
}

async fn license_members(sim: &TestSim) -> Vec<String> {
    let client = sim.client();
    let g = client.groups().find_by_display_name(LIC_128).await.unwrap();
    client
        .groups()
        .members(&g[0].id)
        .collect_all()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| m.user_principal_name)
        .collect()
}

#[tokio::test]
async fn the_plan_says_row_by_row_what_happens_with_few_reads_and_no_write() {
    let sim = sim_with_users(24).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path());
    let plan = plan_file(&sim, &path, &opts(false)).await;
    // Priority 1 (row 25) goes first, then file order: rows 2..=20 get the other 19 units.
    for row in 2..=20 {
        assert_eq!(outcome_of(&plan.rows, row), Outcome::Assign, "row {row}");
    }
    assert_eq!(outcome_of(&plan.rows, 25), Outcome::Assign);
    for row in 21..=24 {
        assert_eq!(outcome_of(&plan.rows, row), Outcome::Blocked, "row {row}");
    }
    let blocked = plan.rows.iter().find(|r| r.row == 21).unwrap();
    assert!(
        blocked.detail.contains("20 free CPC_E_2C_4GB_128GB"),
        "{}",
        blocked.detail
    );
    let megan = plan.rows.iter().find(|r| r.row == 26).unwrap();
    assert_eq!(megan.outcome, Outcome::AlreadyAssigned);
    assert!(
        megan.detail.contains("CPC_E_2C_4GB_128GB"),
        "{}",
        megan.detail
    );
    for (row, column) in [(27, "user"), (28, "user"), (29, "user")] {
        let r = plan.rows.iter().find(|r| r.row == row).unwrap();
        assert_eq!(r.outcome, Outcome::Invalid, "row {row}");
        assert_eq!(r.column.as_deref(), Some(column));
        assert!(r.fix.is_some());
    }
    assert_eq!(plan.empty_rows, [30]);
    assert_eq!(plan.capacity[0].available, 20);
    assert_eq!(
        (plan.capacity[0].planned, plan.capacity[0].blocked),
        (20, 4)
    );
    assert_eq!(writes(&sim), 0, "planning only reads");
    // users (2 `in` GETs) + memberOf (25 GETs) in batches, groups, SKUs, policy: a handful.
    assert!(plan.graph_requests <= 8, "{} requests", plan.graph_requests);
}

async fn run_file(sim: &TestSim, path: &Path, o: &BulkOptions) -> bulk::BulkReport {
    let plan = plan_file(sim, path, o).await;
    let _clock = sim.drive_clock(Duration::from_secs(30), Duration::from_millis(5));
    bulk::execute(&sim.client(), o, plan, &Silent, &())
        .await
        .unwrap()
}

fn check_run(report: &bulk::BulkReport) {
    let assigned: Vec<u64> = report
        .rows
        .iter()
        .filter(|r| r.outcome == Outcome::Assigned)
        .map(|r| r.row)
        .collect();
    let mut expected: Vec<u64> = (2..=20).collect();
    expected.push(25);
    assert_eq!(assigned, expected);
    assert_eq!(
        report
            .rows
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .count(),
        0,
        "{:?}",
        report.rows
    );
}

#[tokio::test]
async fn a_run_assigns_in_batches_and_sends_one_ticket_for_every_blocked_row() {
    let sim = sim_with_users(24).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path());
    let report = run_file(&sim, &path, &opts(true)).await;
    check_run(&report);
    let members = license_members(&sim).await;
    for i in (0..19).chain([23]) {
        assert!(members.contains(&format!("bulk{i}@contoso.com")), "bulk{i}");
    }
    for i in 19..23 {
        assert!(
            !members.contains(&format!("bulk{i}@contoso.com")),
            "bulk{i} is blocked"
        );
    }
    let outbox = sim.sim().outbox();
    assert_eq!(outbox.len(), 1, "one ticket for the run");
    for i in 19..23 {
        assert!(
            outbox[0].body.contains(&format!("bulk{i}@contoso.com")),
            "{}",
            outbox[0].body
        );
    }
    // Writes: 3 groups' binds in batches; no per-user request.
    assert!(
        report.graph_requests < 40,
        "{} requests",
        report.graph_requests
    );

    // A second run converges: nothing left to do, nothing written, no second ticket: the
    // blocked rows are still blocked, and the journal says their users were in the ticket.
    let before = writes(&sim);
    let again = run_file(&sim, &path, &opts(true)).await;
    assert_eq!(writes(&sim), before, "a re-run writes nothing");
    assert!(
        again
            .rows
            .iter()
            .filter(|r| r.row <= 20 || r.row == 25)
            .all(|r| r.outcome == Outcome::Assigned),
        "{:?}",
        again.rows
    );
    assert_eq!(sim.sim().outbox().len(), 1, "the ticket is not sent again");
    assert_eq!(again.ticket_sent_to.as_deref(), Some("support@contoso.com"));
}

#[tokio::test]
async fn a_storm_of_429s_at_ten_percent_loses_no_row_and_does_none_twice() {
    let sim = sim_with_users(24).await;
    sim.sim().set_faults(vec![FaultRule {
        method: None,
        path: Some("/v1.0/*".into()),
        tenant: None,
        action: w365_sim::faults::FaultAction::Status {
            status: 429,
            retry_after_secs: Some(0),
            http_date: false,
        },
        trigger: w365_sim::faults::Trigger::Probability { p: 0.1, seed: 7 },
    }]);
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path());
    let report = run_file(&sim, &path, &opts(true)).await;
    check_run(&report);
    let throttled = throttled(&sim);
    assert!(throttled > 0, "the storm hit");
    let members = license_members(&sim).await;
    let mut unique = members.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), members.len());
    assert_eq!(sim.sim().outbox().len(), 1, "one ticket, not one per retry");
}

#[tokio::test]
async fn an_interrupted_run_resumes_from_its_journal_and_converges() {
    let sim = sim_with_users(24).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path());
    let o = opts(true);
    let journal = bulk::default_journal(&path);
    // Slow batches, so the run can be stopped between its steps.
    sim.sim().set_faults(vec![FaultRule {
        method: Some("POST".into()),
        path: Some("/v1.0/$batch".into()),
        tenant: None,
        action: w365_sim::faults::FaultAction::Latency(300),
        trigger: w365_sim::faults::Trigger::Always,
    }]);
    let plan = plan_file(&sim, &path, &o).await;
    let client = sim.client();
    let clock = sim.drive_clock(Duration::from_secs(30), Duration::from_millis(5));
    let o2 = o.clone();
    let run = tokio::spawn(async move { bulk::execute(&client, &o2, plan, &Silent, &()).await });
    // Stop it (like Ctrl-C or kill) once the memberships are journaled, before the licences.
    loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        if text.contains("\"groups\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    run.abort();
    let _ = run.await;
    drop(clock);
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        !text.contains("\"confirmed\""),
        "interrupted before the licences: {text}"
    );
    sim.sim().set_faults(Vec::new());
    // The same command again: continues and converges; nothing done twice.
    let report = run_file(&sim, &path, &o).await;
    check_run(&report);
    let members = license_members(&sim).await;
    let mut unique = members.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), members.len());
    assert_eq!(sim.sim().outbox().len(), 1, "the ticket is sent once");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains("\"confirmed\""), "{text}");
}

#[tokio::test]
async fn strict_refuses_a_file_with_invalid_rows_before_any_change() {
    let sim = sim_with_users(24).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path());
    let mut o = opts(false);
    o.strict = true;
    let plan = plan_file(&sim, &path, &o).await;
    let err = bulk::execute(&sim.client(), &o, plan, &Silent, &())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("3 invalid row(s) and --strict") && err.contains("row 27"),
        "{err}"
    );
    assert_eq!(writes(&sim), 0);
    assert!(sim.sim().outbox().is_empty());
}

#[tokio::test]
async fn a_small_write_budget_makes_the_run_wait_instead_of_being_throttled() {
    use std::sync::Arc;
    use w365_graph::limits::{ManualClock, PaceClock};
    use w365_graph::{WritePace, WritePacer};
    let sim = sim_with_users(24).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path());
    // One directory write per 10 s (a burst of one), on a manual clock: waits cost no real time.
    let pace = WritePace {
        burst: 1,
        refill_per_hour: 360,
    };
    let clock = Arc::new(ManualClock::default());
    let mut o = opts(false);
    o.pacer = WritePacer::with_clock(pace, clock.clone());
    let report = run_file(&sim, &path, &o).await;
    check_run(&report);
    // Every write went through the pacer: the provisioning and user-settings binds, then the
    // licence group's (20 users: one PATCH per group).
    assert_eq!(o.pacer.granted(), writes(&sim) as u64);
    assert_eq!(o.pacer.granted(), 3);
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(10), Duration::from_secs(10)],
        "the 2nd and 3rd writes waited for the budget"
    );
    assert_eq!(clock.now(), Duration::from_secs(20));
    for window in [1, 10, 60] {
        let w = Duration::from_secs(window);
        assert!(o.pacer.peak_in(w) <= pace.max_in(w), "window {window}s");
    }
    let throttled = throttled(&sim);
    assert_eq!(throttled, 0);
}

fn cloud_pc_lists(sim: &TestSim) -> usize {
    sim.sim()
        .request_log()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/virtualEndpoint/cloudPCs"))
        .count()
}

/// Contoso with its Windows 365 policies, plus `n` generated users (licences scaled).
async fn sim_with_policies(n: usize) -> TestSim {
    TestSim::start(TestSim::manual_config(Seed::ContosoWithUsers(n))).await
}

fn generated(i: usize) -> String {
    SeedFile::generated_upn(i)
}

/// A file naming the generated users `1..=n`.
fn generated_file(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::from("user\n");
    for i in 1..=n {
        text.push_str(&generated(i));
        text.push('\n');
    }
    let path = dir.join("generated.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// Plans and runs a file while the virtual clock runs fast enough for Cloud PCs to provision.
async fn run_provisioning(sim: &TestSim, path: &Path, o: &BulkOptions) -> bulk::BulkReport {
    let plan = plan_file(sim, path, o).await;
    let _clock = sim.drive_clock(Duration::from_secs(300), Duration::from_millis(5));
    bulk::execute(&sim.client(), o, plan, &Silent, &())
        .await
        .unwrap()
}

#[tokio::test]
async fn notify_mails_each_user_once_when_the_cloud_pc_is_ready_from_one_polling_loop() {
    let sim = sim_with_policies(6).await;
    let dir = tempfile::tempdir().unwrap();
    let path = generated_file(dir.path(), 6);
    let mut o = opts(false);
    o.base.notify = true;
    let report = run_provisioning(&sim, &path, &o).await;
    for i in 1..=6 {
        let upn = generated(i);
        let row = report.rows.iter().find(|r| r.user == upn).unwrap();
        assert_eq!(row.outcome, Outcome::Assigned, "{row:?}");
        assert_eq!(mails_to(&sim, &upn), 1, "{row:?}");
        assert!(row.cloud_pc.is_some(), "{row:?}");
        assert!(
            row.mail.as_deref().is_some_and(|m| m.contains("mail sent")),
            "{row:?}"
        );
    }
    assert_eq!(sim.sim().outbox().len(), 6);
    assert!(
        sim.sim()
            .outbox()
            .iter()
            .all(|m| m.subject == "Your Cloud PC is ready")
    );
    // One list per check for all six users, not one poll per user and check.
    let lists = cloud_pc_lists(&sim);
    assert!(lists >= 1, "{lists} Cloud PC lists");

    // The same command again: nobody is mailed twice.
    let again = run_provisioning(&sim, &path, &o).await;
    assert_eq!(sim.sim().outbox().len(), 6);
    let row = again.rows.iter().find(|r| r.row == 2).unwrap();
    assert_eq!(row.outcome, Outcome::Assigned);
    assert!(
        row.mail
            .as_deref()
            .is_some_and(|m| m.contains("earlier run")),
        "{row:?}"
    );
}

#[tokio::test]
async fn a_mail_begun_but_not_recorded_as_sent_is_reported_unknown_and_not_resent() {
    let sim = sim_with_policies(3).await;
    let dir = tempfile::tempdir().unwrap();
    let path = generated_file(dir.path(), 3);
    // A run without --notify assigns everyone...
    run_provisioning(&sim, &path, &opts(false)).await;
    // ...then a run with --notify was killed while mailing the first user (journal: "begun").
    let journal = bulk::default_journal(&path);
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text.push_str(&format!(
        "{{\"user\":\"{}\",\"step\":\"mailing\"}}\n",
        generated(1)
    ));
    std::fs::write(&journal, text).unwrap();
    let mut o = opts(false);
    o.base.notify = true;
    let report = run_provisioning(&sim, &path, &o).await;
    assert_eq!(mails_to(&sim, &generated(1)), 0, "not resent");
    let row = report.rows.iter().find(|r| r.row == 2).unwrap();
    assert!(
        row.mail
            .as_deref()
            .is_some_and(|m| m.contains("outcome unknown, not resent")),
        "{row:?}"
    );
    assert_eq!(mails_to(&sim, &generated(2)), 1);
    assert_eq!(sim.sim().outbox().len(), 2);
}

const FRONTLINE: &str = "cfg - Windows 365 - Frontline - Shift A";

#[tokio::test]
async fn frontline_rows_get_seats_over_the_whole_file_and_the_rest_are_in_the_one_ticket() {
    let sim = sim_with_policies(8).await;
    // Two licences in dedicated mode: six Cloud PCs; Kate and Liam hold two: four free seats.
    set_frontline_allotment(&sim, FRONTLINE, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frontline.csv");
    let mut text = String::from("user,provisioning-group\n");
    for i in 1..=6 {
        text.push_str(&format!("{},{FRONTLINE}\n", generated(i))); // rows 2..=7
    }
    text.push_str(&format!("{},\n", generated(7))); // row 8: the dedicated path
    text.push_str(&format!("kate.thomas@contoso.com,{FRONTLINE}\n")); // row 9
    std::fs::write(&path, text).unwrap();
    let o = opts(true);
    let plan = plan_file(&sim, &path, &o).await;
    for row in 2..=5 {
        assert_eq!(outcome_of(&plan.rows, row), Outcome::Assign, "row {row}");
    }
    for row in 6..=7 {
        let r = plan.rows.iter().find(|r| r.row == row).unwrap();
        assert_eq!(r.outcome, Outcome::Blocked, "row {row}");
        assert!(r.detail.contains("Frontline seats"), "{}", r.detail);
    }
    assert_eq!(outcome_of(&plan.rows, 8), Outcome::Assign);
    assert_eq!(outcome_of(&plan.rows, 9), Outcome::AlreadyAssigned);
    let seats = plan
        .capacity
        .iter()
        .find(|c| c.sku.contains(FRONTLINE))
        .expect("the seats");
    assert_eq!((seats.available, seats.planned, seats.blocked), (4, 4, 2));

    let _clock = sim.drive_clock(Duration::from_secs(30), Duration::from_millis(5));
    let report = bulk::execute(&sim.client(), &o, plan, &Silent, &())
        .await
        .unwrap();
    for row in (2..=5).chain([8]) {
        assert_eq!(
            outcome_of(&report.rows, row),
            Outcome::Assigned,
            "row {row}"
        );
    }
    let client = sim.client();
    let group = client
        .groups()
        .find_by_display_name(FRONTLINE)
        .await
        .unwrap();
    let members: Vec<String> = client
        .groups()
        .members(&group[0].id)
        .collect_all()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| m.user_principal_name)
        .collect();
    for i in 1..=4 {
        assert!(members.contains(&generated(i)), "{}", generated(i));
    }
    for i in 5..=6 {
        assert!(!members.contains(&generated(i)), "{}", generated(i));
    }
    // The Frontline rows are not licensed through the licence group.
    assert!(!license_members(&sim).await.contains(&generated(1)));
    let outbox = sim.sim().outbox();
    assert_eq!(outbox.len(), 1, "one ticket for the run");
    assert!(
        outbox[0].subject.contains("licenses/seats"),
        "{}",
        outbox[0].subject
    );
    for i in 5..=6 {
        assert!(outbox[0].body.contains(&generated(i)), "{}", outbox[0].body);
    }
}

/// The `notify` and `message` columns override `--notify` and `--message` for their row, in CSV
/// and in JSON lines; a bad value is an invalid row (row, column, fix), and a run-wide parameter
/// named as a column is refused with the flag to give instead.
#[test]
fn notify_and_message_columns_are_read_per_row_and_run_wide_parameters_are_refused() {
    let long = "x".repeat(3001);
    let csv = format!(
        "user,notify,message\n\
         a@contoso.com,yes,Hello A\n\
         b@contoso.com,FALSE,\n\
         c@contoso.com,maybe,\n\
         d@contoso.com,,{long}\n\
         e@contoso.com,,\n"
    );
    let jsonl = format!(
        "{{\"user\": \"a@contoso.com\", \"notify\": true, \"message\": \"Hello A\"}}\n\
         {{\"user\": \"b@contoso.com\", \"notify\": false}}\n\
         {{\"user\": \"c@contoso.com\", \"notify\": \"maybe\"}}\n\
         {{\"user\": \"d@contoso.com\", \"customMessage\": \"{long}\"}}\n\
         {{\"user\": \"e@contoso.com\"}}\n\
         {{\"user\": \"f@contoso.com\", \"ticketQueue\": \"it@contoso.com\"}}\n"
    );
    for (text, first) in [(csv, 2), (jsonl, 1)] {
        let parsed = input::read_text(&text, "rows").unwrap();
        let rows: Vec<(u64, &str, Option<bool>, Option<&str>)> = parsed
            .rows
            .iter()
            .map(|r| {
                (
                    r.row,
                    r.user.as_str(),
                    r.overrides.notify,
                    r.overrides.message.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (first, "a@contoso.com", Some(true), Some("Hello A")),
                (first + 1, "b@contoso.com", Some(false), None),
                (first + 4, "e@contoso.com", None, None),
            ]
        );
        let bad: Vec<(u64, &str)> = parsed
            .invalid
            .iter()
            .map(|i| (i.row, i.column.as_deref().unwrap_or("")))
            .collect();
        let mut want = vec![(first + 2, "notify"), (first + 3, "message")];
        if first == 1 {
            want.push((first + 5, "ticketQueue"));
        }
        assert_eq!(bad, want, "{:#?}", parsed.invalid);
        let notify = &parsed.invalid[0];
        assert!(notify.problem.contains("'maybe'"), "{notify:?}");
        assert!(notify.fix.contains("true or false"), "{notify:?}");
        let message = &parsed.invalid[1];
        assert!(message.problem.contains("3001"), "{message:?}");
        assert!(message.fix.contains("at most 3000"), "{message:?}");
        if first == 1 {
            let queue = &parsed.invalid[2];
            assert!(
                queue.problem.contains("'ticket-queue' cannot be a column")
                    && queue.problem.contains("one ticket"),
                "{queue:?}"
            );
            assert!(queue.fix.contains("--ticket-queue"), "{queue:?}");
        }
    }
    for (column, flag) in [
        ("ticket-queue", "--ticket-queue"),
        ("fromMailbox", "--from-mailbox"),
        ("Wait Timeout", "--wait-timeout"),
    ] {
        let e = input::read_text(&format!("user,{column}\na@contoso.com,x\n"), "rows")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot be a column") && e.contains("row 1"),
            "{e}"
        );
        assert!(e.contains(&format!("give {flag}")), "{e}");
    }
}

/// Per row against the simulator: a row's `notify` and `message` win over the flags, a row
/// without them follows the flags, and a message on a row that sends no mail is invalid.
#[tokio::test]
async fn notify_and_message_columns_override_the_flags_for_their_row() {
    let sim = sim_with_policies(4).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("columns.csv");
    let text = format!(
        "user,notify,message\n{},,Welcome one\n{},,\n{},false,\n{},no,Hi\n",
        generated(1),
        generated(2),
        generated(3),
        generated(4)
    );
    std::fs::write(&path, text).unwrap();
    let mut o = opts(false);
    o.base.notify = true;
    o.base.custom_message = Some("Text of the flag".into());
    let report = run_provisioning(&sim, &path, &o).await;
    let row = |n: u64| report.rows.iter().find(|r| r.row == n).unwrap();
    for n in 2..=4 {
        assert_eq!(row(n).outcome, Outcome::Assigned, "{:?}", row(n));
    }
    let invalid = row(5);
    assert_eq!(invalid.outcome, Outcome::Invalid, "{invalid:?}");
    assert_eq!(invalid.column.as_deref(), Some("message"));
    assert!(
        invalid.fix.as_deref().unwrap().contains("notify"),
        "{invalid:?}"
    );
    let outbox = sim.sim().outbox();
    let body_to = |upn: &str| {
        outbox
            .iter()
            .filter(|m| m.to.iter().any(|t| t.address.eq_ignore_ascii_case(upn)))
            .map(|m| m.body.clone())
            .collect::<Vec<_>>()
    };
    let one = body_to(&generated(1));
    assert_eq!(one.len(), 1);
    assert!(one[0].contains("Welcome one"), "{}", one[0]);
    let two = body_to(&generated(2));
    assert_eq!(two.len(), 1);
    assert!(two[0].contains("Text of the flag"), "{}", two[0]);
    assert!(
        body_to(&generated(3)).is_empty(),
        "notify = false for the row"
    );
    assert!(body_to(&generated(4)).is_empty(), "an invalid row");
    assert_eq!(outbox.len(), 2);
}

/// Puts `extra` new users into the provisioning and user-settings groups the rows join.
fn grow_groups(sim: &TestSim, extra: usize) {
    use w365_sim::state::directory::User;
    let now = sim.sim().now();
    sim.sim().with_state(|store| {
        let tenant_id = store.default_tenant_id().to_owned();
        let t = store.tenant_mut(&tenant_id).expect("the default tenant");
        let mut ids = Vec::with_capacity(extra);
        for n in 0..extra {
            let id = t.ids.next_id();
            let upn = format!("existing{n:06}@contoso.com");
            t.directory
                .insert_user(User::new(id.clone(), &upn, &upn))
                .unwrap();
            ids.push(id);
        }
        for name in [
            "cfg - Windows 365 - Provisioning - Win11",
            "cfg - Windows 365 - User Settings - restore allowed",
        ] {
            let group = t.directory.groups_named(name)[0].clone();
            for chunk in ids.chunks(20) {
                t.add_members(&group, chunk, now).unwrap();
            }
        }
    });
}

/// The wait for the new memberships reads the groups of the file's users (in batches), never the
/// members of the groups: a run costs the same requests whatever the size of the groups.
#[tokio::test]
async fn the_membership_wait_does_not_grow_with_the_groups() {
    async fn requests(sim: &TestSim) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let path = generated_file(dir.path(), 30);
        let report = run_file(sim, &path, &opts(false)).await;
        for row in &report.rows {
            assert_eq!(row.outcome, Outcome::Assigned, "{row:?}");
        }
        let members_listed = sim
            .sim()
            .request_log()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/members"))
            .count();
        assert_eq!(members_listed, 0, "no group's members are listed");
        report.graph_requests
    }
    // Memberships seen and licences processed at once: every wait is over at its first check,
    // so the counts compare the checks' own cost.
    async fn instant_sim() -> TestSim {
        let mut cfg = TestSim::manual_config(Seed::ContosoWithUsers(30));
        cfg.timings.directory = w365_sim::DirectoryTimings {
            replication_lag: Duration::ZERO,
            license_processing: Duration::ZERO,
        };
        TestSim::start(cfg).await
    }
    let small = instant_sim().await;
    let big = instant_sim().await;
    grow_groups(&big, 3_000);
    let (small, big) = (requests(&small).await, requests(&big).await);
    assert_eq!(small, big, "requests must not grow with the groups");
}
