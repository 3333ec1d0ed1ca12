"""Cross-cutting protocol: API versions, ODataError parsing, paging with PageIterator, throttling
with the SDK's RetryHandler, $batch with msgraph-core's batch support, and azure-identity."""

from __future__ import annotations

import email.utils
import json
import os
import tempfile
import time
from datetime import datetime, timedelta, timezone

from azure.identity.aio import CertificateCredential, ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user import User
from msgraph.generated.models.user_collection_response import UserCollectionResponse
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.generated.device_management.virtual_endpoint.cloud_p_cs.item.reprovision.reprovision_post_request_body import (
    ReprovisionPostRequestBody,
)
from msgraph_core.requests.batch_request_builder import BatchRequestBuilder
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem
from msgraph_core.tasks.page_iterator import PageIterator

from .checks_windows365 import pc_of
from .harness import Capture, Ctx, Target, check, expect, expect_schema, schema_problems, v1_client

# ---- versions -------------------------------------------------------------------------------


async def v1_raw_call(ctx: Ctx, method: Method, path: str) -> ODataError:
    """Calls a path the v1.0 SDK has no request builder for (a beta-only segment) through the
    v1.0 SDK's adapter, with its ODataError mapping; returns the parsed error."""
    info = RequestInformation(method, "{+baseurl}" + path)
    info.path_parameters = {"baseurl": ctx.v1.request_adapter.base_url}
    info.headers.try_add("Accept", "application/json")
    try:
        await ctx.v1.request_adapter.send_no_response_content_async(info, {"XXX": ODataError})
    except ODataError as e:
        return e
    raise AssertionError(f"{path} succeeded on v1.0")


@check("versions", "beta-only segments under v1.0: 400 'Resource not found for the segment'")
async def beta_only_segments(ctx: Ctx):
    # Graph answers a beta-only segment requested on v1.0 with 400 BadRequest "Resource not
    # found for the segment '<segment>'." (msgraph-beta-sdk-python#764, microsoft-graph-docs#4900;
    # reference §11).
    pc = await pc_of(ctx, "kate.thomas@contoso.com")
    policy = (await ctx.raw("GET", "v1.0/deviceManagement/virtualEndpoint/provisioningPolicies")).json()["value"][0]["id"]
    cases = [
        (Method.GET, "/deviceManagement/virtualEndpoint/frontLineServicePlans", "frontLineServicePlans"),
        (Method.GET, "/deviceManagement/virtualEndpoint/sharedUseServicePlans", "sharedUseServicePlans"),
        (Method.POST, f"/deviceManagement/virtualEndpoint/cloudPCs/{pc}/powerOn", "powerOn"),
        (Method.POST, f"/deviceManagement/virtualEndpoint/cloudPCs/{pc}/powerOff", "powerOff"),
        (Method.POST, f"/deviceManagement/virtualEndpoint/provisioningPolicies/{policy}/apply", "apply"),
        (Method.POST, "/deviceManagement/virtualEndpoint/provisioningPolicies/applyConfig", "applyConfig"),
    ]
    for method, path, segment in cases:
        e = await v1_raw_call(ctx, method, path)
        expect(e.response_status_code == 400, f"{path}: status {e.response_status_code}")
        expect(e.error.code == "BadRequest", f"{path}: code {e.error.code}")
        expect(
            e.error.message == f"Resource not found for the segment '{segment}'.",
            f"{path}: message {e.error.message!r}",
        )


@check("versions", "v1.0 answers carry only v1.0 properties (beta-only ones absent)")
async def v1_only_properties(ctx: Ctx):
    from msgraph.generated.models.cloud_p_c import CloudPC
    from msgraph.generated.models.cloud_pc_provisioning_policy import CloudPcProvisioningPolicy

    ve = ctx.v1.device_management.virtual_endpoint
    for builder, model in ((ve.cloud_p_cs, CloudPC), (ve.provisioning_policies, CloudPcProvisioningPolicy)):
        page = await builder.get()
        raw = expect_schema(ctx, page)
        known = set(model().get_field_deserializers())
        for item in raw["value"]:
            extra = {k for k in item if not k.startswith("@odata.")} - known
            expect(not extra, f"{model.__name__}: {sorted(extra)} not in the v1.0 model")


