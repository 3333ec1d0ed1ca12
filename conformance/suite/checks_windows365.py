"""Windows 365 (`/deviceManagement/virtualEndpoint`): provisioning policies, user settings,
service plans, Frontline plans, Cloud PCs and every action, through the SDKs' request builders,
v1.0 with msgraph-sdk and beta with msgraph-beta-sdk."""

from __future__ import annotations

import json

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation

# v1.0
from msgraph.generated.device_management.virtual_endpoint.cloud_p_cs.item.rename.rename_post_request_body import (
    RenamePostRequestBody,
)
from msgraph.generated.device_management.virtual_endpoint.cloud_p_cs.item.reprovision.reprovision_post_request_body import (
    ReprovisionPostRequestBody,
)
from msgraph.generated.device_management.virtual_endpoint.cloud_p_cs.item.resize.resize_post_request_body import (
    ResizePostRequestBody,
)
from msgraph.generated.device_management.virtual_endpoint.cloud_p_cs.item.restore.restore_post_request_body import (
    RestorePostRequestBody,
)
from msgraph.generated.device_management.virtual_endpoint.provisioning_policies.item.assign.assign_post_request_body import (
    AssignPostRequestBody,
)
from msgraph.generated.device_management.virtual_endpoint.provisioning_policies.provisioning_policies_request_builder import (
    ProvisioningPoliciesRequestBuilder,
)
from msgraph.generated.device_management.virtual_endpoint.user_settings.item.assign.assign_post_request_body import (
    AssignPostRequestBody as SettingAssignPostRequestBody,
)
from msgraph.generated.device_management.virtual_endpoint.user_settings.user_settings_request_builder import (
    UserSettingsRequestBuilder,
)
from msgraph.generated.models.cloud_pc_domain_join_configuration import CloudPcDomainJoinConfiguration
from msgraph.generated.models.cloud_pc_domain_join_type import CloudPcDomainJoinType
from msgraph.generated.models.cloud_pc_management_group_assignment_target import (
    CloudPcManagementGroupAssignmentTarget,
)
from msgraph.generated.models.cloud_pc_operating_system import CloudPcOperatingSystem
from msgraph.generated.models.cloud_pc_provisioning_policy import CloudPcProvisioningPolicy
from msgraph.generated.models.cloud_pc_provisioning_policy_assignment import (
    CloudPcProvisioningPolicyAssignment,
)
from msgraph.generated.models.cloud_pc_provisioning_policy_image_type import (
    CloudPcProvisioningPolicyImageType,
)
from msgraph.generated.models.cloud_pc_provisioning_type import CloudPcProvisioningType
from msgraph.generated.models.cloud_pc_restore_point_frequency_type import (
    CloudPcRestorePointFrequencyType,
)
from msgraph.generated.models.cloud_pc_restore_point_setting import CloudPcRestorePointSetting
from msgraph.generated.models.cloud_pc_user_account_type import CloudPcUserAccountType
from msgraph.generated.models.cloud_pc_user_setting import CloudPcUserSetting
from msgraph.generated.models.cloud_pc_user_setting_assignment import CloudPcUserSettingAssignment
from msgraph.generated.models.cloud_pc_windows_setting import CloudPcWindowsSetting

