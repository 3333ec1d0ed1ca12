//! Helpers shared by the operations' simulator tests.
#![allow(dead_code)] // each test binary uses its own subset

use w365_testkit::TestSim;

/// Mails in the simulator's outbox addressed to `address`.
pub fn mails_to(sim: &TestSim, address: &str) -> usize {
    sim.sim()
        .outbox()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.address.eq_ignore_ascii_case(address)))
        .count()
}

/// Sets the allotment of a Frontline policy's assignment (over Graph, as an admin would).
pub async fn set_frontline_allotment(sim: &TestSim, policy_name: &str, licences: i32) {
    let client = sim.client();
    let policy = client
        .provisioning_policies()
        .find_by_display_name(policy_name)
        .await
        .unwrap()
        .remove(0);
    let mut assignments = policy.assignments.unwrap_or_default();
    for a in &mut assignments {
        a.id = None;
        a.target.allotment_licenses_count = Some(licences);
        a.target.odata_type = Some(w365_graph::models::GROUP_ASSIGNMENT_TARGET.into());
    }
    client
        .provisioning_policies()
        .assign(&policy.id.unwrap(), &assignments)
        .await
        .unwrap();
}
