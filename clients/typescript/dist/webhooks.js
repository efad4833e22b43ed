/**
 * Verifying consent-svc webhook deliveries with Web Crypto (Node 18+, Deno, Bun, edge runtimes,
 * browsers). Every delivery carries `Consent-Signature: t=<unix seconds>,v1=<hex>`, the hex being
 * HMAC-SHA256 of `"<t>." + body` with the webhook's secret (docs/webhooks.md).
 */
import { webCrypto } from "./crypto.js";
import { WebhookSignatureError } from "./errors.js";
export const SIGNATURE_HEADER = "Consent-Signature";
export const TOLERANCE_SECONDS = 300;
function header(headers, name) {
    if (typeof headers.get === "function") {
        return headers.get(name);
    }
    const wanted = name.toLowerCase();
    for (const [key, value] of Object.entries(headers)) {
        if (key.toLowerCase() === wanted && value !== undefined) {
            return Array.isArray(value) ? value.join(",") : value;
        }
    }
    return null;
}
function hexBytes(hex) {
    if (hex.length !== 64 || !/^[0-9a-fA-F]+$/.test(hex)) {
        return null;
    }
    const out = new Uint8Array(new ArrayBuffer(32));
    for (let i = 0; i < 32; i++) {
        out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    }
    return out;
}
/**
 * Check a delivery's signature and age; resolve to its message, or reject with
 * WebhookSignatureError. `body` is the raw body as received (bytes, or the exact text).
 */
export async function verifyWebhook(headers, body, secret, options = {}) {
    const value = header(headers, SIGNATURE_HEADER);
    if (!value) {
        throw new WebhookSignatureError(`no ${SIGNATURE_HEADER} header`);
    }
    const timestamps = [];
    const candidates = [];
    for (const part of value.split(",")) {
        const [key, ...rest] = part.trim().split("=");
        const v = rest.join("=");
        if (key === "t")
            timestamps.push(v);
        else if (key === "v1")
            candidates.push(v);
    }
    const first = timestamps[0];
    if (first === undefined || !/^-?\d+$/.test(first)) {
        throw new WebhookSignatureError("no timestamp in the signature header");
    }
    const t = Number(first);
    const now = options.now ?? Date.now() / 1000;
    if (Math.abs(now - t) > (options.toleranceSeconds ?? TOLERANCE_SECONDS)) {
        throw new WebhookSignatureError("the signature is too old or from the future (possible replay)");
    }
    const encoder = new TextEncoder();
    const bytes = typeof body === "string" ? encoder.encode(body) : body instanceof Uint8Array ? body : new Uint8Array(body);
    const prefix = encoder.encode(`${first}.`);
    const signed = new Uint8Array(prefix.length + bytes.length);
    signed.set(prefix, 0);
    signed.set(bytes, prefix.length);
    const { subtle } = await webCrypto();
    const key = await subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
        "verify",
    ]);
    let ok = false;
    for (const candidate of candidates) {
        const mac = hexBytes(candidate);
        // crypto.subtle.verify compares in constant time.
        if (mac && (await subtle.verify("HMAC", key, mac, signed))) {
            ok = true;
        }
    }
    if (!ok) {
        throw new WebhookSignatureError("the signature does not match");
    }
    const message = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof message !== "object" || message === null || typeof message.id !== "string") {
        throw new WebhookSignatureError("the signed body is not a webhook message");
    }
    return message;
}