# ---- errors ---------------------------------------------------------------------------------


def expect_odata_error(e: ODataError, status: int, code: str | None = None) -> None:
    expect(isinstance(e, ODataError), f"not an ODataError: {type(e).__name__}")
    expect(e.response_status_code == status, f"status {e.response_status_code}, wanted {status}")
    expect(e.error is not None, "no main error parsed")
    expect(bool(e.error.code), "no code")
    if code:
        expect(e.error.code == code, f"code {e.error.code}, wanted {code}")
    expect(bool(e.error.message), "no message")
    inner = e.error.inner_error
    expect(inner is not None, "no innerError")
    expect(bool(inner.request_id), "innerError without request-id")
    expect(inner.date is not None, "innerError without date")
    expect(not (inner.additional_data or {}).keys() - {"@odata.type"}, f"innerError extra {inner.additional_data}")


def expect_same_clock(ctx: Ctx, e: ODataError) -> None:
    """innerError.date and the response's Date header come from the same clock."""
    answer = ctx.capture.last()
    header = answer.headers.get("date")
    expect(header is not None, "no Date header")
    sent = email.utils.parsedate_to_datetime(header)
    inner = e.error.inner_error.date
    if inner.tzinfo is None:
        inner = inner.replace(tzinfo=timezone.utc)
    expect(abs((inner - sent).total_seconds()) <= 2, f"innerError.date {inner} vs Date {sent}")
    expect(answer.headers.get("request-id") == e.error.inner_error.request_id, "request-id header and body differ")


async def raises(awaitable) -> ODataError:
    try:
        await awaitable
    except ODataError as e:
        return e
    raise AssertionError("the call succeeded")


@check("errors", "400 (malformed $filter) parses as ODataError with innerError")
async def error_400(ctx: Ctx):
    q = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(filter="displayName eq 'unterminated")
    e = await raises(ctx.v1.users.get(RequestConfiguration(query_parameters=q)))
    expect_odata_error(e, 400)
    expect_same_clock(ctx, e)


@check("errors", "401 (invalid token) parses as ODataError")
async def error_401(ctx: Ctx):
    class Bad:
        async def get_token(self, *scopes, **kw):
            from azure.core.credentials import AccessToken

            return AccessToken("not-a-token", int(time.time()) + 3600)

    client = v1_client(ctx.target, Bad(), ctx.capture)
    e = await raises(client.users.get())
    expect_odata_error(e, 401, "InvalidAuthenticationToken")
    expect_same_clock(ctx, e)


@check("errors", "403 (app without the permission) parses as ODataError")
async def error_403(ctx: Ctx):
    from .harness import SimTokenCredential

    created = await ctx.admin.post("/apps", json={"displayName": "conformance no roles", "roles": []})
    created.raise_for_status()
    app = created.json()
    client = v1_client(ctx.target, SimTokenCredential(ctx.target, app["clientId"], app["clientSecret"]), ctx.capture)
    e = await raises(client.users.get())
    expect_odata_error(e, 403, "Authorization_RequestDenied")
    expect_same_clock(ctx, e)


@check("errors", "404 (unknown user) parses as ODataError")
async def error_404(ctx: Ctx):
    e = await raises(ctx.v1.users.by_user_id("nobody@contoso.com").get())
    expect_odata_error(e, 404, "Request_ResourceNotFound")
    expect_same_clock(ctx, e)


