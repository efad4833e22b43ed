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
export interface FieldError {
    field: string;
    message: string;
}
/** An `application/problem+json` answer (RFC 9457). */
export interface Problem {
    type?: string;
    title?: string;
    status?: number;
    detail?: string;
    errors?: FieldError[];
}
export declare class ConsentSvcError extends Error {
    name: string;
}
export declare class ApiError extends ConsentSvcError {
    name: string;
    readonly status: number;
    readonly type: string;
    readonly title: string;
    readonly detail: string;
    readonly errors: FieldError[];
    readonly requestId: string | null;
    /** The `Retry-After` header in seconds, if the answer had one. */
    readonly retryAfter: number | null;
    constructor(status: number, problem: Problem, requestId: string | null, retryAfter: number | null);
}
export declare class InvalidInput extends ApiError {
    name: string;
}
export declare class Unauthorized extends ApiError {
    name: string;
}
export declare class Forbidden extends ApiError {
    name: string;
}
export declare class NotFound extends ApiError {
    name: string;
}
export declare class Conflict extends ApiError {
    name: string;
}
export declare class PayloadTooLarge extends ApiError {
    name: string;
}
export declare class RateLimited extends ApiError {
    name: string;
}
export declare class ServiceUnavailable extends ApiError {
    name: string;
}
export declare class TransportError extends ConsentSvcError {
    name: string;
}
export declare class StreamError extends ConsentSvcError {
    name: string;
}
export declare class WebhookSignatureError extends ConsentSvcError {
    name: string;
}
/** The typed error for an error answer (a body that is not problem+json keeps its text). */
export declare function apiError(status: number, body: string, requestId: string | null, retryAfter: number | null): ApiError;
