//! One handler per Graph resource, created from the client (`client.users()`), each holding a
//! cloned [`Client`](crate::Client).

mod assignment_reads;
mod audit_events;
mod bulk_actions;
mod cloud_pcs;
mod groups;
mod images;
mod mail;
mod network_connections;
mod organization_settings;
mod policy_collection;
mod regions;
mod reports;
mod service_plans;
mod snapshots;
mod subscribed_skus;
mod users;

pub use assignment_reads::AssignmentReads;
pub use audit_events::AuditEventsHandler;
pub use bulk_actions::{BulkActionRequest, BulkActionsHandler};
pub use cloud_pcs::CloudPcsHandler;
pub use groups::{AddMemberOutcome, GroupsHandler, RemoveMemberOutcome};
pub use images::ImagesHandler;
pub use mail::MailHandler;
pub use network_connections::NetworkConnectionsHandler;
pub use organization_settings::OrganizationSettingsHandler;
pub use policy_collection::{
    AssignablePolicy, PolicyCollection, ProvisioningPoliciesHandler, UserSettingsHandler,
};
pub use regions::SupportedRegionsHandler;
pub use reports::CloudPcReportsHandler;
pub use service_plans::ServicePlansHandler;
pub use snapshots::CloudPcSnapshotsHandler;
pub use subscribed_skus::SubscribedSkusHandler;
pub use users::UsersHandler;

use crate::client::PREFER_UNKNOWN_ENUMS;

/// Headers sent on every `/deviceManagement/virtualEndpoint` call.
pub(crate) fn prefer_unknown_enums() -> Vec<(&'static str, String)> {
    vec![(PREFER_UNKNOWN_ENUMS.0, PREFER_UNKNOWN_ENUMS.1.to_owned())]
}

/// `/deviceManagement/virtualEndpoint/{collection}[/{more}...]`.
pub(crate) fn virtual_endpoint<I, S>(collection: &str, more: I) -> crate::odata::GraphPath
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut path =
        crate::odata::GraphPath::new(["deviceManagement", "virtualEndpoint", collection]);
    for segment in more {
        path = path.join(segment);
    }
    path
}