@check("errors", "405 (method not served) parses as ODataError")
async def error_405(ctx: Ctx):
    # The v1.0 SDK has POST /subscribedSkus in its builders (from the metadata); Graph does not
    # serve it.
    from msgraph.generated.models.subscribed_sku import SubscribedSku

    sku = (await ctx.raw("GET", "v1.0/subscribedSkus")).json()["value"][0]["id"]
    e = await raises(ctx.v1.subscribed_skus.by_subscribed_sku_id(sku).patch(SubscribedSku()))
    expect_odata_error(e, 405)
    expect_same_clock(ctx, e)


@check("errors", "409 (Cloud PC action while another runs) parses as ODataError")
async def error_409(ctx: Ctx):
    pcs = ctx.v1.device_management.virtual_endpoint.cloud_p_cs
    pc = pcs.by_cloud_p_c_id(await pc_of(ctx, "alice.smith@contoso.com"))
    await pc.reprovision.post(ReprovisionPostRequestBody())
    e = await raises(pc.reboot.post())
    expect_odata_error(e, 409)
    expect_same_clock(ctx, e)


@check("errors", "429 (throttled, retries off) parses as ODataError with Retry-After")
async def error_429(ctx: Ctx):
    await ctx.add_fault(
        {"method": "GET", "path": "/v1.0/users", "action": {"status": {"status": 429, "retryAfterSecs": 1}}}
    )
    config = RequestConfiguration(options=[RetryHandlerOption(max_retries=0, should_retry=False)])
    e = await raises(ctx.v1.users.get(config))
    expect_odata_error(e, 429)
    expect_same_clock(ctx, e)
    expect(ctx.capture.last().headers.get("retry-after") == "1", "Retry-After header")


# ---- paging ---------------------------------------------------------------------------------


@check("paging", "PageIterator walks /users with $top=7 over absolute nextLinks of the client's scheme")
async def paging_users(ctx: Ctx):
    q = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=7, select=["id", "userPrincipalName"])
    first = await ctx.v1.users.get(RequestConfiguration(query_parameters=q))
    raw = ctx.capture.last_json()
    expect(raw["@odata.nextLink"].startswith(ctx.target.base_url + "/v1.0/users?"), f"nextLink {raw['@odata.nextLink']}")
    expect(raw["@odata.context"].startswith(ctx.target.base_url + "/v1.0/$metadata#users"), f"context {raw['@odata.context']}")
    seen: list[str] = []

    def collect(user: User) -> bool:
        seen.append(user.id)
        return True

    iterator = PageIterator(first, ctx.v1.request_adapter)
    await iterator.iterate(collect)
    total = (await ctx.raw("GET", "v1.0/users/$count", headers={"ConsistencyLevel": "eventual"})).text
    expect(len(seen) == int(total), f"iterated {len(seen)} of {total}")
    expect(len(set(seen)) == len(seen), "duplicates across pages")


@check("paging", "PageIterator walks group members and Cloud PCs")
async def paging_members(ctx: Ctx):
    from msgraph.generated.device_management.virtual_endpoint.cloud_p_cs.cloud_p_cs_request_builder import (
        CloudPCsRequestBuilder,
    )

    q = CloudPCsRequestBuilder.CloudPCsRequestBuilderGetQueryParameters(top=3)
    first = await ctx.v1.device_management.virtual_endpoint.cloud_p_cs.get(RequestConfiguration(query_parameters=q))
    seen = []
    iterator = PageIterator(first, ctx.v1.request_adapter)
    await iterator.iterate(lambda pc: seen.append(pc.id) or True)
    total = len((await ctx.raw("GET", "v1.0/deviceManagement/virtualEndpoint/cloudPCs")).json()["value"])
    expect(len(seen) == total and total > 3, f"iterated {len(seen)} of {total}")


# ---- throttling -----------------------------------------------------------------------------