# beta
from msgraph_beta.generated.device_management.virtual_endpoint.cloud_p_cs.item.rename.rename_post_request_body import (
    RenamePostRequestBody as BetaRenameBody,
)
from msgraph_beta.generated.device_management.virtual_endpoint.cloud_p_cs.item.resize.resize_post_request_body import (
    ResizePostRequestBody as BetaResizeBody,
)
from msgraph_beta.generated.device_management.virtual_endpoint.cloud_p_cs.item.restore.restore_post_request_body import (
    RestorePostRequestBody as BetaRestoreBody,
)
from msgraph_beta.generated.device_management.virtual_endpoint.cloud_p_cs.item.reprovision.reprovision_post_request_body import (
    ReprovisionPostRequestBody as BetaReprovisionBody,
)
from msgraph_beta.generated.device_management.virtual_endpoint.provisioning_policies.apply_config.apply_config_post_request_body import (
    ApplyConfigPostRequestBody,
)
from msgraph_beta.generated.device_management.virtual_endpoint.provisioning_policies.item.apply.apply_post_request_body import (
    ApplyPostRequestBody,
)
from msgraph_beta.generated.device_management.virtual_endpoint.provisioning_policies.item.assign.assign_post_request_body import (
    AssignPostRequestBody as BetaAssignBody,
)
from msgraph_beta.generated.device_management.virtual_endpoint.provisioning_policies.provisioning_policies_request_builder import (
    ProvisioningPoliciesRequestBuilder as BetaPoliciesBuilder,
)
from msgraph_beta.generated.device_management.virtual_endpoint.user_settings.user_settings_request_builder import (
    UserSettingsRequestBuilder as BetaSettingsBuilder,
)
from msgraph_beta.generated.models.cloud_pc_management_group_assignment_target import (
    CloudPcManagementGroupAssignmentTarget as BetaTarget,
)
from msgraph_beta.generated.models.cloud_pc_policy_setting_type import CloudPcPolicySettingType
from msgraph_beta.generated.models.cloud_pc_provisioning_policy import (
    CloudPcProvisioningPolicy as BetaPolicy,
)
from msgraph_beta.generated.models.cloud_pc_provisioning_policy_assignment import (
    CloudPcProvisioningPolicyAssignment as BetaAssignment,
)
from msgraph_beta.generated.models.cloud_pc_domain_join_configuration import (
    CloudPcDomainJoinConfiguration as BetaDomainJoin,
)
from msgraph_beta.generated.models.cloud_pc_domain_join_type import CloudPcDomainJoinType as BetaJoinType
from msgraph_beta.generated.models.cloud_pc_provisioning_policy_image_type import (
    CloudPcProvisioningPolicyImageType as BetaImageType,
)
from msgraph_beta.generated.models.cloud_pc_provisioning_type import CloudPcProvisioningType as BetaProvisioningType
from msgraph_beta.generated.models.cloud_pc_user_setting import CloudPcUserSetting as BetaUserSetting
from msgraph_beta.generated.models.cloud_pc_restore_point_setting import (
    CloudPcRestorePointSetting as BetaRestorePointSetting,
)

from .harness import Ctx, check, expect, expect_schema

WIN11 = "cfg - Windows 365 - Provisioning - Win11"
FRONTLINE_GROUP = "cfg - Windows 365 - Frontline - Shift A"
PLAN_2C8G = "0d143570-9b92-4f57-adb5-e4efcd23b3bb"
IMAGE = "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365"


def include_unknown() -> HeadersCollection:
    headers = HeadersCollection()
    headers.add("Prefer", "include-unknown-enum-members")
    return headers


async def pc_of(ctx: Ctx, upn: str) -> str:
    answer = await ctx.raw("GET", "beta/deviceManagement/virtualEndpoint/cloudPCs")
    for pc in answer.json()["value"]:
        if pc.get("userPrincipalName", "").lower() == upn:
            return pc["id"]
    raise AssertionError(f"no Cloud PC for {upn}")


async def policy_id(ctx: Ctx, name: str) -> str:
    answer = await ctx.raw("GET", "v1.0/deviceManagement/virtualEndpoint/provisioningPolicies")
    for p in answer.json()["value"]:
        if p["displayName"] == name:
            return p["id"]
    raise AssertionError(f"no policy {name}")


async def status_of(ctx: Ctx, pc: str) -> str:
    return (await ctx.raw("GET", f"beta/deviceManagement/virtualEndpoint/cloudPCs/{pc}")).json()["status"]


# ---- provisioning policies ------------------------------------------------------------------


@check("schema", "v1.0 GET provisioningPolicies ($expand=assignments)")
async def policies_v1(ctx: Ctx):
    ve = ctx.v1.device_management.virtual_endpoint
    expect_schema(ctx, await ve.provisioning_policies.get())
    q = ProvisioningPoliciesRequestBuilder.ProvisioningPoliciesRequestBuilderGetQueryParameters(expand=["assignments"])
    page = await ve.provisioning_policies.get(RequestConfiguration(query_parameters=q))
    raw = expect_schema(ctx, page)
    expect(any(p.get("assignments") for p in raw["value"]), "no expanded assignments")


@check("schema", "beta GET provisioningPolicies ($expand=assignments, unknown enum members)")
async def policies_beta(ctx: Ctx):
    ve = ctx.beta.device_management.virtual_endpoint
    expect_schema(ctx, await ve.provisioning_policies.get())
    q = BetaPoliciesBuilder.ProvisioningPoliciesRequestBuilderGetQueryParameters(expand=["assignments"])
    page = await ve.provisioning_policies.get(
        RequestConfiguration(query_parameters=q, headers=include_unknown())
    )
    expect_schema(ctx, page)


