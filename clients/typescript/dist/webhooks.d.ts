/**
 * Verifying consent-svc webhook deliveries with Web Crypto (Node 18+, Deno, Bun, edge runtimes,
 * browsers). Every delivery carries `Consent-Signature: t=<unix seconds>,v1=<hex>`, the hex being
 * HMAC-SHA256 of `"<t>." + body` with the webhook's secret (docs/webhooks.md).
 */
export declare const SIGNATURE_HEADER = "Consent-Signature";
export declare const TOLERANCE_SECONDS = 300;
/** A verified delivery. `id` is the same on every retry: deduplicate on it. */
export interface WebhookMessage {
    id: string;
    type: string;
    created_at: string;
    data: Record<string, unknown>;
}
/** Request headers as a `Headers` object (fetch, edge runtimes) or Node's `req.headers`. */
export type HeadersLike = Headers | Record<string, string | string[] | undefined>;
export interface VerifyOptions {
    /** How far the signature's timestamp may be from now, in seconds (default 300). */
    toleranceSeconds?: number;
    /** Now, in seconds since the epoch (for tests). */
    now?: number;
}
/**
 * Check a delivery's signature and age; resolve to its message, or reject with
 * WebhookSignatureError. `body` is the raw body as received (bytes, or the exact text).
 */
export declare function verifyWebhook(headers: HeadersLike, body: string | Uint8Array | ArrayBuffer, secret: string, options?: VerifyOptions): Promise<WebhookMessage>;
