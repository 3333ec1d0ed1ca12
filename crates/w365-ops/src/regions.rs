//! Supported regions (`w365 regions`) and the check of the region names a provisioning policy
//! uses (policy create / update / apply): every `region_name` other than `automatic` must be a
//! supported region, every `region_group` other than `default` / `automatic` the group of one.
//! The list is Graph's beta `supportedRegions`
//! (<https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-supportedregions?view=graph-rest-beta>,
//! `CloudPC.Read.All`); it is read only when a policy names a region.

use w365_graph::Client;
use w365_graph::models::CloudPcSupportedRegion;

use crate::error::{GraphContext, Result};
use crate::policy::spec::PolicySpec;
use crate::policy::validate::Problem;

/// The permission `supportedRegions` needs.
pub const PERMISSION: &str = "CloudPC.Read.All";

/// Region names every policy may use without being in the list.
const ALWAYS_VALID_NAMES: &[&str] = &["automatic"];
/// Region groups every policy may use.
const ALWAYS_VALID_GROUPS: &[&str] = &["default", "automatic"];

/// Every supported region, sorted by region group then name.
pub async fn list(client: &Client) -> Result<Vec<CloudPcSupportedRegion>> {
    let mut regions = client
        .supported_regions()
        .list()
        .await
        .graph_ctx(|| "list the supported regions".into(), PERMISSION)?;
    regions.sort_by(|a, b| {
        (a.region_group.as_deref(), a.display_name.as_str())
            .cmp(&(b.region_group.as_deref(), b.display_name.as_str()))
    });
    Ok(regions)
}

/// The `(region_name, region_group)` pairs a policy names that need the list to be checked.
fn named_regions(spec: &PolicySpec) -> Vec<(Option<String>, Option<String>)> {
    spec.domain_join_configurations
        .iter()
        .flatten()
        .map(|d| {
            let name = d
                .region_name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .filter(|n| !ALWAYS_VALID_NAMES.iter().any(|v| v.eq_ignore_ascii_case(n)));
            let group = d
                .region_group
                .as_ref()
                .map(|g| g.as_str().to_owned())
                .filter(|g| {
                    !ALWAYS_VALID_GROUPS
                        .iter()
                        .any(|v| v.eq_ignore_ascii_case(g))
                });
            (name, group)
        })
        .filter(|(n, g)| n.is_some() || g.is_some())
        .collect()
}

/// The problems of a policy's region names against `regions` (pure; see [`check_policy`]).
pub fn problems(spec: &PolicySpec, regions: &[CloudPcSupportedRegion]) -> Vec<Problem> {
    let usable = |r: &&CloudPcSupportedRegion| {
        !r.region_status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("unavailable"))
    };
    let names: Vec<&str> = regions
        .iter()
        .filter(usable)
        .map(|r| r.display_name.as_str())
        .collect();
    let mut groups: Vec<&str> = regions
        .iter()
        .filter(usable)
        .filter_map(|r| r.region_group.as_deref())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let mut out = Vec::new();
    for (name, group) in named_regions(spec) {
        if let Some(name) = name
            && !names.iter().any(|n| n.eq_ignore_ascii_case(&name))
        {
            out.push(Problem {
                field: "domain_join_configurations.region_name".into(),
                message: format!("'{name}' is not a supported Windows 365 region"),
                fix: format!(
                    "use automatic or one of: {} (`w365 regions` lists them with their groups)",
                    names.join(", ")
                ),
            });
        }
        if let Some(group) = group
            && !groups.iter().any(|g| g.eq_ignore_ascii_case(&group))
        {
            out.push(Problem {
                field: "domain_join_configurations.region_group".into(),
                message: format!("'{group}' is not the group of any supported region"),
                fix: format!(
                    "use default, automatic or one of: {} (`w365 regions`)",
                    groups.join(", ")
                ),
            });
        }
    }
    out
}

/// Whether a policy names a region or a region group that needs the list to be checked.
pub fn names_a_region(spec: &PolicySpec) -> bool {
    !named_regions(spec).is_empty()
}

/// Checks the region names of a policy against Graph's supported regions; reads the list only
/// when the policy names a region or a region group.
pub async fn check_policy(client: &Client, spec: &PolicySpec) -> Result<Vec<Problem>> {
    if !names_a_region(spec) {
        return Ok(Vec::new());
    }
    let regions = list(client).await?;
    Ok(problems(spec, &regions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::spec::DomainJoinSpec;
    use w365_graph::models::RegionGroup;

    fn region(name: &str, group: &str, status: &str) -> CloudPcSupportedRegion {
        CloudPcSupportedRegion {
            id: name.into(),
            display_name: name.into(),
            region_status: Some(status.into()),
            supported_solution: Some("windows365".into()),
            region_group: Some(group.into()),
            geographic_location_type: None,
        }
    }

    fn policy(name: Option<&str>, group: Option<RegionGroup>) -> PolicySpec {
        PolicySpec {
            display_name: "p".into(),
            domain_join_configurations: Some(vec![DomainJoinSpec {
                region_name: name.map(str::to_owned),
                region_group: group,
                ..DomainJoinSpec::default()
            }]),
            ..PolicySpec::default()
        }
    }

    #[test]
    fn unknown_names_and_groups_are_named_with_the_valid_ones() {
        let regions = [
            region("westeurope", "europeUnion", "available"),
            region("eastus", "usEast", "available"),
            region("gone", "asia", "unavailable"),
        ];
        assert!(problems(&policy(Some("WestEurope"), None), &regions).is_empty());
        assert!(
            problems(
                &policy(Some("automatic"), Some(RegionGroup::Default)),
                &regions
            )
            .is_empty()
        );
        assert!(named_regions(&policy(Some("automatic"), None)).is_empty());
        let p = problems(&policy(Some("westeurop"), None), &regions);
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("'westeurop'"), "{p:?}");
        assert!(p[0].fix.contains("westeurope, eastus"), "{p:?}");
        let p = problems(&policy(Some("gone"), None), &regions);
        assert_eq!(p.len(), 1, "an unavailable region is not valid");
        let p = problems(
            &policy(None, Some(RegionGroup::from_wire("japan"))),
            &regions,
        );
        assert_eq!(p.len(), 1);
        assert!(p[0].fix.contains("europeUnion, usEast"), "{p:?}");
    }
}
