/**
 * Every error the client throws, in one tree:
 *
 *     ConsentSvcError
 *     ├── ApiError                the service answered with an error (problem+json fields on it)
 *     │   ├── InvalidInput        400: `errors` names each field at fault
 *     │   ├── Unauthorized        401
 *     │   ├── Forbidden           403
 *     │   ├── NotFound            404
 *     │   ├── Conflict            409: an idempotency key reused for a different event, or a collision
 *     │   ├── PayloadTooLarge     413
 *     │   ├── RateLimited         429 (retried first; thrown when the retries ran out)
 *     │   └── ServiceUnavailable  503 (retried first; thrown when the retries ran out)
 *     ├── TransportError          no answer: network error or timeout (after the retries)
 *     ├── StreamError             a send list's answers ended early or did not match the list
 *     └── WebhookSignatureError   a webhook delivery does not verify
 */
export class ConsentSvcError extends Error {
    name = "ConsentSvcError";
}
export class ApiError extends ConsentSvcError {
    name = "ApiError";
    status;
    type;
    title;
    detail;
    errors;
    requestId;
    /** The `Retry-After` header in seconds, if the answer had one. */
    retryAfter;
    constructor(status, problem, requestId, retryAfter) {
        const errors = problem.errors ?? [];
        const fields = errors.map((e) => `${e.field}: ${e.message}`).join("; ");
        super(`${status} ${problem.title ?? ""}: ${problem.detail ?? ""}${fields ? ` (${fields})` : ""}`);
        this.status = status;
        this.type = problem.type ?? "about:blank";
        this.title = problem.title ?? "";
        this.detail = problem.detail ?? "";
        this.errors = errors;
        this.requestId = requestId;
        this.retryAfter = retryAfter;
    }
}
export class InvalidInput extends ApiError {
    name = "InvalidInput";
}
export class Unauthorized extends ApiError {
    name = "Unauthorized";
}
export class Forbidden extends ApiError {
    name = "Forbidden";
}
export class NotFound extends ApiError {
    name = "NotFound";
}
export class Conflict extends ApiError {
    name = "Conflict";
}
export class PayloadTooLarge extends ApiError {
    name = "PayloadTooLarge";
}
export class RateLimited extends ApiError {
    name = "RateLimited";
}
export class ServiceUnavailable extends ApiError {
    name = "ServiceUnavailable";
}
export class TransportError extends ConsentSvcError {
    name = "TransportError";
}
export class StreamError extends ConsentSvcError {
    name = "StreamError";
}
export class WebhookSignatureError extends ConsentSvcError {
    name = "WebhookSignatureError";
}
const BY_STATUS = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
    503: ServiceUnavailable,
};
/** The typed error for an error answer (a body that is not problem+json keeps its text). */
export function apiError(status, body, requestId, retryAfter) {
    let problem;
    try {
        const parsed = JSON.parse(body);
        problem = typeof parsed === "object" && parsed !== null ? parsed : { detail: body.slice(0, 500) };
    }
    catch {
        problem = { status, title: "Error", detail: body.slice(0, 500) };
    }
    const Cls = BY_STATUS[status] ?? ApiError;
    return new Cls(status, problem, requestId, retryAfter);
}
