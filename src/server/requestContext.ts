import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** What the server learns about one HTTP request while answering it (for logs and metrics). */
export interface RequestRecord {
  requestId: string;
  operationName: string | undefined;
  operationType: string | undefined;
  /** extensions.code of every error answered. */
  errorCodes: string[];
  /** extensions.errorId of every unexpected error answered: the request's log line names them next to its requestId. */
  errorIds: string[];
}

const records = new WeakMap<IncomingMessage, RequestRecord>();

/** A client-supplied X-Request-Id is kept when it is short and plain; otherwise a new one is made. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === "string" && /^[A-Za-z0-9._:-]{1,128}$/.test(header) ? header : randomUUID();
}

export function startRecord(req: IncomingMessage): RequestRecord {
  const record: RequestRecord = { requestId: requestIdFrom(req.headers["x-request-id"]), operationName: undefined, operationType: undefined, errorCodes: [], errorIds: [] };
  records.set(req, record);
  return record;
}

export function recordOf(req: IncomingMessage | undefined): RequestRecord | undefined {
  return req ? records.get(req) : undefined;
}

/** The HTTP request of a GraphQL operation or, over a WebSocket, the socket's upgrade request (which has no record). */
export function requestOf(requestContext: Partial<Grafast.RequestContext> | undefined): IncomingMessage | undefined {
  return requestContext?.expressv4?.req ?? requestContext?.ws?.request;
}

/** Notes, for the request's log line and metrics, the code of every error answered and the errorId of unexpected ones. */
export function recordErrors(record: RequestRecord | undefined, errors: ReadonlyArray<{ extensions?: Record<string, unknown> }>): void {
  if (!record) return;
  for (const error of errors) {
    if (typeof error.extensions?.code === "string") record.errorCodes.push(error.extensions.code);
    if (typeof error.extensions?.errorId === "string") record.errorIds.push(error.extensions.errorId);
  }
}

