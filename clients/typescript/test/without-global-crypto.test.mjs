// Node 18 has no global `crypto` unless asked for: the client then takes Web Crypto from
// node:crypto. Simulated here by removing the global (no server needed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";

Object.defineProperty(globalThis, "crypto", { value: undefined, configurable: true, writable: true });
const { ConsentClient, verifyWebhook, WebhookSignatureError } = await import("consent-svc-client");

test("webhooks verify without a global crypto", async () => {
  assert.equal(globalThis.crypto, undefined);
  const body = JSON.stringify({ id: "m1", type: "suppression.added", created_at: "2026-11-30T10:00:00Z", data: {} });
  const t = Math.floor(Date.now() / 1000);
  const mac = createHmac("sha256", "a-secret-of-sixteen-chars").update(`${t}.${body}`).digest("hex");
  const headers = { "consent-signature": `t=${t},v1=${mac}` };
  assert.equal((await verifyWebhook(headers, body, "a-secret-of-sixteen-chars")).id, "m1");
  await assert.rejects(verifyWebhook(headers, body, "another-secret-000"), WebhookSignatureError);
});

test("idempotency keys are made without a global crypto", async () => {
  const sent = [];
  const fetch = async (url, init) => {
    sent.push(JSON.parse(init.body));
    const event = { event_id: "e", subject_id: "s", recorded_at: "2026-11-30T10:00:00Z" };
    return new Response(JSON.stringify(event), { status: 201, headers: { "Content-Type": "application/json" } });
  };
  const client = new ConsentClient({ baseUrl: "http://consent.test", apiKey: "k", fetch });
  await client.record({ subject: { email: "a@example.se" }, type: "purchase" });
  assert.match(sent[0].idempotency_key, /^csc-[0-9a-f-]{36}$/);
});
