"""Directory, licensing and mail: users, groups, membership, directoryObjects, subscribedSkus,
sendMail, each through the SDKs' request builders, on v1.0 (msgraph-sdk) and where it matters
on beta (msgraph-beta-sdk)."""

from __future__ import annotations

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder
from msgraph.generated.groups.item.check_member_groups.check_member_groups_post_request_body import (
    CheckMemberGroupsPostRequestBody as GroupCheckMemberGroupsBody,
)
from msgraph.generated.directory_objects.item.check_member_groups.check_member_groups_post_request_body import (
    CheckMemberGroupsPostRequestBody as DirCheckMemberGroupsBody,
)
from msgraph.generated.directory_objects.item.check_member_objects.check_member_objects_post_request_body import (
    CheckMemberObjectsPostRequestBody as DirCheckMemberObjectsBody,
)
from msgraph.generated.groups.item.check_member_objects.check_member_objects_post_request_body import (
    CheckMemberObjectsPostRequestBody as GroupCheckMemberObjectsBody,
)
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.group import Group
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.item.check_member_groups.check_member_groups_post_request_body import (
    CheckMemberGroupsPostRequestBody,
)
from msgraph.generated.users.item.check_member_objects.check_member_objects_post_request_body import (
    CheckMemberObjectsPostRequestBody,
)
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_beta.generated.users.item.send_mail.send_mail_post_request_body import (
    SendMailPostRequestBody as BetaSendMailBody,
)
from msgraph_beta.generated.models.message import Message as BetaMessage
from msgraph_beta.generated.models.item_body import ItemBody as BetaItemBody
from msgraph_beta.generated.models.body_type import BodyType as BetaBodyType
from msgraph_beta.generated.models.recipient import Recipient as BetaRecipient
from msgraph_beta.generated.models.email_address import EmailAddress as BetaEmailAddress

from .harness import Ctx, check, expect, expect_schema

ALICE = "alice.smith@contoso.com"
CAROL = "carol.white@contoso.com"
ENGINEERING = "Engineering"
PROVISIONING = "cfg - Windows 365 - Provisioning - Win11"


def eventual() -> HeadersCollection:
    headers = HeadersCollection()
    headers.add("ConsistencyLevel", "eventual")
    return headers


# ---- users ----------------------------------------------------------------------------------


@check("schema", "v1.0 GET /users (default properties)")
async def users_list(ctx: Ctx):
    page = await ctx.v1.users.get()
    expect_schema(ctx, page)


@check("schema", "v1.0 GET /users with every property w365 selects")
async def users_list_selected(ctx: Ctx):
    q = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        select=[
            "id", "userPrincipalName", "displayName", "mail", "accountEnabled", "usageLocation",
            "assignedLicenses", "licenseAssignmentStates", "givenName", "surname", "jobTitle",
            "department", "businessPhones", "mobilePhone", "officeLocation", "preferredLanguage",
        ],
        top=50,
    )
    page = await ctx.v1.users.get(RequestConfiguration(query_parameters=q))
    raw = expect_schema(ctx, page)
    expect(any(u.get("licenseAssignmentStates") for u in raw["value"]), "no user with licenseAssignmentStates")


@check("schema", "beta GET /users with licence properties")
async def users_list_beta(ctx: Ctx):
    from msgraph_beta.generated.users.users_request_builder import UsersRequestBuilder as B

    q = B.UsersRequestBuilderGetQueryParameters(
        select=["id", "userPrincipalName", "displayName", "mail", "accountEnabled", "usageLocation",
                "assignedLicenses", "licenseAssignmentStates"],
    )
    page = await ctx.beta.users.get(RequestConfiguration(query_parameters=q))
    expect_schema(ctx, page)


@check("schema", "v1.0 GET /users/{upn} and /users/{id}")
async def user_get(ctx: Ctx):
    user = await ctx.v1.users.by_user_id(ALICE).get()
    expect_schema(ctx, user, nonempty=False)
    expect(user.user_principal_name == ALICE, f"got {user.user_principal_name}")
    again = await ctx.v1.users.by_user_id(user.id).get()
    expect_schema(ctx, again, nonempty=False)
    expect(again.id == user.id, "the same user by id")


