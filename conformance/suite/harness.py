"""The suite's frame: check registry, one simulator target (plain HTTP or HTTPS), SDK clients
wired to it exactly as a user would wire them, and the schema walk.

Every Graph call in the checks goes through the SDKs' own request builders and models
(`msgraph` for v1.0, `msgraph_beta` for beta). The raw bodies are captured with an httpx
response hook only to compare them with what the models understood.
"""

from __future__ import annotations

import dataclasses
import json
import ssl
import time
import traceback
from typing import Any, Awaitable, Callable, Optional

import httpx
from azure.core.credentials import AccessToken
from kiota_abstractions.serialization import Parsable
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter as V1Adapter
from msgraph import GraphServiceClient as V1Client
from msgraph_beta import GraphRequestAdapter as BetaAdapter
from msgraph_beta import GraphServiceClient as BetaClient
from msgraph_core import APIVersion, GraphClientFactory

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class CheckFailed(AssertionError):
    """A check's expectation did not hold."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@dataclasses.dataclass
class Check:
    area: str
    name: str
    fn: Callable[["Ctx"], Awaitable[None]]


CHECKS: list[Check] = []


def check(area: str, name: str):
    """Registers `async def fn(ctx)` as one check."""

    def register(fn):
        CHECKS.append(Check(area, name, fn))
        return fn

    return register


@dataclasses.dataclass
class Target:
    """One running simulator as `w365 sim serve` announced it."""

    label: str
    base_url: str  # no trailing slash
    tenant_id: str
    client_id: str
    client_secret: str
    ca_file: Optional[str]
    admin_key: str  # the /_sim admin API's key, as `sim serve` printed it
    admin_key_header: str

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/oauth2/v2.0/token"

    def ssl_context(self) -> ssl.SSLContext | bool:
        if self.ca_file is None:
            return True
        return ssl.create_default_context(cafile=self.ca_file)


class SimTokenCredential:
    """An async azure-core TokenCredential that runs the client-credentials grant against the
    simulator's token endpoint. Used by the non-identity checks so that they also run over
    plain HTTP (azure-identity refuses non-TLS authorities); the identity checks use
    azure-identity's own credentials."""

    def __init__(self, target: Target, client_id: str, client_secret: str):
        self._target = target
        self._client_id = client_id
        self._secret = client_secret
        self._token: Optional[AccessToken] = None

    async def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
        if self._token and self._token.expires_on - 60 > time.time():
            return self._token
        async with httpx.AsyncClient(verify=self._target.ssl_context()) as http:
            answer = await http.post(
                self._target.token_endpoint,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._secret,
                    "scope": " ".join(scopes) or GRAPH_SCOPE,
                },
            )
        answer.raise_for_status()
        body = answer.json()
        self._token = AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))
        return self._token

    def forget(self) -> None:
        """Drops the cached token: after the virtual clock jumps (a test's `advance`), the
        simulator's tokens, which live on that clock, may have expired; a real client would have
        fetched a new one by the time that much real time had passed."""
        self._token = None

    async def close(self) -> None:
        return None

    async def __aenter__(self):
        return self

    async def __aexit__(self, *args):
        return None


