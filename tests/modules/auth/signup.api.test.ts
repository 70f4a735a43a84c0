import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { defaultTaskOptions } from "../../../src/config.ts";
import { createMailTransport } from "../../../src/mail/transport.ts";
import { createLogger } from "../../../src/logger.ts";
import { startWorker, type Worker } from "../../../src/worker/runner.ts";
import { authFields, codesOf, registerUser, uniqueUser, useTestApi } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";
import { until } from "../../helpers/until.ts";

/**
 * Issue 15: accounts cannot be enumerated through register, addresses are
 * verified, passwords are reset by mail. End to end: the API, the
 * auth_send_mail task in a real worker, and the .eml files of the development
 * mail transport, read as a person's mailbox would be.
 */
const api = useTestApi();
let mailDir = "";
let worker: Worker | undefined;

beforeAll(async () => {
  mailDir = await mkdtemp(path.join(tmpdir(), "gw-mail-"));
  worker = await startWorker({
    ownerUrl: inject("testDatabase").ownerUrl,
    concurrency: 2,
    logger: createLogger(process.env.LOG_LEVEL ?? "silent", "mail-test-worker"),
    tasks: { ...defaultTaskOptions, mail: { smtpUrl: undefined, dir: mailDir, from: "Groundwork <no-reply@test.example>", appUrl: "https://app.test.example" } },
    only: ["auth_send_mail"],
  });
});

afterAll(async () => {
  await worker?.stop();
  await rm(mailDir, { recursive: true, force: true });
});

interface Mail {
  to: string;
  subject: string;
  text: string;
}

/** Every mail in the folder to this address (other files' sign-ups land here too). */
async function mailsTo(address: string): Promise<Mail[]> {
  const files = (await readdir(mailDir)).filter((name) => name.endsWith(".eml")).sort();
  const mails: Mail[] = [];
  for (const file of files) {
    const parsed = await simpleParser(await readFile(path.join(mailDir, file)));
    const to = (Array.isArray(parsed.to) ? parsed.to : [parsed.to]).flatMap((list) => list?.value ?? []).map((entry) => entry.address?.toLowerCase());
    if (to.includes(address.toLowerCase())) mails.push({ to: address, subject: parsed.subject ?? "", text: parsed.text ?? "" });
  }
  return mails;
}

const subjects = {
  confirm: "Confirm your e-mail address",
  notice: "Someone tried to sign up with your e-mail address",
  reset: "Reset your password",
} as const;

/** The mails with this subject to the address, once there is one (a user made by registerUser also got a confirmation). */
const waitForMails = (address: string, subject: string) =>
  until(
    async () => (await mailsTo(address)).filter((mail) => mail.subject === subject),
    (mails) => mails.length >= 1,
    { what: `a mail "${subject}" to ${address}` },
  );

/** The token of a mail's link (the mail also shows it as a bare code). */
function tokenIn(mail: Mail, page: string): string {
  const match = mail.text.match(new RegExp(`https://app\\.test\\.example/${page}\\?token=([A-Za-z0-9_%-]+)`));
  if (!match) throw new Error(`no ${page} link in: ${mail.text}`);
  return decodeURIComponent(match[1]!);
}

const registerMutation = `mutation($input: RegisterInput!) { register(input: $input) { email linkExpiresAt } }`;
const verifyMutation = `mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { ${authFields} } }`;
const me = "query { currentUser { userId email emailVerifiedAt } }";

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

