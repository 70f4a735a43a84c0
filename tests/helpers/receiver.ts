import { createServer, type IncomingHttpHeaders } from "node:http";
import { afterAll, beforeAll } from "vitest";

export interface Received {
  headers: IncomingHttpHeaders;
  rawBody: string;
  body: { id: string; topic: string; data: Record<string, unknown>; aggregate: { type: string; id: string } | null; [key: string]: unknown };
  receivedAt: number;
  status: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Decides the HTTP status per request (default 204). */
  respond: (request: Omit<Received, "status">) => number | Promise<number>;
  /** Resolves once `predicate` holds for what was received, or fails after `timeoutMs`. */
  waitFor(predicate: (received: Received[]) => boolean, timeoutMs?: number): Promise<Received[]>;
}

/** A local webhook endpoint for the current test file, recording every request. */
export function useReceiver(): Receiver {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      const rawBody = Buffer.concat(chunks).toString("utf8");
      const request = { headers: req.headers, rawBody, body: JSON.parse(rawBody), receivedAt: performance.now() };
      const status = await receiver.respond(request);
      receiver.received.push({ ...request, status });
      res.statusCode = status;
      res.end();
      for (const waiter of [...waiters]) waiter();
    });
  });
  const waiters = new Set<() => void>();
  const receiver: Receiver = {
    url: "",
    received: [],
    respond: () => 204,
    waitFor(predicate, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(receiver.received)) {
            cleanup();
            resolve(receiver.received);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`receiver: condition not met within ${timeoutMs} ms (${receiver.received.length} requests received)`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    receiver.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return receiver;
}