@check("schema", "v1.0 and beta GET provisioningPolicies/{id}")
async def policy_get(ctx: Ctx):
    pid = await policy_id(ctx, WIN11)
    one = await ctx.v1.device_management.virtual_endpoint.provisioning_policies.by_cloud_pc_provisioning_policy_id(pid).get()
    expect_schema(ctx, one, nonempty=False)
    one = await ctx.beta.device_management.virtual_endpoint.provisioning_policies.by_cloud_pc_provisioning_policy_id(pid).get()
    expect_schema(ctx, one, nonempty=False)


def new_policy_v1(name: str) -> CloudPcProvisioningPolicy:
    return CloudPcProvisioningPolicy(
        display_name=name,
        description="created by the conformance suite",
        image_id=IMAGE,
        image_display_name="Windows 11 Enterprise + Microsoft 365 Apps 24H2",
        image_type=CloudPcProvisioningPolicyImageType.Gallery,
        provisioning_type=CloudPcProvisioningType.Dedicated,
        enable_single_sign_on=True,
        cloud_pc_naming_template="CNF-%RAND:5%",
        domain_join_configurations=[
            CloudPcDomainJoinConfiguration(
                domain_join_type=CloudPcDomainJoinType.AzureADJoin, region_name="automatic"
            )
        ],
        windows_setting=CloudPcWindowsSetting(locale="en-US"),
    )


@check("binding", "v1.0 POST, PATCH, assign, DELETE provisioningPolicies as msgraph-sdk serializes them")
async def policy_crud_v1(ctx: Ctx):
    ve = ctx.v1.device_management.virtual_endpoint
    created = await ve.provisioning_policies.post(new_policy_v1("Conformance v1"))
    expect(ctx.capture.last().status_code == 201, f"status {ctx.capture.last().status_code}")
    expect_schema(ctx, created, nonempty=False)
    item = ve.provisioning_policies.by_cloud_pc_provisioning_policy_id(created.id)
    await item.patch(CloudPcProvisioningPolicy(description="patched", display_name="Conformance v1 patched"))
    got = await item.get()
    expect(got.description == "patched", f"description {got.description!r}")
    group = await ctx.group_id("Engineering")
    await item.assign.post(
        AssignPostRequestBody(
            assignments=[
                CloudPcProvisioningPolicyAssignment(
                    target=CloudPcManagementGroupAssignmentTarget(group_id=group)
                )
            ]
        )
    )
    q = ProvisioningPoliciesRequestBuilder.ProvisioningPoliciesRequestBuilderGetQueryParameters(expand=["assignments"])
    expanded = await item.get(RequestConfiguration(query_parameters=q))
    expect_schema(ctx, expanded, nonempty=False)
    expect([a.target.group_id for a in expanded.assignments] == [group], "the assignment is listed")
    await item.assign.post(AssignPostRequestBody(assignments=[]))
    await item.delete()
    expect(ctx.capture.last().status_code == 204, f"status {ctx.capture.last().status_code}")


@check("binding", "beta POST, PATCH, assign (Frontline allotment), apply, applyConfig, DELETE provisioningPolicies")
async def policy_crud_beta(ctx: Ctx):
    ve = ctx.beta.device_management.virtual_endpoint
    body = BetaPolicy(
        display_name="Conformance beta",
        image_id=IMAGE,
        image_display_name="Windows 11 Enterprise + Microsoft 365 Apps 24H2",
        image_type=BetaImageType.Gallery,
        provisioning_type=BetaProvisioningType.Shared,
        cloud_pc_naming_template="CNB-%RAND:5%",
        domain_join_configurations=[
            BetaDomainJoin(domain_join_type=BetaJoinType.AzureADJoin, region_name="automatic")
        ],
    )
    created = await ve.provisioning_policies.post(body)
    expect_schema(ctx, created, nonempty=False)
    item = ve.provisioning_policies.by_cloud_pc_provisioning_policy_id(created.id)
    await item.patch(BetaPolicy(description="patched beta"))
    group = await ctx.group_id("Engineering")
    # Room in the Frontline plan for one more allotment (the seed uses all three licences).
    grown = await ctx.admin.put(
        "/windows365/frontline-plans/057efbfe-a95d-4263-acb0-12b4a31fed8d", json={"totalCount": 10}
    )
    expect(grown.status_code == 204, f"growing the Frontline plan: {grown.status_code} {grown.text}")
    await item.assign.post(
        BetaAssignBody(
            assignments=[
                BetaAssignment(
                    target=BetaTarget(
                        group_id=group,
                        service_plan_id="057efbfe-a95d-4263-acb0-12b4a31fed8d",
                        allotment_display_name="Conformance",
                        allotment_licenses_count=1,
                    )
                )
            ]
        )
    )
    q = BetaPoliciesBuilder.ProvisioningPoliciesRequestBuilderGetQueryParameters(expand=["assignments"])
    expanded = await item.get(RequestConfiguration(query_parameters=q))
    expect_schema(ctx, expanded, nonempty=False)
    await item.apply.post(ApplyPostRequestBody(policy_settings=CloudPcPolicySettingType.Region))
    expect(ctx.capture.last().status_code == 204, f"apply status {ctx.capture.last().status_code}")
    pc = await pc_of(ctx, "alice.smith@contoso.com")
    await ve.provisioning_policies.apply_config.post(
        ApplyConfigPostRequestBody(cloud_pc_ids=[pc], policy_settings=CloudPcPolicySettingType.SingleSignOn)
    )
    expect(ctx.capture.last().status_code == 204, f"applyConfig status {ctx.capture.last().status_code}")
    await item.assign.post(BetaAssignBody(assignments=[]))
    await item.delete()