describe("register", () => {
  it("answers a sign-up with a known address exactly like one with a new address, and mails the owner instead", async () => {
    const owner = await registerUser(api, "owner");
    const fresh = uniqueUser("fresh");
    const probe = { ...uniqueUser("probe"), email: owner.email.toUpperCase() };
    const known = await timed(() => api.graphql(registerMutation, { input: probe }));
    const unknown = await timed(() => api.graphql(registerMutation, { input: fresh }));

    // The same status, the same shape, the same fields: only the echoed address differs.
    for (const answer of [known.value, unknown.value]) {
      expect(answer.status).toBe(200);
      expect(answer.body.errors).toBeUndefined();
      expect(Object.keys(answer.body.data!.register).sort()).toEqual(["email", "linkExpiresAt"]);
    }
    const expiresIn = (answer: typeof known.value) => new Date(answer.body.data!.register.linkExpiresAt).getTime() - Date.now();
    expect(Math.abs(expiresIn(known.value) - expiresIn(unknown.value))).toBeLessThan(60_000);
    // Both hash the password (bcrypt dominates): neither answer is several times faster.
    expect(known.ms / unknown.ms).toBeGreaterThan(0.25);
    expect(known.ms / unknown.ms).toBeLessThan(4);

    // No account for the probe, no second account for the address.
    const { rows } = await rootDb().query("select count(*)::int as n from auth.users where lower(email) = lower($1) or lower(username) = lower($2)", [owner.email, probe.username]);
    expect(rows[0].n).toBe(1);

    // The owner hears about it, with no link that would create an account; the new address gets its link.
    const [notice] = await waitForMails(owner.email, subjects.notice);
    expect(notice!.text).not.toMatch(/verify-email/);
    const [confirmation] = await waitForMails(fresh.email, subjects.confirm);
    expect(tokenIn(confirmation!, "verify-email")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("creates the account from the mailed link, once", async () => {
    const user = uniqueUser("verify");
    expect((await api.graphql(registerMutation, { input: user })).body.errors).toBeUndefined();
    // No account, so no sign-in, until the address is confirmed.
    expect(codesOf(await api.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, { input: { identifier: user.email, password: user.password } }))).toEqual(["CREDS"]);
    const [mail] = await waitForMails(user.email, subjects.confirm);
    const token = tokenIn(mail!, "verify-email");

    const verified = await api.graphql(verifyMutation, { input: { token } });
    expect(verified.body.errors).toBeUndefined();
    const session = verified.body.data!.verifyEmail;
    const current = await api.graphql(me, {}, session.accessToken);
    expect(current.body.data?.currentUser).toMatchObject({ userId: session.user.userId, email: user.email, emailVerifiedAt: expect.any(String) });

    expect(codesOf(await api.graphql(verifyMutation, { input: { token } }))).toEqual(["AUTOK"]);
    expect(codesOf(await api.graphql(verifyMutation, { input: { token: "made-up" } }))).toEqual(["AUTOK"]);
    const login = await api.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, { input: { identifier: user.username, password: user.password } });
    expect(login.body.errors).toBeUndefined();
  });
});

describe("password reset", () => {
  const requestMutation = `mutation($email: String!) { requestPasswordReset(input: { email: $email }) { accepted } }`;
  const resetMutation = `mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { ${authFields} } }`;

  it("mails a single-use link, answers an unknown address the same, and revokes every session of the account", async () => {
    const user = await registerUser(api, "reset");
    // A second session, with its refresh token, before the reset.
    const other = await api.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }`, {
      input: { identifier: user.email, password: user.password },
    });
    const oldSession = other.body.data!.login as { accessToken: string; refreshToken: string };

    const known = await api.graphql(requestMutation, { email: user.email.toUpperCase() });
    const nobody = `nobody-${process.pid}-${Date.now()}@example.com`;
    const unknown = await api.graphql(requestMutation, { email: nobody });
    expect(known.body).toEqual(unknown.body);
    expect(known.body).toEqual({ data: { requestPasswordReset: { accepted: true } } });

    const [mail] = await waitForMails(user.email, subjects.reset);
    const token = tokenIn(mail!, "reset-password");
    // The unknown address got nothing (give its job, had there been one, the same time).
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await mailsTo(nobody)).toEqual([]);

    expect(codesOf(await api.graphql(resetMutation, { input: { token, newPassword: "short" } }))).toEqual(["WEAKP"]);
    expect(codesOf(await api.graphql(resetMutation, { input: { token: "wrong-token", newPassword: "brand new 4242" } }))).toEqual(["AUTOK"]);
    const reset = await api.graphql(resetMutation, { input: { token, newPassword: "brand new 4242" } });
    expect(reset.body.errors).toBeUndefined();
    const fresh = reset.body.data!.resetPassword;

    // Every earlier session is dead: access tokens see nothing, refresh tokens are refused.
    for (const accessToken of [user.accessToken, oldSession.accessToken]) {
      expect((await api.graphql(me, {}, accessToken)).body.data?.currentUser).toBeNull();
    }
    for (const refreshToken of [user.refreshToken, oldSession.refreshToken]) {
      expect(codesOf(await api.graphql(`mutation($input: RefreshSessionInput!) { refreshSession(input: $input) { accessToken } }`, { input: { refreshToken } }))).toEqual(["RTINV"]);
    }
    expect((await api.graphql(me, {}, fresh.accessToken)).body.data?.currentUser).toMatchObject({ userId: user.userId });

    // Once: the same link again fails; the old password is gone, the new one works.
    expect(codesOf(await api.graphql(resetMutation, { input: { token, newPassword: "another one 4242" } }))).toEqual(["AUTOK"]);
    const login = (password: string) => api.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, { input: { identifier: user.email, password } });
    expect(codesOf(await login(user.password))).toEqual(["CREDS"]);
    expect((await login("brand new 4242")).body.errors).toBeUndefined();
  });

  it("refuses an expired link", async () => {
    const user = await registerUser(api, "expired");
    await api.graphql(requestMutation, { email: user.email });
    const [mail] = await waitForMails(user.email, subjects.reset);
    await rootDb().query(
      "update auth_private.password_resets set expires_at = now() - interval '1 second' where user_id = $1",
      [user.userId],
    );
    expect(codesOf(await api.graphql(resetMutation, { input: { token: tokenIn(mail!, "reset-password"), newPassword: "brand new 4242" } }))).toEqual(["AUTOK"]);
    expect((await api.graphql(me, {}, user.accessToken)).body.data?.currentUser).toMatchObject({ userId: user.userId });
  });
});

describe("the mail transport", () => {
  it("sends over SMTP when SMTP_URL is set, and never shows its credentials", () => {
    const smtp = createMailTransport({ smtpUrl: "smtps://mailer:s3cret@smtp.example.com:465", dir: mailDir, from: "x@example.com", appUrl: "https://app.example" });
    expect(smtp.description).toBe("smtps://smtp.example.com:465");
    expect(createMailTransport({ smtpUrl: undefined, dir: mailDir, from: "x@example.com", appUrl: "https://app.example" }).description).toBe(mailDir);
  });
});