@check("schema", "v1.0 GET /users/$count (ConsistencyLevel: eventual)")
async def users_count(ctx: Ctx):
    count = await ctx.v1.users.count.get(RequestConfiguration(headers=eventual()))
    expect(isinstance(count, int) and count > 10, f"count {count!r}")


@check("schema", "v1.0 GET /users/{id}/memberOf and the group cast")
async def user_member_of(ctx: Ctx):
    uid = await ctx.user_id(ALICE)
    page = await ctx.v1.users.by_user_id(uid).member_of.get()
    expect_schema(ctx, page)
    groups = await ctx.v1.users.by_user_id(uid).member_of.graph_group.get()
    expect_schema(ctx, groups)


@check("schema", "v1.0 GET /users/{id}/transitiveMemberOf and the group cast")
async def user_transitive_member_of(ctx: Ctx):
    uid = await ctx.user_id(ALICE)
    page = await ctx.v1.users.by_user_id(uid).transitive_member_of.get()
    expect_schema(ctx, page)
    groups = await ctx.v1.users.by_user_id(uid).transitive_member_of.graph_group.get()
    expect_schema(ctx, groups)


@check("binding", "v1.0 POST /users/{id}/checkMemberGroups and checkMemberObjects")
async def user_check_member(ctx: Ctx):
    uid = await ctx.user_id(ALICE)
    groups = [g["id"] for g in (await ctx.raw("GET", "v1.0/groups?$select=id")).json()["value"]][:20]
    mine = {g["id"] for g in (await ctx.raw("GET", f"v1.0/users/{uid}/transitiveMemberOf")).json()["value"]}
    expected = [g for g in groups if g in mine]
    expect(0 < len(expected) < len(groups), f"alice is in {len(expected)} of {len(groups)} groups")
    answer = await ctx.v1.users.by_user_id(uid).check_member_groups.post(
        CheckMemberGroupsPostRequestBody(group_ids=groups)
    )
    expect_schema(ctx, answer, nonempty=False)
    expect(sorted(answer.value) == sorted(expected), f"checkMemberGroups -> {answer.value}")
    answer = await ctx.v1.users.by_user_id(uid).check_member_objects.post(
        CheckMemberObjectsPostRequestBody(ids=groups)
    )
    expect_schema(ctx, answer, nonempty=False)
    expect(sorted(answer.value) == sorted(expected), f"checkMemberObjects -> {answer.value}")


@check("binding", "v1.0 POST /directoryObjects/{id}/checkMemberGroups and checkMemberObjects")
async def directory_object_check_member(ctx: Ctx):
    uid = await ctx.user_id(ALICE)
    member = await ctx.group_id(PROVISIONING)
    answer = await ctx.v1.directory_objects.by_directory_object_id(uid).check_member_groups.post(
        DirCheckMemberGroupsBody(group_ids=[member])
    )
    expect_schema(ctx, answer, nonempty=False)
    expect(answer.value == [member], f"checkMemberGroups -> {answer.value}")
    answer = await ctx.v1.directory_objects.by_directory_object_id(uid).check_member_objects.post(
        DirCheckMemberObjectsBody(ids=[member])
    )
    expect(answer.value == [member], f"checkMemberObjects -> {answer.value}")


@check("schema", "v1.0 GET /directoryObjects/{id} (user and group)")
async def directory_object_get(ctx: Ctx):
    obj = await ctx.v1.directory_objects.by_directory_object_id(await ctx.user_id(ALICE)).get()
    expect_schema(ctx, obj, nonempty=False)
    expect(isinstance(obj, User), f"a user is a {type(obj).__name__}")
    obj = await ctx.v1.directory_objects.by_directory_object_id(await ctx.group_id(ENGINEERING)).get()
    expect_schema(ctx, obj, nonempty=False)
    expect(isinstance(obj, Group), f"a group is a {type(obj).__name__}")


# ---- groups ---------------------------------------------------------------------------------


@check("schema", "v1.0 GET /groups (default properties)")
async def groups_list(ctx: Ctx):
    page = await ctx.v1.groups.get()
    expect_schema(ctx, page)