# ---- user settings --------------------------------------------------------------------------


@check("schema", "v1.0 and beta GET userSettings (+ $expand=assignments, by id)")
async def user_settings_get(ctx: Ctx):
    v1 = ctx.v1.device_management.virtual_endpoint.user_settings
    page = await v1.get()
    expect_schema(ctx, page)
    q = UserSettingsRequestBuilder.UserSettingsRequestBuilderGetQueryParameters(expand=["assignments"])
    expect_schema(ctx, await v1.get(RequestConfiguration(query_parameters=q)))
    expect_schema(ctx, await v1.by_cloud_pc_user_setting_id(page.value[0].id).get(), nonempty=False)
    beta = ctx.beta.device_management.virtual_endpoint.user_settings
    expect_schema(ctx, await beta.get())
    qb = BetaSettingsBuilder.UserSettingsRequestBuilderGetQueryParameters(expand=["assignments"])
    expect_schema(ctx, await beta.get(RequestConfiguration(query_parameters=qb)))
    expect_schema(ctx, await beta.by_cloud_pc_user_setting_id(page.value[0].id).get(), nonempty=False)


@check("binding", "v1.0 POST, PATCH, assign, DELETE userSettings as msgraph-sdk serializes them")
async def user_settings_crud(ctx: Ctx):
    v1 = ctx.v1.device_management.virtual_endpoint.user_settings
    created = await v1.post(
        CloudPcUserSetting(
            display_name="Conformance settings",
            local_admin_enabled=False,
            reset_enabled=True,
            restore_point_setting=CloudPcRestorePointSetting(
                frequency_type=CloudPcRestorePointFrequencyType.TwelveHours, user_restore_enabled=True
            ),
        )
    )
    expect(ctx.capture.last().status_code == 201, f"status {ctx.capture.last().status_code}")
    expect_schema(ctx, created, nonempty=False)
    item = v1.by_cloud_pc_user_setting_id(created.id)
    await item.patch(CloudPcUserSetting(local_admin_enabled=True))
    expect((await item.get()).local_admin_enabled is True, "PATCH applied")
    group = await ctx.group_id("Engineering")
    await item.assign.post(
        SettingAssignPostRequestBody(
            assignments=[
                CloudPcUserSettingAssignment(target=CloudPcManagementGroupAssignmentTarget(group_id=group))
            ]
        )
    )
    await item.assign.post(SettingAssignPostRequestBody(assignments=[]))
    await item.delete()
    expect(ctx.capture.last().status_code == 204, f"status {ctx.capture.last().status_code}")


@check("binding", "beta POST userSettings as msgraph-beta-sdk serializes it")
async def user_settings_beta_create(ctx: Ctx):
    beta = ctx.beta.device_management.virtual_endpoint.user_settings
    created = await beta.post(
        BetaUserSetting(
            display_name="Conformance beta settings",
            reset_enabled=False,
            restore_point_setting=BetaRestorePointSetting(user_restore_enabled=False),
        )
    )
    expect_schema(ctx, created, nonempty=False)
    await beta.by_cloud_pc_user_setting_id(created.id).delete()


# ---- catalogs -------------------------------------------------------------------------------


