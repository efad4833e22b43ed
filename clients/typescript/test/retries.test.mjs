// The client's retries against a scripted fetch (what a live server cannot be made to do on cue):
// the same idempotency key on every try, Retry-After honoured, a window cut off mid-answer resumed
// from the first unanswered recipient, and no retry of a 409.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConsentClient, Conflict, RateLimited, StreamError } from "consent-svc-client";

const EVENT = { subject: { email: "anna@example.se" }, type: "consent_given", purpose: "newsletter" };
const RESULT = { event_id: "e1", subject_id: "s1", recorded_at: "2026-11-30T10:00:00Z" };
const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

test("a retried write carries the same key and waits what Retry-After says", async () => {
  const bodies = [];
  const times = [];
  const answers = [
    json(503, { status: 503, title: "Service unavailable" }, { "Retry-After": "0.2" }),
    json(429, { status: 429, title: "Too many requests" }, { "Retry-After": "0.1" }),
    json(201, RESULT),
  ];
  const fetch = async (url, init) => {
    bodies.push(JSON.parse(init.body));
    times.push(performance.now());
    return answers.shift();
  };
  const client = new ConsentClient({ baseUrl: "http://consent.test", apiKey: "k", fetch, retry: { baseDelayMs: 60000 } });
  assert.deepEqual(await client.record(EVENT), RESULT);
  assert.equal(bodies.length, 3);
  assert.equal(new Set(bodies.map((b) => b.idempotency_key)).size, 1);
  // Retry-After (0.2 s, then 0.1 s), not the minute-long backoff this client is configured with.
  assert.ok(times[1] - times[0] >= 190 && times[1] - times[0] < 5000, `${times[1] - times[0]} ms`);
  assert.ok(times[2] - times[1] >= 90 && times[2] - times[1] < 5000, `${times[2] - times[1]} ms`);
});

test("retries run out into a typed error; a 409 is never retried", async () => {
  let calls = 0;
  const limited = async () => {
    calls++;
    return json(429, { status: 429, detail: "slow down" }, { "Retry-After": "0" });
  };
  const client = new ConsentClient({ baseUrl: "http://consent.test", apiKey: "k", fetch: limited, retry: { attempts: 3 } });
  await assert.rejects(client.record(EVENT), (error) => error instanceof RateLimited && error.detail === "slow down");
  assert.equal(calls, 3);
  calls = 0;
  const conflict = async () => {
    calls++;
    return json(409, { status: 409, title: "Conflict", detail: "key reused" });
  };
  const other = new ConsentClient({ baseUrl: "http://consent.test", apiKey: "k", fetch: conflict });
  await assert.rejects(other.record(EVENT), Conflict);
  assert.equal(calls, 1);
});

const answer = (line) => JSON.stringify({ allowed: JSON.parse(line).email.startsWith("ok"), reason: "r" }) + "\n";

test("a window cut off mid-answer is resumed from the first unanswered recipient", async () => {
  const sent = [];
  const fetch = async (url, init) => {
    assert.equal(init.headers["Content-Type"], "application/x-ndjson");
    const lines = init.body.trim().split("\n");
    sent.push(lines);
    const body = lines.map(answer).join("");
    if (sent.length === 1) {
      // Three answers, then the connection drops.
      const partial = lines.slice(0, 3).map(answer).join("");
      const stream = new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(partial));
        },
        pull(controller) {
          controller.error(new TypeError("terminated"));
        },
      });
      return new Response(stream, { status: 200 });
    }
    return new Response(body, { status: 200 });
  };
  const client = new ConsentClient({ baseUrl: "http://consent.test", apiKey: "k", fetch, retry: { baseDelayMs: 1 } });
  const recipients = Array.from({ length: 8 }, (_, i) => ({ email: `${i % 2 ? "ok" : "no"}${i}@example.se` }));
  const answers = [];
  for await (const a of client.decideMany(recipients, { purpose: "newsletter", channel: "email", window: 5 })) {
    answers.push(a.allowed);
  }
  assert.deepEqual(answers, recipients.map((_, i) => i % 2 === 1));
  assert.deepEqual(sent.map((s) => s.length), [5, 2, 3]);
  assert.deepEqual(sent[1], sent[0].slice(3));
});

test("a short answer is an error, not a silent gap", async () => {
  const fetch = async (url, init) => {
    const lines = init.body.trim().split("\n");
    return new Response(lines.slice(0, -1).map(answer).join(""), { status: 200 });
  };
  const client = new ConsentClient({ baseUrl: "http://consent.test", apiKey: "k", fetch });
  const run = async () => {
    for await (const _ of client.decideMany([{ email: "ok1@x.se" }, { email: "ok2@x.se" }], { purpose: "p", channel: "email" })) {
      // drain
    }
  };
  await assert.rejects(run, (error) => error instanceof StreamError && /answered 1 of 2/.test(error.message));
});
