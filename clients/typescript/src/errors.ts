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

export class ConsentSvcError extends Error {
  override name = "ConsentSvcError";
}

export class ApiError extends ConsentSvcError {
  override name = "ApiError";
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: FieldError[];
  readonly requestId: string | null;
  /** The `Retry-After` header in seconds, if the answer had one. */
  readonly retryAfter: number | null;

  constructor(status: number, problem: Problem, requestId: string | null, retryAfter: number | null) {
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
  override name = "InvalidInput";
}
export class Unauthorized extends ApiError {
  override name = "Unauthorized";
}
export class Forbidden extends ApiError {
  override name = "Forbidden";
}
export class NotFound extends ApiError {
  override name = "NotFound";
}
export class Conflict extends ApiError {
  override name = "Conflict";
}
export class PayloadTooLarge extends ApiError {
  override name = "PayloadTooLarge";
}
export class RateLimited extends ApiError {
  override name = "RateLimited";
}
export class ServiceUnavailable extends ApiError {
  override name = "ServiceUnavailable";
}
export class TransportError extends ConsentSvcError {
  override name = "TransportError";
}
export class StreamError extends ConsentSvcError {
  override name = "StreamError";
}
export class WebhookSignatureError extends ConsentSvcError {
  override name = "WebhookSignatureError";
}

const BY_STATUS: Record<number, typeof ApiError> = {
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
export function apiError(status: number, body: string, requestId: string | null, retryAfter: number | null): ApiError {
  let problem: Problem;
  try {
    const parsed: unknown = JSON.parse(body);
    problem = typeof parsed === "object" && parsed !== null ? (parsed as Problem) : { detail: body.slice(0, 500) };
  } catch {
    problem = { status, title: "Error", detail: body.slice(0, 500) };
  }
  const Cls = BY_STATUS[status] ?? ApiError;
  return new Cls(status, problem, requestId, retryAfter);
}