@check("throttling", "the SDK's RetryHandler retries 429 and 503 after Retry-After and succeeds")
async def throttling(ctx: Ctx):
    await ctx.add_fault(
        {
            "method": "GET",
            "path": "/v1.0/subscribedSkus",
            "action": {"status": {"status": 429, "retryAfterSecs": 1}},
            "trigger": {"firstN": 1},
        }
    )
    await ctx.add_fault(
        {
            "method": "GET",
            "path": "/v1.0/subscribedSkus",
            "action": {"status": {"status": 503, "retryAfterSecs": 1, "httpDate": True}},
            "trigger": {"firstN": 1},
        }
    )
    (await ctx.admin.delete("/requests")).raise_for_status()
    started = time.monotonic()
    page = await ctx.v1.subscribed_skus.get()
    waited = time.monotonic() - started
    expect(page is not None and page.value, "no SKUs after the retries")
    log = (await ctx.admin.get("/requests")).json()["value"]
    statuses = [r["status"] for r in log if r["path"] == "/v1.0/subscribedSkus"]
    expect(statuses == [429, 503, 200], f"statuses {statuses}")
    # A lower bound only: two Retry-After waits of one second each happened before success.
    expect(waited >= 1.9, f"retried before Retry-After elapsed ({waited:.2f}s for two 1 s waits)")


# ---- $batch ---------------------------------------------------------------------------------


@check("batch", "msgraph-core BatchRequestContent as the SDK builds it (absolute item URLs) answers like Graph")
async def batch_sdk_as_built(ctx: Ctx):
    # msgraph-core keeps the absolute URL in each item (its version-stripping regex never
    # matches: msgraph-sdk-python-core#1116, msgraph-sdk-python#1015), and Graph answers such an
    # item with a per-item 400 "Resource not found for the segment ...", the batch itself 200.
    item = BatchRequestItem(request_information=ctx.v1.users.to_get_request_information())
    content = BatchRequestContent({item.id: item})
    answer = await BatchRequestBuilder(ctx.v1.request_adapter).post(content)
    expect(ctx.capture.last().status_code == 200, f"batch status {ctx.capture.last().status_code}")
    one = answer.get_response_by_id(item.id)
    expect(one.status == 400, f"item status {one.status}")
    # This kiota-serialization-json drops JSON-object item bodies (kiota-python#737), which Graph
    # sends for JSON answers: the body is read from the raw answer.
    body = raw_item(ctx, item.id)["body"]
    expect(body["error"]["code"] == "BadRequest", f"item body {body}")
    expect(body["error"]["message"].startswith("Resource not found for the segment"), f"item body {body}")


@check("batch", "msgraph-core batch with relative URLs: GET, POST $ref, sendMail, 404 item, dependsOn")
async def batch_sdk_relative(ctx: Ctx):
    from msgraph.generated.models.reference_create import ReferenceCreate

    gid = await ctx.group_id("Engineering")
    uid = await ctx.user_id("alice.smith@contoso.com")
    users = BatchRequestItem(request_information=ctx.v1.users.to_get_request_information(), id="users")
    add = BatchRequestItem(
        request_information=ctx.v1.groups.by_group_id(gid).members.ref.to_post_request_information(
            ReferenceCreate(odata_id=f"{ctx.target.base_url}/v1.0/directoryObjects/{uid}")
        ),
        id="add",
    )
    members = BatchRequestItem(
        request_information=ctx.v1.groups.by_group_id(gid).members.to_get_request_information(),
        id="members",
        depends_on=["add"],
    )
    missing = BatchRequestItem(
        request_information=ctx.v1.users.by_user_id("nobody@contoso.com").to_get_request_information(), id="missing"
    )
    items = [users, add, members, missing]
    for it in items:
        # The documented workaround (msgraph-sdk-python#1015): relative URLs without the version.
        it.url = it.url.split("/v1.0", 1)[1]
    content = BatchRequestContent({it.id: it for it in items})
    sent = await BatchRequestBuilder(ctx.v1.request_adapter).post(content)
    request_body = json.loads(ctx.capture.last().request.content)
    statuses = sent.get_response_status_codes()
    expect(statuses == {"users": 200, "add": 204, "members": 200, "missing": 404}, f"statuses {statuses} for {json.dumps(request_body)[:300]}")
    # Item bodies: this kiota-serialization-json drops JSON-object bodies (kiota-python#737), so
    # BatchResponseContent.response_body cannot read what Graph sends; the raw item bodies are
    # parsed with the SDK's own models and parse nodes instead.
    from msgraph.generated.models.directory_object_collection_response import DirectoryObjectCollectionResponse

    page = parse_item_body(ctx, "users", UserCollectionResponse)
    problems = schema_problems(page, raw_item(ctx, "users")["body"])
    expect(page.value and not problems, f"users item: {problems[:4]}")
    listed = parse_item_body(ctx, "members", DirectoryObjectCollectionResponse)
    expect(uid in [m.id for m in listed.value], "the member added in the same batch is listed")
    error = parse_item_body(ctx, "missing", ODataError)
    expect(error.error.code == "Request_ResourceNotFound", f"missing: {error.error.code}")
    expect(error.error.inner_error and error.error.inner_error.request_id, "missing: innerError request-id")
    headers = sent.get_response_by_id("users").headers or {}
    expect(any(k.lower() == "content-type" for k in headers), f"users item headers {headers}")