@check("schema", "v1.0 and beta GET servicePlans")
async def service_plans(ctx: Ctx):
    expect_schema(ctx, await ctx.v1.device_management.virtual_endpoint.service_plans.get())
    expect_schema(
        ctx,
        await ctx.beta.device_management.virtual_endpoint.service_plans.get(
            RequestConfiguration(headers=include_unknown())
        ),
    )


@check("schema", "beta GET frontLineServicePlans and frontLineServicePlans/{id}")
async def frontline_plans(ctx: Ctx):
    fl = ctx.beta.device_management.virtual_endpoint.front_line_service_plans
    page = await fl.get()
    expect_schema(ctx, page)
    expect_schema(ctx, await fl.by_cloud_pc_front_line_service_plan_id(page.value[0].id).get(), nonempty=False)


@check("versions", "beta sharedUseServicePlans: removed from the beta model, answered like Graph")
async def shared_use_plans(ctx: Ctx):
    # msgraph-beta-sdk 1.66 has no request builder or model for sharedUseServicePlans: Microsoft
    # removed the resource from the beta metadata after it stopped returning data on 2024-04-24
    # (https://learn.microsoft.com/en-us/graph/api/resources/cloudpcshareduseserviceplan). The SDK's
    # generic request path (RequestInformation through its adapter) still reaches it; the answer
    # must be a collection of entities whose only properties are the documented ones.
    seeded = await ctx.admin.put(
        "/windows365/shared-use-service-plans",
        json={"value": [{"id": "51bd3b37-8d3b-4b3a-9a5c-3f1c6f0d5a10", "displayName": "Shared 2vCPU/8GB",
                         "totalCount": 3, "usedCount": 1}]},
    )
    expect(seeded.status_code == 204, f"seeding a legacy plan: {seeded.status_code} {seeded.text}")
    info = RequestInformation(Method.GET, "{+baseurl}/deviceManagement/virtualEndpoint/sharedUseServicePlans")
    info.path_parameters = {"baseurl": ctx.beta.request_adapter.base_url}
    raw = await ctx.beta.request_adapter.send_primitive_async(info, "bytes", {})
    body = json.loads(raw)
    expect(len(body["value"]) == 1, f"{len(body['value'])} plans")
    documented = {"@odata.type", "id", "displayName", "totalCount", "usedCount"}
    for item in body["value"]:
        extra = set(item) - documented
        expect(not extra, f"undocumented properties {sorted(extra)}")
        expect(item["@odata.type"] == "#microsoft.graph.cloudPcSharedUseServicePlan", f"type {item['@odata.type']}")
    one = RequestInformation(
        Method.GET, "{+baseurl}/deviceManagement/virtualEndpoint/sharedUseServicePlans/" + body["value"][0]["id"]
    )
    one.path_parameters = {"baseurl": ctx.beta.request_adapter.base_url}
    item = json.loads(await ctx.beta.request_adapter.send_primitive_async(one, "bytes", {}))
    expect(item["id"] == body["value"][0]["id"] and not set(item) - documented - {"@odata.context"}, f"by id: {item}")


# ---- Cloud PCs ------------------------------------------------------------------------------


@check("schema", "v1.0 GET cloudPCs, cloudPCs/{id} (v1.0 model only)")
async def cloud_pcs_v1(ctx: Ctx):
    pcs = ctx.v1.device_management.virtual_endpoint.cloud_p_cs
    page = await pcs.get()
    raw = expect_schema(ctx, page)
    for pc in raw["value"]:
        expect("status" not in pc, "a v1.0 cloudPC carries status")
    expect_schema(ctx, await pcs.by_cloud_p_c_id(page.value[0].id).get(), nonempty=False)


@check("schema", "beta GET cloudPCs, cloudPCs/{id} (with and without unknown enum members)")
async def cloud_pcs_beta(ctx: Ctx):
    pcs = ctx.beta.device_management.virtual_endpoint.cloud_p_cs
    page = await pcs.get()
    expect_schema(ctx, page)
    page = await pcs.get(RequestConfiguration(headers=include_unknown()))
    expect_schema(ctx, page)
    for pc in page.value:
        expect_schema(ctx, await pcs.by_cloud_p_c_id(pc.id).get(), nonempty=False)


@check("schema", "v1.0 and beta GET /users/{id}/cloudPCs")
async def user_cloud_pcs(ctx: Ctx):
    uid = await ctx.user_id("alice.smith@contoso.com")
    page = await ctx.v1.users.by_user_id(uid).cloud_p_cs.get()
    expect_schema(ctx, page)
    page = await ctx.beta.users.by_user_id(uid).cloud_p_cs.get()
    expect_schema(ctx, page)


