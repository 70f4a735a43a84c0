import { describe, expect, it } from "vitest";
import { useTestApi } from "../helpers/api.ts";

const api = useTestApi();

describe("health endpoints", () => {
  it("answers liveness and readiness", async () => {
    expect(await (await fetch(`${api.url}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${api.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
  });

  it("serves GraphiQL", async () => {
    const page = await fetch(`${api.url}/graphiql`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/ruru|graphiql/i);
  });
});
