//! Graph routes, one module per URL area (named after the segment), plus the token endpoint and
//! the fallback that answers unknown segments like Graph.

pub mod batch;
pub mod groups;
pub mod reports;
pub mod send_mail;
pub mod snapshots;
pub mod subscribed_skus;
pub mod token;
pub mod users;
pub mod virtual_endpoint;

use axum::Router;
use percent_encoding::percent_decode_str;

use super::AppState;
use super::context::RequestContext;
use super::error::ApiError;

/// Application permissions each area accepts (any one of a list suffices).
pub mod perms {
    /// Reading users with all their properties.
    pub const USER_READ: &[&str] = &[
        "User.Read.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ];
    /// Reading users' basic properties.
    pub const USER_READ_BASIC: &[&str] = &[
        "User.ReadBasic.All",
        "User.Read.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ];
    /// Reading groups and their members.
    pub const GROUP_READ: &[&str] = &[
        "GroupMember.Read.All",
        "GroupMember.ReadWrite.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ];
    /// Adding and removing members.
    pub const MEMBER_WRITE: &[&str] = &[
        "GroupMember.ReadWrite.All",
        "Group.ReadWrite.All",
        "Directory.ReadWrite.All",
    ];
    /// Direct licence assignment (`assignLicense`; least privileged LicenseAssignment.ReadWrite.All,
    /// <https://learn.microsoft.com/en-us/graph/api/user-assignlicense>).
    pub const LICENSE_WRITE: &[&str] = &[
        "LicenseAssignment.ReadWrite.All",
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
    ];
    /// Updating group properties.
    pub const GROUP_WRITE: &[&str] = &["Group.ReadWrite.All", "Directory.ReadWrite.All"];
    /// Reading subscribed SKUs.
    pub const SKU_READ: &[&str] = &[
        "LicenseAssignment.Read.All",
        "LicenseAssignment.ReadWrite.All",
        "Organization.Read.All",
        "Organization.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ];
    /// Sending mail as any mailbox.
    pub const MAIL_SEND: &[&str] = &["Mail.Send"];
}

/// Every Graph route, relative to the version; nested under `/v1.0` and `/beta` by `router()`.
pub fn graph_routes() -> Router<AppState> {
    Router::new()
        .merge(users::routes())
        .merge(groups::routes())
        .merge(subscribed_skus::routes())
        .merge(send_mail::routes())
        .merge(batch::routes())
        .merge(virtual_endpoint::routes())
        .merge(snapshots::routes())
        .merge(reports::routes())
        .merge(virtual_endpoint::network::routes())
        .merge(virtual_endpoint::images::routes())
        .merge(virtual_endpoint::org_settings::routes())
}

/// Segments after which Graph expects a key.
const COLLECTIONS: &[&str] = &[
    "users",
    "groups",
    "members",
    "memberOf",
    "transitiveMemberOf",
    "transitiveMembers",
    "membersWithLicenseErrors",
    "subscribedSkus",
    "directoryObjects",
    "cloudPCs",
    "provisioningPolicies",
    "userSettings",
    "servicePlans",
    "frontLineServicePlans",
    "assignments",
    "deviceImages",
    "galleryImages",
    "onPremisesConnections",
    "auditEvents",
    "snapshots",
    "supportedRegions",
    "bulkActions",
];

/// Known non-key segments (actions, casts, system segments).
const STATIC_SEGMENTS: &[&str] = &[
    "$ref",
    "$count",
    "$batch",
    "$value",
    "$metadata",
    "sendMail",
    "checkMemberGroups",
    "checkMemberObjects",
    "microsoft.graph.user",
    "microsoft.graph.group",
    "graph.user",
    "graph.group",
    "deviceManagement",
    "virtualEndpoint",
    "retrieveSnapshots",
    "createSnapshot",
    "reports",
    "getRemoteConnectionHistoricalReports",
    "getAuditActivityTypes",
    "getActionStatusReports",
    "runHealthChecks",
    "organizationSettings",
];

/// The segment Graph would name in "Resource not found for the segment '<name>'.".
fn unknown_segment(segments: &[String]) -> Option<String> {
    let mut after_collection = false;
    for segment in segments {
        let known_static = STATIC_SEGMENTS.contains(&segment.as_str());
        let collection = COLLECTIONS.contains(&segment.as_str());
        if after_collection && !known_static && !collection {
            after_collection = false;
            continue;
        }
        if !known_static && !collection {
            return Some(segment.clone());
        }
        after_collection = collection;
    }
    segments.last().cloned()
}

/// Answers every unrouted request like Graph: 400 "Invalid version" or 400 "Resource not found
/// for the segment '`<name>`'.".
pub async fn fallback(ctx: RequestContext) -> ApiError {
    let segments: Vec<String> = ctx
        .path
        .trim_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    match ctx.version {
        None => {
            let first = segments.first().map_or("", String::as_str);
            if first.starts_with('_') {
                ApiError::not_found(
                    "NotFound",
                    format!("No simulator admin route {}.", ctx.path),
                )
            } else {
                ApiError::bad_request("BadRequest", format!("Invalid version: {first}"))
            }
        }
        Some(_) => match unknown_segment(&segments[1..]) {
            Some(segment) => ApiError::unknown_segment(&segment),
            None => ApiError::bad_request("BadRequest", "Invalid request: no resource specified."),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(path: &str) -> Option<String> {
        let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
        unknown_segment(&segments)
    }

    #[test]
    fn unknown_segment_skips_keys_and_names_the_first_unknown() {
        assert_eq!(seg("bogus").as_deref(), Some("bogus"));
        assert_eq!(seg("users/abc/bogus").as_deref(), Some("bogus"));
        assert_eq!(seg("users/abc/memberOf/xyz/more").as_deref(), Some("more"));
        assert_eq!(seg("groups/g/members/$ref").as_deref(), Some("$ref"));
    }
}
