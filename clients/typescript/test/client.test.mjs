// The TypeScript client against a real `consent-svc serve`, with node's test runner. The server,
// a tenant with a `newsletter` purpose, and one real webhook delivery are prepared by
// tests/e2e/test_client_typescript.py, which runs these tests in the Python suite and passes:
//   CONSENT_TEST_URL       the server
//   CONSENT_TEST_KEY       an admin key of a fresh tenant
//   CONSENT_TEST_DELIVERY  a JSON file {headers, body, secret} of a delivery the server made
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import {
  ConsentClient,
  InvalidInput,
  Unauthorized,
  WebhookSignatureError,
  TransportError,
  verifyWebhook,
} from "consent-svc-client";

const url = process.env.CONSENT_TEST_URL;
const key = process.env.CONSENT_TEST_KEY;
if (!url || !key) throw new Error("set CONSENT_TEST_URL and CONSENT_TEST_KEY (tests/e2e/test_client_typescript.py does)");
const run = Math.random().toString(36).slice(2, 8);

const consent = (email) => ({
  subject: { email },
  type: "consent_given",
  purpose: "newsletter",
  proof: { notice_version: "2026-03" },
});

test("decide and decideMany answer a send list in order", async () => {
  const client = new ConsentClient({ baseUrl: url, apiKey: key });
  const consented = new Set();
  for (let i = 0; i < 20000; i += 331) consented.add(i);
  let recorded = 0;
  for await (const result of client.recordMany([...consented].map((i) => consent(`${run}-${i}@example.se`)), { batchSize: 25 })) {
    assert.match(result.event_id, /^[0-9a-f-]{36}$/);
    recorded++;
  }
  assert.equal(recorded, consented.size);

  const one = await client.decide("newsletter", "email", { email: `${run}-0@example.se` });
  assert.equal(one.allowed, true);
  assert.equal(one.reason, "consent_active");

  function* sendList() {
    for (let i = 0; i < 20000; i++) yield i === 4242 ? { email: "not-an-address" } : { email: `${run}-${i}@example.se` };
  }
  let i = 0;
  for await (const answer of client.decideMany(sendList(), { purpose: "newsletter", channel: "email", window: 3000 })) {
    if (i === 4242) {
      assert.equal(answer.reason, "invalid_identifier");
      assert.equal(answer.allowed, false);
    } else {
      assert.equal(answer.allowed, consented.has(i), `recipient ${i}`);
    }
    i++;
  }
  assert.equal(i, 20000);
});

test("a write lost on the way back is retried with the same key and recorded once", async () => {
  let calls = 0;
  // The first answer is thrown away after the server recorded the event, as a dropped connection would.
  const flaky = async (input, init) => {
    calls++;
    const response = await fetch(input, init);
    if (calls === 1) {
      await response.arrayBuffer();
      throw new TypeError("fetch failed");
    }
    return response;
  };
  const client = new ConsentClient({ baseUrl: url, apiKey: key, fetch: flaky, retry: { baseDelayMs: 1 } });
  const first = await client.record(consent(`${run}-retry@example.se`));
  assert.equal(calls, 2);
  const again = await client.record({ ...consent(`${run}-retry@example.se`), idempotency_key: "other-key-" + run });
  assert.notEqual(again.event_id, first.event_id);
  // The ledger holds two events for the person: the retried one once, and the one with the other key.
  const auth = { Authorization: `Bearer ${key}` };
  const subjects = await (await fetch(`${url}/v1/subjects?email=${run}-retry@example.se`, { headers: auth })).json();
  assert.equal(subjects.items.length, 1);
  const history = await (await fetch(`${url}/v1/subjects/${subjects.items[0].id}/events`, { headers: auth })).json();
  assert.deepEqual(history.items.map((e) => e.id).sort(), [first.event_id, again.event_id].sort());
});

test("retries run out into a TransportError", async () => {
  const down = async () => {
    throw new TypeError("fetch failed");
  };
  const client = new ConsentClient({ baseUrl: url, apiKey: key, fetch: down, retry: { attempts: 3, baseDelayMs: 1 } });
  await assert.rejects(client.decide("newsletter", "email", { email: "x@example.se" }), TransportError);
});

test("the suppression export pages to the end and resumes from a saved cursor", async () => {
  const client = new ConsentClient({ baseUrl: url, apiKey: key });
  for (let i = 0; i < 7; i++) {
    const response = await fetch(`${url}/v1/suppressions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: JSON.stringify({ email: `${run}-s${i}@example.se`, reason: "complaint" }),
    });
    assert.equal(response.status, 201);
  }
  const pages = [];
  for await (const page of client.suppressions.export({ limit: 3, format: "plain" })) pages.push(page);
  const emails = pages.flatMap((p) => p.items.map((item) => item.email)).filter((e) => e.startsWith(run));
  assert.deepEqual(emails, Array.from({ length: 7 }, (_, i) => `${run}-s${i}@example.se`));
  assert.equal(pages.at(-1).has_more, false);
  const saved = pages[0].next_cursor;
  const resumed = [];
  for await (const page of client.suppressions.export({ cursor: saved, limit: 3, format: "plain" })) resumed.push(...page.items);
  assert.deepEqual(
    resumed.map((item) => item.email),
    pages.slice(1).flatMap((p) => p.items.map((item) => item.email)),
  );
});

test("errors carry the problem+json fields", async () => {
  const client = new ConsentClient({ baseUrl: url, apiKey: key });
  await assert.rejects(
    client.record({ subject: { email: "x@example.se" }, type: "consent_given", purpose: "newsletter" }),
    (error) => {
      assert.ok(error instanceof InvalidInput);
      assert.equal(error.status, 400);
      assert.deepEqual(error.errors.map((e) => e.field), ["proof.notice_version"]);
      return true;
    },
  );
  const stranger = new ConsentClient({ baseUrl: url, apiKey: "csk_not-a-key" });
  await assert.rejects(stranger.decide("newsletter", "email", { email: "x@example.se" }), Unauthorized);
});

test("a real webhook delivery verifies with Web Crypto; a changed one does not", async (t) => {
  const path = process.env.CONSENT_TEST_DELIVERY;
  if (!path) return t.skip("no CONSENT_TEST_DELIVERY");
  const { headers, body, secret } = JSON.parse(readFileSync(path, "utf8"));
  const client = new ConsentClient({ baseUrl: url, apiKey: key });
  const message = await client.webhooks.verify(headers, body, secret);
  assert.equal(message.type, "suppression.added");
  assert.equal(message.id, headers["Consent-Event-Id"] ?? headers["consent-event-id"]);
  const asHeaders = new Headers(headers);
  assert.equal((await verifyWebhook(asHeaders, new TextEncoder().encode(body), secret)).id, message.id);
  await assert.rejects(verifyWebhook(headers, body.replace("@", "+x@"), secret), WebhookSignatureError);
  await assert.rejects(verifyWebhook(headers, body, "another-secret-0123456789"), WebhookSignatureError);
  await assert.rejects(verifyWebhook(headers, body, secret, { toleranceSeconds: -1 }), /too old/);
  await assert.rejects(verifyWebhook({}, body, secret), /no Consent-Signature/);
});

test("the library imports nothing from node: (edge runtimes)", () => {
  const dist = new URL("../dist/", import.meta.url);
  for (const file of readdirSync(dist).filter((f) => f.endsWith(".js"))) {
    const source = readFileSync(new URL(file, dist), "utf8");
    assert.doesNotMatch(source, /from\s+["']node:|require\(|process\./, file);
  }
});