def raw_item(ctx: Ctx, item_id: str) -> dict:
    for item in ctx.capture.last_json()["responses"]:
        if item["id"] == item_id:
            return item
    raise AssertionError(f"no response item {item_id}")


def parse_item_body(ctx: Ctx, item_id: str, model):
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory

    body = json.dumps(raw_item(ctx, item_id)["body"]).encode()
    node = JsonParseNodeFactory().get_root_parse_node("application/json", body)
    return node.get_object_value(model)


# ---- identity -------------------------------------------------------------------------------


def tls_only(target: Target) -> bool:
    return target.ca_file is not None


@check("identity", "azure-identity ClientSecretCredential with an authority override, then a Graph call")
async def identity_secret(ctx: Ctx):
    if not tls_only(ctx.target):
        # azure-identity only accepts https authorities; over plain HTTP it must refuse.
        try:
            ClientSecretCredential(ctx.target.tenant_id, ctx.target.client_id, ctx.target.client_secret,
                                   authority=ctx.target.base_url)
        except ValueError:
            return
        raise AssertionError("azure-identity accepted a plain-http authority")
    credential = ClientSecretCredential(
        ctx.target.tenant_id,
        ctx.target.client_id,
        ctx.target.client_secret,
        authority=ctx.target.base_url,
        disable_instance_discovery=True,
    )
    async with credential:
        token = await credential.get_token("https://graph.microsoft.com/.default")
        expect(token.token.count(".") == 2, "not a JWT")
        client = v1_client(ctx.target, credential, Capture())
        me = await client.users.by_user_id("alice.smith@contoso.com").get()
        expect(me.user_principal_name == "alice.smith@contoso.com", "the call with the token works")


@check("identity", "azure-identity CertificateCredential (client assertion) with an authority override")
async def identity_certificate(ctx: Ctx):
    if not tls_only(ctx.target):
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "w365 conformance")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    registered = await ctx.admin.post(f"/apps/{ctx.target.client_id}/certificates", json={"certificatePem": cert_pem})
    expect(registered.status_code == 200, f"registering the certificate: {registered.status_code} {registered.text}")
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
        f.write(key_pem + cert_pem)
        path = f.name
    try:
        credential = CertificateCredential(
            ctx.target.tenant_id,
            ctx.target.client_id,
            certificate_path=path,
            authority=ctx.target.base_url,
            disable_instance_discovery=True,
        )
        async with credential:
            token = await credential.get_token("https://graph.microsoft.com/.default")
            expect(token.token.count(".") == 2, "not a JWT")
            client = v1_client(ctx.target, credential, Capture())
            page = await client.subscribed_skus.get()
            expect(bool(page.value), "the call with the token works")
    finally:
        os.unlink(path)