class Capture:
    """Keeps the raw answers the SDK's HTTP client received (hooked into httpx)."""

    def __init__(self) -> None:
        self.responses: list[httpx.Response] = []

    async def hook(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses.append(response)

    def last(self) -> httpx.Response:
        expect(bool(self.responses), "no HTTP answer was captured")
        return self.responses[-1]

    def last_json(self) -> Any:
        return self.last().json()

    def clear(self) -> None:
        self.responses.clear()


def http_client(target: Target, capture: Capture, version: APIVersion, **middleware) -> httpx.AsyncClient:
    """The SDK's own HTTP client (GraphClientFactory with its default middleware: retry,
    redirect, parameters, telemetry...), pointed at the simulator."""
    raw = httpx.AsyncClient(
        verify=target.ssl_context(),
        timeout=30.0,
        event_hooks={"response": [capture.hook]},
    )
    client = GraphClientFactory.create_with_default_middleware(
        api_version=version, client=raw, **middleware
    )
    client.base_url = f"{target.base_url}/{version.value}"
    return client


def auth_provider(credential) -> AzureIdentityAuthenticationProvider:
    return AzureIdentityAuthenticationProvider(
        credential, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1", "localhost"]
    )


def v1_client(target: Target, credential, capture: Capture) -> V1Client:
    adapter = V1Adapter(auth_provider(credential), client=http_client(target, capture, APIVersion.v1))
    adapter.base_url = f"{target.base_url}/v1.0"
    return V1Client(request_adapter=adapter)


def beta_client(target: Target, credential, capture: Capture) -> BetaClient:
    adapter = BetaAdapter(
        auth_provider(credential), client=http_client(target, capture, APIVersion.beta)
    )
    adapter.base_url = f"{target.base_url}/beta"
    return BetaClient(request_adapter=adapter)


class Ctx:
    """What a check gets: SDK clients for both versions, raw captures, the admin API."""

    def __init__(self, target: Target):
        self.target = target
        self.capture = Capture()
        self.credential = SimTokenCredential(target, target.client_id, target.client_secret)
        self.v1 = v1_client(target, self.credential, self.capture)
        self.beta = beta_client(target, self.credential, self.capture)
        self.admin = httpx.AsyncClient(
            base_url=f"{target.base_url}/_sim",
            verify=target.ssl_context(),
            timeout=30.0,
            headers={target.admin_key_header: target.admin_key},
        )
        self._users: dict[str, str] = {}
        self._groups: dict[str, str] = {}

    async def reset(self) -> None:
        """Back to the seeded contoso tenant, no faults."""
        (await self.admin.post("/reset")).raise_for_status()
        (await self.admin.delete("/faults")).raise_for_status()
        self._users.clear()
        self._groups.clear()
        self.credential.forget()

    async def advance(self, **by: float) -> None:
        (await self.admin.post("/clock/advance", json=by)).raise_for_status()
        self.credential.forget()

    async def add_fault(self, rule: dict) -> None:
        (await self.admin.post("/faults", json=rule)).raise_for_status()

    async def raw_token(self) -> str:
        return (await self.credential.get_token(GRAPH_SCOPE)).token

    async def raw(self, method: str, path: str, **kw) -> httpx.Response:
        """A plain HTTP call with a valid token (only to set up or to read what the SDK cannot)."""
        headers = kw.pop("headers", {})
        headers.setdefault("Authorization", f"Bearer {await self.raw_token()}")
        async with httpx.AsyncClient(verify=self.target.ssl_context(), timeout=30.0) as http:
            return await http.request(method, f"{self.target.base_url}/{path.lstrip('/')}", headers=headers, **kw)

    async def restore_point(self, cloud_pc_id: str) -> str:
        """The id of one of the Cloud PC's own restore points (the simulator, like Graph, restores
        only to those): read through the beta retrieveSnapshots function."""
        answer = await self.raw(
            "GET", f"beta/deviceManagement/virtualEndpoint/cloudPCs/{cloud_pc_id}/retrieveSnapshots"
        )
        answer.raise_for_status()
        return answer.json()["value"][0]["id"]

    async def user_id(self, upn: str) -> str:
        if upn not in self._users:
            answer = await self.raw("GET", f"v1.0/users/{upn}?$select=id")
            answer.raise_for_status()
            self._users[upn] = answer.json()["id"]
        return self._users[upn]

    async def group_id(self, name: str) -> str:
        if name not in self._groups:
            answer = await self.raw(
                "GET", "v1.0/groups", params={"$filter": f"displayName eq '{name}'", "$select": "id"}
            )
            answer.raise_for_status()
            found = answer.json()["value"]
            expect(len(found) == 1, f"group {name!r}: {len(found)} found")
            self._groups[name] = found[0]["id"]
        return self._groups[name]

    async def close(self) -> None:
        await self.admin.aclose()


# ---- schema ---------------------------------------------------------------------------------


def _additional_data_problems(obj: Any, path: str, out: list[str]) -> None:
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            _additional_data_problems(item, f"{path}[{i}]", out)
        return
    if not isinstance(obj, Parsable):
        return
    extra = getattr(obj, "additional_data", None) or {}
    for key in extra:
        if not key.startswith("@odata."):
            out.append(f"{path}.{key}: not a property of {type(obj).__module__.split('.')[0]} model {type(obj).__name__}")
    for name, value in vars(obj).items():
        if name in ("additional_data", "backing_store"):
            continue
        _additional_data_problems(value, f"{path}.{name}", out)


class _Probe:
    """A ParseNode stand-in whose every getter returns a marker: running a model's field
    deserializer on it shows which attribute that JSON property lands in."""

    MARK = object()

    def __getattr__(self, _name):
        return lambda *args, **kwargs: _Probe.MARK


_FIELD_MAPS: dict[type, dict[str, str]] = {}


def field_map(cls: type) -> dict[str, str]:
    """JSON property name -> Python attribute, for a generated model class."""
    if cls not in _FIELD_MAPS:
        instance = cls()
        mapping: dict[str, str] = {}
        for key, setter in instance.get_field_deserializers().items():
            setter(_Probe())
            for attr, value in list(vars(instance).items()):
                if value is _Probe.MARK:
                    mapping[key] = attr
                    setattr(instance, attr, None)
        _FIELD_MAPS[cls] = mapping
    return _FIELD_MAPS[cls]


def _dropped_values(raw: Any, model: Any, path: str, out: list[str]) -> None:
    """Values present in the raw answer the model lost: an enum member it does not know (the
    SDKs turn those into None silently), a value of the wrong JSON type..."""
    if not isinstance(model, Parsable) or not isinstance(raw, dict):
        return
    mapping = field_map(type(model))
    extra = getattr(model, "additional_data", None) or {}
    for key, value in raw.items():
        if value is None or key.startswith("@odata.") or key in extra:
            continue
        attr = mapping.get(key)
        if attr is None:
            out.append(f"{path}.{key}: no place for it in {type(model).__name__}")
            continue
        got = getattr(model, attr, None)
        where = f"{path}.{key}"
        if got is None:
            out.append(f"{where}: value {json.dumps(value)[:80]} lost by the model")
        elif isinstance(value, list) and isinstance(got, list):
            if len(got) != len(value):
                out.append(f"{where}: {len(value)} values, the model kept {len(got)}")
                continue
            for i, (r, m) in enumerate(zip(value, got)):
                if r is not None and m is None:
                    out.append(f"{where}[{i}]: value {json.dumps(r)[:80]} lost by the model")
                else:
                    _dropped_values(r, m, f"{where}[{i}]", out)
        elif isinstance(value, str) and isinstance(got, list):
            # A flags enum ("a,b") read as a collection of members.
            if any(m is None for m in got) or len(got) != len([v for v in value.split(",") if v.strip()]):
                out.append(f"{where}: flags {value!r} not all understood")
        else:
            _dropped_values(value, got, where, out)


def schema_problems(obj: Any, raw: Any) -> list[str]:
    """Everything the SDK model did not know in a raw answer: properties that landed in
    `additional_data` (other than `@odata.*` annotations), nested objects included, and values
    it could not read (unknown enum members)."""
    out: list[str] = []
    _additional_data_problems(obj, "$", out)
    _dropped_values(raw, obj, "$", out)
    return out


def expect_schema(ctx: Ctx, obj: Any, *, nonempty: bool = True) -> Any:
    """The model `obj` the SDK returned matches the raw answer it came from."""
    expect(obj is not None, "the SDK returned nothing")
    raw = ctx.capture.last_json()
    problems = schema_problems(obj, raw)
    expect(not problems, "; ".join(problems[:8]) + (f" (+{len(problems) - 8} more)" if len(problems) > 8 else ""))
    if nonempty and isinstance(raw, dict) and "value" in raw:
        expect(bool(raw["value"]), "the collection is empty, nothing was checked")
    return raw


async def run_checks(target: Target, selected: Optional[str]) -> tuple[int, int]:
    passed = failed = 0
    ctx = Ctx(target)
    try:
        # Identity checks first: a client assertion is signed with the real clock and checked
        # against the simulator's virtual one, which later checks advance by hours.
        for c in sorted(CHECKS, key=lambda c: c.area != "identity"):
            full = f"{c.area}: {c.name}"
            if selected and selected not in full:
                continue
            try:
                await ctx.reset()
                ctx.capture.clear()
                await c.fn(ctx)
            except CheckFailed as e:
                failed += 1
                print(f"FAIL [{target.label}] {full} -- {e}", flush=True)
            except Exception as e:  # the SDK raising is a failure of the check, with its reason
                failed += 1
                detail = describe_exception(e)
                print(f"FAIL [{target.label}] {full} -- {detail}", flush=True)
            else:
                passed += 1
                print(f"ok   [{target.label}] {full}", flush=True)
    finally:
        await ctx.close()
    return passed, failed


def describe_exception(e: BaseException) -> str:
    error = getattr(e, "error", None)
    status = getattr(e, "response_status_code", None)
    if error is not None and getattr(error, "code", None):
        return f"{type(e).__name__} {status} {error.code}: {error.message}"
    text = f"{type(e).__name__}: {e}"
    tb = traceback.extract_tb(e.__traceback__)
    own = [f for f in tb if "/conformance/suite/" in f.filename]
    if own:
        f = own[-1]
        text += f" (at {f.filename.rsplit('/', 1)[-1]}:{f.lineno})"
    return text[:600]
