// Microsoft's JavaScript Graph client 3.x (@microsoft/microsoft-graph-client), unmodified, against
// `w365 sim serve --tls`. The client only attaches the token to, and follows nextLinks on,
// https URLs of Graph or of its `customHosts`: this is why the simulator serves HTTPS.
//
//   node checks.mjs TARGET.json COUNTS.out
// Prints one line per check; writes "passed failed" to COUNTS.out.
import { readFileSync, writeFileSync } from "node:fs";
import {
  Client,
  PageIterator,
  BatchRequestContent,
  BatchResponseContent,
  GraphError,
} from "@microsoft/microsoft-graph-client";

const [targetFile, countsFile] = process.argv.slice(2);
const target = JSON.parse(readFileSync(targetFile, "utf8"));
const base = target.baseUrl.replace(/\/$/, "");
const label = `js-${target.label}`;

async function token() {
  const answer = await fetch(`${base}/${target.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: target.clientId,
      client_secret: target.clientSecret,
      scope: "https://graph.microsoft.com/.default",
    }),
  });
  if (!answer.ok) throw new Error(`token endpoint ${answer.status}`);
  return (await answer.json()).access_token;
}

const accessToken = await token();
const client = Client.init({
  authProvider: (done) => done(null, accessToken),
  baseUrl: `${base}/`,
  defaultVersion: "v1.0",
  customHosts: new Set([new URL(base).hostname]),
});
const admin = (path, init = {}) =>
  fetch(`${base}/_sim${path}`, {
    ...init,
    headers: {
      "Content-Type": "application/json",
      [target.adminKeyHeader || "X-W365-Sim-Key"]: target.adminKey,
      ...(init.headers || {}),
    },
  });

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

const checks = [];
const check = (name, fn) => checks.push([name, fn]);

check("PageIterator follows https nextLinks through /users ($top=5)", async () => {
  const first = await client.api("/users").top(5).select("id,userPrincipalName").get();
  expect(first["@odata.nextLink"]?.startsWith(`${base}/v1.0/users?`), `nextLink ${first["@odata.nextLink"]}`);
  const seen = [];
  await new PageIterator(client, first, (u) => (seen.push(u.id), true)).iterate();
  const count = await client.api("/users/$count").header("ConsistencyLevel", "eventual").get();
  expect(seen.length === Number(count), `iterated ${seen.length} of ${count}`);
});

check("beta Cloud PCs with unknown enum members", async () => {
  const page = await client
    .api("/deviceManagement/virtualEndpoint/cloudPCs")
    .version("beta")
    .header("Prefer", "include-unknown-enum-members")
    .get();
  expect(page.value.length > 0 && page.value.every((pc) => pc.id && pc.status), "cloud PCs with status");
});

check("sendMail with the documentation's body", async () => {
  await admin("/outbox", { method: "DELETE" });
  await client.api("/users/runbooks@contoso.com/sendMail").post({
    message: {
      subject: "From the JavaScript client",
      body: { contentType: "Text", content: "Hello" },
      toRecipients: [{ emailAddress: { address: "carol.white@contoso.com" } }],
    },
    saveToSentItems: false,
  });
  const outbox = await (await admin("/outbox")).json();
  expect(outbox.value.length === 1, `outbox has ${outbox.value.length}`);
});

check("errors parse as GraphError with code, request-id and date", async () => {
  try {
    await client.api("/users/nobody@contoso.com").get();
  } catch (e) {
    expect(e instanceof GraphError, `not a GraphError: ${e}`);
    expect(e.statusCode === 404 && e.code === "Request_ResourceNotFound", `${e.statusCode} ${e.code}`);
    expect(e.requestId && e.date instanceof Date && !isNaN(e.date), `requestId ${e.requestId} date ${e.date}`);
    return;
  }
  throw new Error("the call succeeded");
});

check("RetryHandler honours Retry-After on 429", async () => {
  await admin("/faults", {
    method: "POST",
    body: JSON.stringify({
      method: "GET",
      path: "/v1.0/subscribedSkus",
      action: { status: { status: 429, retryAfterSecs: 1 } },
      trigger: { firstN: 1 },
    }),
  });
  const skus = await client.api("/subscribedSkus").get();
  expect(skus.value.length > 0, "SKUs after the retry");
  await admin("/faults", { method: "DELETE" });
});

check("BatchRequestContent: versioned item URLs answered like Graph, unversioned ones run with dependsOn", async () => {
  // 3.0.7 keeps the version in item URLs built from full Graph URLs, and Graph answers such an
  // item 400 "Resource not found for the segment 'v1.0'." (msgraph-sdk-javascript#1178, #1451);
  // the documented workaround is a full URL without the version.
  const versioned = new BatchRequestContent([
    { id: "1", request: new Request(`${base}/v1.0/users?$top=1`, { method: "GET" }) },
  ]);
  const sent = await versioned.getContent();
  expect(sent.requests[0].url.startsWith("/v1.0/"), `item url ${sent.requests[0].url}`);
  const first = new BatchResponseContent(await client.api("/$batch").post(sent)).getResponses();
  const body = await first.get("1").json();
  expect(first.get("1").status === 400 && body.error.message === "Resource not found for the segment 'v1.0'.",
    `versioned item: ${first.get("1").status} ${JSON.stringify(body)}`);

  const batch = new BatchRequestContent([
    { id: "1", request: new Request(`${base}/users?$top=1`, { method: "GET" }) },
    { id: "2", request: new Request(`${base}/groups?$top=1`, { method: "GET" }), dependsOn: ["1"] },
  ]);
  const answer = await client.api("/$batch").post(await batch.getContent());
  const responses = new BatchResponseContent(answer).getResponses();
  expect(responses.get("1")?.status === 200 && responses.get("2")?.status === 200,
    `statuses ${[...responses].map(([k, v]) => `${k}:${v.status}`)}`);
  const users = await responses.get("1").json();
  expect(users.value.length === 1, "item body");
});

let passed = 0;
let failed = 0;
for (const [name, fn] of checks) {
  try {
    await admin("/reset", { method: "POST" });
    await fn();
    passed++;
    console.log(`ok   [${label}] ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL [${label}] ${name} -- ${e?.message ?? e}`);
  }
}
writeFileSync(countsFile, `${passed} ${failed}\n`);