@check("schema", "beta cloudPCs through the lifecycle (provisioning, grace, resize) deserialize")
async def cloud_pcs_lifecycle(ctx: Ctx):
    pcs = ctx.beta.device_management.virtual_endpoint.cloud_p_cs
    seen = set()
    pc = await pc_of(ctx, "bob.jones@contoso.com")
    await ctx.v1.device_management.virtual_endpoint.cloud_p_cs.by_cloud_p_c_id(pc).reprovision.post(
        ReprovisionPostRequestBody()
    )
    for _ in range(6):
        page = await pcs.get(RequestConfiguration(headers=include_unknown()))
        expect_schema(ctx, page)
        seen |= {p.status for p in page.value}
        await ctx.advance(minutes=20)
    expect(len(seen) >= 4, f"statuses seen: {seen}")


@check("binding", "v1.0 Cloud PC actions: reboot, rename, troubleshoot, restore, resize, reprovision, endGracePeriod")
async def cloud_pc_actions_v1(ctx: Ctx):
    pcs = ctx.v1.device_management.virtual_endpoint.cloud_p_cs
    alice = pcs.by_cloud_p_c_id(await pc_of(ctx, "alice.smith@contoso.com"))

    async def settle():
        await ctx.advance(hours=3)

    await alice.reboot.post()
    expect(ctx.capture.last().status_code == 204, "reboot 204")
    await settle()
    await alice.rename.post(RenamePostRequestBody(display_name="Alice renamed"))
    expect(ctx.capture.last().status_code == 204, "rename 204")
    await settle()
    await alice.troubleshoot.post()
    expect(ctx.capture.last().status_code == 204, "troubleshoot 204")
    await settle()
    point = await ctx.restore_point(await pc_of(ctx, "alice.smith@contoso.com"))
    await alice.restore.post(RestorePostRequestBody(cloud_pc_snapshot_id=point))
    expect(ctx.capture.last().status_code == 204, "restore 204")
    await settle()
    await alice.resize.post(ResizePostRequestBody(target_service_plan_id=PLAN_2C8G))
    expect(ctx.capture.last().status_code == 204, "resize 204")
    await settle()
    bob = pcs.by_cloud_p_c_id(await pc_of(ctx, "bob.jones@contoso.com"))
    await bob.reprovision.post(
        ReprovisionPostRequestBody(
            user_account_type=CloudPcUserAccountType.StandardUser,
            os_version=CloudPcOperatingSystem.Windows11,
        )
    )
    expect(ctx.capture.last().status_code == 204, "reprovision 204")
    grace = pcs.by_cloud_p_c_id(await pc_of(ctx, "grace.wilson@contoso.com"))
    await grace.end_grace_period.post()
    expect(ctx.capture.last().status_code == 204, "endGracePeriod 204")


@check("binding", "beta Cloud PC actions: powerOff, powerOn (Frontline), rename, resize, restore, reprovision")
async def cloud_pc_actions_beta(ctx: Ctx):
    pcs = ctx.beta.device_management.virtual_endpoint.cloud_p_cs
    kate = pcs.by_cloud_p_c_id(await pc_of(ctx, "kate.thomas@contoso.com"))
    await kate.power_off.post()
    expect(ctx.capture.last().status_code == 204, "powerOff 204")
    await ctx.advance(hours=1)
    await kate.power_on.post()
    expect(ctx.capture.last().status_code == 204, "powerOn 204")
    await ctx.advance(hours=1)
    carol = pcs.by_cloud_p_c_id(await pc_of(ctx, "carol.white@contoso.com"))
    await carol.rename.post(BetaRenameBody(display_name="Carol beta"))
    await ctx.advance(hours=3)
    point = await ctx.restore_point(await pc_of(ctx, "carol.white@contoso.com"))
    await carol.restore.post(BetaRestoreBody(cloud_pc_snapshot_id=point))
    await ctx.advance(hours=3)
    await carol.resize.post(BetaResizeBody(target_service_plan_id="545e3611-3af8-49a5-9a0a-b7867968f4b0"))
    await ctx.advance(hours=3)
    irene = pcs.by_cloud_p_c_id(await pc_of(ctx, "irene.taylor@contoso.com"))
    await irene.reprovision.post(BetaReprovisionBody())
    expect(ctx.capture.last().status_code == 204, "reprovision 204")