@check("schema", "v1.0 GET /groups with licence properties ($select)")
async def groups_list_selected(ctx: Ctx):
    q = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(
        select=["id", "displayName", "assignedLicenses", "licenseProcessingState",
                "hasMembersWithLicenseErrors", "groupTypes", "membershipRule", "securityEnabled",
                "mailEnabled", "description"],
    )
    page = await ctx.v1.groups.get(RequestConfiguration(query_parameters=q))
    raw = expect_schema(ctx, page)
    expect(any(g.get("licenseProcessingState") for g in raw["value"]), "no group with licenseProcessingState")


@check("schema", "v1.0 GET /groups?$filter=startswith + $count (advanced query)")
async def groups_filter(ctx: Ctx):
    q = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(
        filter="startswith(displayName,'cfg - Windows 365')", count=True
    )
    page = await ctx.v1.groups.get(RequestConfiguration(query_parameters=q, headers=eventual()))
    raw = expect_schema(ctx, page)
    expect(page.odata_count == len(raw["value"]), f"@odata.count {page.odata_count}")


@check("schema", "v1.0 GET /groups/{id}, /groups/$count")
async def group_get(ctx: Ctx):
    gid = await ctx.group_id(ENGINEERING)
    group = await ctx.v1.groups.by_group_id(gid).get()
    expect_schema(ctx, group, nonempty=False)
    expect(group.id == gid, "the group by id")
    count = await ctx.v1.groups.count.get(RequestConfiguration(headers=eventual()))
    expect(isinstance(count, int) and count > 3, f"count {count!r}")


@check("schema", "v1.0 GET /groups/{id}/members, casts, $count, transitiveMembers")
async def group_members(ctx: Ctx):
    gid = await ctx.group_id(PROVISIONING)
    g = ctx.v1.groups.by_group_id(gid)
    expect_schema(ctx, await g.members.get())
    expect_schema(ctx, await g.members.graph_user.get())
    expect_schema(ctx, await g.transitive_members.get())
    expect_schema(ctx, await g.transitive_members.graph_user.get())
    count = await g.members.count.get(RequestConfiguration(headers=eventual()))
    expect(isinstance(count, int) and count > 0, f"members/$count {count!r}")
    # A group with a nested group (the SDK's group cast).
    groups = await ctx.raw("GET", "v1.0/groups?$select=id,displayName")
    for candidate in groups.json()["value"]:
        nested = await ctx.v1.groups.by_group_id(candidate["id"]).members.graph_group.get()
        if nested.value:
            expect_schema(ctx, nested)
            return
    expect(False, "no group with a nested group in the seed")


@check("schema", "v1.0 GET /groups/{id}/membersWithLicenseErrors")
async def group_license_errors(ctx: Ctx):
    gid = await ctx.group_id(PROVISIONING)
    page = await ctx.v1.groups.by_group_id(gid).members_with_license_errors.get()
    expect_schema(ctx, page, nonempty=False)


@check("binding", "v1.0 POST /groups/{id}/checkMemberGroups and checkMemberObjects")
async def group_check_member(ctx: Ctx):
    groups = (await ctx.raw("GET", "v1.0/groups?$select=id")).json()["value"]
    ids = [g["id"] for g in groups][:20]
    for gid in ids:
        answer = await ctx.v1.groups.by_group_id(gid).check_member_groups.post(
            GroupCheckMemberGroupsBody(group_ids=ids)
        )
        expect_schema(ctx, answer, nonempty=False)
        answer = await ctx.v1.groups.by_group_id(gid).check_member_objects.post(
            GroupCheckMemberObjectsBody(ids=ids)
        )
        expect_schema(ctx, answer, nonempty=False)


