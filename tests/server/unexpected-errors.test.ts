import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { useTestApi } from "../helpers/api.ts";
import { failingPreset } from "./fixtures/failing-plugin.ts";

/** Every log line the API writes, parsed. */
const lines: Array<Record<string, any>> = [];
const sink = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split("\n")) if (line.trim()) lines.push(JSON.parse(line));
    done();
  },
});
const api = useTestApi({}, { extraPresets: [failingPreset], logger: pino({ level: "debug" }, sink) });

describe("an unexpected error", () => {
  it("answers an opaque INTERNAL_SERVER_ERROR whose errorId the log ties to the error and to the request id", async () => {
    const response = await fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "req-unexpected-1" },
      body: JSON.stringify({ query: "query Failing { testUnexpectedError }" }),
    });
    const body = (await response.json()) as { errors: Array<{ message: string; extensions: { code: string; errorId: string } }> };
    expect(response.headers.get("x-request-id")).toBe("req-unexpected-1");
    const [error] = body.errors;
    expect(error!.extensions.code).toBe("INTERNAL_SERVER_ERROR");
    expect(error!.extensions.errorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(error!.message).not.toContain("secret internal detail");
    const errorId = error!.extensions.errorId;

    // The cause, logged where it happened (with the detail the client never sees)…
    const cause = lines.find((line) => line.errorId === errorId);
    expect(cause?.msg).toBe("unexpected error in a GraphQL request");
    expect(cause?.err?.message).toBe("secret internal detail");
    // …and the request's own line, at error level, naming the same errorId next to its request id.
    const requestLine = () => lines.find((line) => line.msg === "request" && line.requestId === "req-unexpected-1");
    await expect.poll(requestLine).toBeDefined();
    const request = requestLine()!;
    expect(request.level).toBe(50);
    expect(request.errorIds).toEqual([errorId]);
    expect(request.errors).toEqual(["INTERNAL_SERVER_ERROR"]);
    expect(request.operationName).toBe("Failing");
  });
});