@check("binding", "v1.0 POST /groups/{id}/members/$ref, GET and DELETE members/{id}/$ref")
async def group_member_ref(ctx: Ctx):
    gid = await ctx.group_id(ENGINEERING)
    uid = await ctx.user_id(ALICE)
    members = ctx.v1.groups.by_group_id(gid).members
    await members.ref.post(
        ReferenceCreate(odata_id=f"{ctx.target.base_url}/v1.0/directoryObjects/{uid}")
    )
    expect(ctx.capture.last().status_code == 204, f"status {ctx.capture.last().status_code}")
    listed = await members.get()
    expect(uid in [m.id for m in listed.value], "the new member is listed")
    # GET members/{id}: no request builder has it (msgraph-sdk 1.65), so the SDK's adapter is
    # given the URL and its DirectoryObject model.
    from kiota_abstractions.method import Method
    from kiota_abstractions.request_information import RequestInformation
    from msgraph.generated.models.directory_object import DirectoryObject
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    info = RequestInformation(Method.GET, "{+baseurl}/groups/" + gid + "/members/" + uid)
    info.path_parameters = {"baseurl": ctx.v1.request_adapter.base_url}
    info.headers.try_add("Accept", "application/json")
    one = await ctx.v1.request_adapter.send_async(info, DirectoryObject, {"XXX": ODataError})
    expect_schema(ctx, one, nonempty=False)
    expect(isinstance(one, User) and one.id == uid, f"members/{{id}} gave {type(one).__name__}")
    await members.by_directory_object_id(uid).ref.delete()
    expect(ctx.capture.last().status_code == 204, f"status {ctx.capture.last().status_code}")
    listed = await members.get()
    expect(uid not in [m.id for m in listed.value], "the member is gone")


@check("binding", "v1.0 PATCH /groups/{id} with members@odata.bind (as the SDK docs send it)")
async def group_members_bind(ctx: Ctx):
    gid = await ctx.group_id(ENGINEERING)
    users = [await ctx.user_id(ALICE), await ctx.user_id("frank.miller@contoso.com")]
    body = Group(
        additional_data={
            "members@odata.bind": [f"https://graph.microsoft.com/v1.0/directoryObjects/{u}" for u in users]
        }
    )
    await ctx.v1.groups.by_group_id(gid).patch(body)
    expect(ctx.capture.last().status_code == 204, f"status {ctx.capture.last().status_code}")
    listed = await ctx.v1.groups.by_group_id(gid).members.get()
    expect(set(users) <= {m.id for m in listed.value}, "both bound members are listed")


# ---- licensing ------------------------------------------------------------------------------


@check("schema", "v1.0 GET /subscribedSkus and /subscribedSkus/{id}")
async def subscribed_skus(ctx: Ctx):
    page = await ctx.v1.subscribed_skus.get()
    expect_schema(ctx, page)
    one = await ctx.v1.subscribed_skus.by_subscribed_sku_id(page.value[0].id).get()
    expect_schema(ctx, one, nonempty=False)


@check("schema", "beta GET /subscribedSkus")
async def subscribed_skus_beta(ctx: Ctx):
    page = await ctx.beta.subscribed_skus.get()
    expect_schema(ctx, page)


# ---- mail -----------------------------------------------------------------------------------


@check("binding", "v1.0 POST /users/{upn}/sendMail as msgraph-sdk serializes it")
async def send_mail(ctx: Ctx):
    body = SendMailPostRequestBody(
        message=Message(
            subject="Your Cloud PC is ready",
            body=ItemBody(content_type=BodyType.Html, content="<p>Hello</p>"),
            to_recipients=[Recipient(email_address=EmailAddress(address=CAROL, name="Carol"))],
        ),
        save_to_sent_items=False,
    )
    await ctx.v1.users.by_user_id("runbooks@contoso.com").send_mail.post(body)
    expect(ctx.capture.last().status_code == 202, f"status {ctx.capture.last().status_code}")
    sent = ctx.capture.last().request.content.decode()
    outbox = (await ctx.admin.get("/outbox")).json()["value"]
    expect(len(outbox) == 1, f"outbox has {len(outbox)} messages (request body {sent})")
    expect("Your Cloud PC is ready" in str(outbox[0]), f"outbox {outbox[0]}")


@check("binding", "beta POST /users/{upn}/sendMail as msgraph-beta-sdk serializes it")
async def send_mail_beta(ctx: Ctx):
    body = BetaSendMailBody(
        message=BetaMessage(
            subject="Beta mail",
            body=BetaItemBody(content_type=BetaBodyType.Text, content="Hello"),
            to_recipients=[BetaRecipient(email_address=BetaEmailAddress(address=CAROL))],
        ),
        save_to_sent_items=True,
    )
    await ctx.beta.users.by_user_id("runbooks@contoso.com").send_mail.post(body)
    expect(ctx.capture.last().status_code == 202, f"status {ctx.capture.last().status_code}")
    outbox = (await ctx.admin.get("/outbox")).json()["value"]
    expect(len(outbox) == 1, f"outbox has {len(outbox)} messages")
