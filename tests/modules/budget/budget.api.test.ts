import { beforeAll, describe, expect, it } from "vitest";
import { sqlErrorCodes } from "../../../src/errors.ts";
import { codesOf, registerUser, useTestApi, type SignedIn } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";

// The budgeting app over GraphQL: onboarding, tags, expenses and corrections,
// the period summary, exports; bad input answers a coded 4xx error and writes nothing.
const api = useTestApi();
let alice: SignedIn;
let bob: SignedIn;
let aliceTags: Record<string, string> = {};

const onboard = (token: string, input: Record<string, unknown>) =>
  api.graphql(
    `mutation($input: BudgetCompleteOnboardingInput!) { budgetCompleteOnboarding(input: $input) { result { budgetAmount essentialsPct discretionaryPct savingsPct currency } } }`,
    { input },
    token,
  );
const createExpense = (token: string, input: Record<string, unknown>) =>
  api.graphql(`mutation($input: ExpensesCreateExpenseInput!) { expensesCreateExpense(input: $input) { result { expenseId amountCents status } } }`, { input }, token);
const correctExpense = (token: string, input: Record<string, unknown>) =>
  api.graphql(`mutation($input: ExpensesCorrectExpenseInput!) { expensesCorrectExpense(input: $input) { result { expenseId correctsId status } } }`, { input }, token);

/** Every code is a registered one of the 4xx class. */
const clientError = (codes: Array<string | undefined>) =>
  codes.every((code) => code !== undefined && code in sqlErrorCodes && sqlErrorCodes[code as keyof typeof sqlErrorCodes].status < 500);

async function count(sql: string, values: unknown[]): Promise<number> {
  const { rows } = await rootDb().query(`select count(*)::int as n from ${sql}`, values);
  return rows[0].n;
}

beforeAll(async () => {
  alice = await registerUser(api, "bgapia");
  bob = await registerUser(api, "bgapib");
  const done = await onboard(alice.accessToken, { budgetAmount: "300000", essentialsPct: 50, discretionaryPct: 30, savingsPct: 20, currency: "EUR", month: "2031-03-01" });
  expect(done.body.errors).toBeUndefined();
  await onboard(bob.accessToken, { budgetAmount: "100000", essentialsPct: 50, discretionaryPct: 30, savingsPct: 20, currency: "USD", month: "2031-03-01" });
  const tags = await api.graphql(`{ budgetTags { nodes { tagId name } } }`, {}, alice.accessToken);
  aliceTags = Object.fromEntries(tags.body.data?.budgetTags.nodes.map((tag: { name: string; tagId: string }) => [tag.name, tag.tagId]));
});

describe("the budgeting app over GraphQL", () => {
  it("onboards: settings, default tags, display currency and the onboarding flag", async () => {
    const me = await api.graphql(`{ currentUser { currency hasCompletedOnboarding } budgetDefaultSettings { nodes { budgetAmount currency } } }`, {}, alice.accessToken);
    expect(me.body.data).toEqual({
      currentUser: { currency: "EUR", hasCompletedOnboarding: true },
      budgetDefaultSettings: { nodes: [{ budgetAmount: "300000", currency: "EUR" }] },
    });
    expect(Object.keys(aliceTags)).toHaveLength(10);
  });

  it("refuses bad settings with coded 4xx errors and writes nothing", async () => {
    const bad = [
      { budgetAmount: "1000", essentialsPct: 50, discretionaryPct: 30, savingsPct: 30, currency: "EUR" },
      { budgetAmount: "-5", essentialsPct: 50, discretionaryPct: 30, savingsPct: 20, currency: "EUR" },
      { budgetAmount: "1000", essentialsPct: 50, discretionaryPct: 30, savingsPct: 20, currency: "EURO" },
      { budgetAmount: "1000", essentialsPct: 50, discretionaryPct: 30, savingsPct: 20, currency: "EUR", month: "1850-01-01" },
    ];
    const codes = [];
    for (const input of bad) codes.push(...codesOf(await onboard(bob.accessToken, input)));
    expect(codes).toEqual(["BGSPL", "BGAMT", "BGCUR", "BGMON"]);
    expect(clientError(codes)).toBe(true);
    const fractional = await onboard(bob.accessToken, { budgetAmount: "10.5", essentialsPct: 50, discretionaryPct: 30, savingsPct: 20, currency: "EUR" });
    // Fractional minor units are not a bigint: PostgreSQL's invalid_text_representation, passed through as a 400.
    expect(codesOf(fractional)).toEqual(["22P02"]);
    expect(clientError(codesOf(fractional))).toBe(true);
    const { rows } = await rootDb().query("select budget_amount, currency from budget.default_settings where user_id = $1", [bob.userId]);
    expect(rows).toEqual([{ budget_amount: "100000", currency: "USD" }]);
  });

  it("records expenses, corrects one (a second correction of it is EXCOR), and summarizes the month", async () => {
    const created = await createExpense(alice.accessToken, { amountCents: "1250", tagId: aliceTags.Groceries, spentOn: "2031-03-05", note: "Market" });
    expect(created.body.errors).toBeUndefined();
    const original = created.body.data?.expensesCreateExpense.result;
    expect(original).toMatchObject({ amountCents: "1250", status: "active" });
    const corrected = await correctExpense(alice.accessToken, { expenseId: original.expenseId, amountCents: "1300", tagId: aliceTags.Groceries, spentOn: "2031-03-05" });
    expect(corrected.body.data?.expensesCorrectExpense.result).toMatchObject({ correctsId: original.expenseId, status: "active" });
    expect(codesOf(await correctExpense(alice.accessToken, { expenseId: original.expenseId, amountCents: "1400", tagId: aliceTags.Groceries, spentOn: "2031-03-05" }))).toEqual(["EXCOR"]);
    await createExpense(alice.accessToken, { amountCents: "90000", tagId: aliceTags.Health, spentOn: "2031-03-10", spreadMonths: 3 });

    const active = await api.graphql(`{ expensesExpenses { nodes { expenseId amountCents tag { name } } } }`, {}, alice.accessToken);
    expect(active.body.data?.expensesExpenses.nodes).toHaveLength(2);
    const history = await api.graphql(`{ expensesEntries { totalCount } }`, {}, alice.accessToken);
    expect(history.body.data?.expensesEntries.totalCount).toBe(3);

    const summary = await api.graphql(
      `query($month: Date!) { budgetPeriodSummary(month: $month) { amount essentialsBudget essentialsSpent essentialsRemaining totalSpent topTags } }`,
      { month: "2031-03-01" },
      alice.accessToken,
    );
    expect(summary.body.errors).toBeUndefined();
    expect(summary.body.data?.budgetPeriodSummary).toMatchObject({
      amount: "300000",
      essentialsBudget: "150000",
      essentialsSpent: "31300",
      essentialsRemaining: "118700",
      totalSpent: "31300",
    });
    expect(summary.body.data?.budgetPeriodSummary.topTags.map((tag: { name: string }) => tag.name)).toEqual(["Health", "Groceries"]);
  });

  it("refuses bad expenses with coded 4xx errors and writes nothing", async () => {
    const before = await count("expenses.entries where user_id = $1", [alice.userId]);
    const bobTags = await api.graphql(`{ budgetTags(first: 1) { nodes { tagId } } }`, {}, bob.accessToken);
    const bobTag = bobTags.body.data?.budgetTags.nodes[0].tagId;
    const codes = [
      ...codesOf(await createExpense(alice.accessToken, { amountCents: "-100", tagId: aliceTags.Groceries, spentOn: "2031-03-05" })),
      ...codesOf(await createExpense(alice.accessToken, { amountCents: "100", tagId: aliceTags.Groceries, spentOn: "3031-03-05" })),
      ...codesOf(await createExpense(alice.accessToken, { amountCents: "100", tagId: bobTag, spentOn: "2031-03-05" })),
      ...codesOf(await createExpense(alice.accessToken, { amountCents: "100", tagId: aliceTags.Groceries, spentOn: "2031-03-05", spreadMonths: 0 })),
    ];
    expect(codes).toEqual(["EXAMT", "EXDAT", "EXTAG", "EXSPR"]);
    expect(clientError(codes)).toBe(true);
    const fractional = await createExpense(alice.accessToken, { amountCents: "12.5", tagId: aliceTags.Groceries, spentOn: "2031-03-05" });
    expect(codesOf(fractional)).toEqual(["22P02"]);
    expect(await count("expenses.entries where user_id = $1", [alice.userId])).toBe(before);
    // Tag rules through the API.
    expect(codesOf(await api.graphql(`mutation($id: UUID!) { budgetDeleteTag(input: { tagId: $id }) { clientMutationId } }`, { id: aliceTags.Groceries }, alice.accessToken))).toEqual(["BGTDF"]);
    expect(codesOf(await api.graphql(`mutation { budgetCreateTag(input: { name: "GROCERIES", bucket: "E" }) { clientMutationId } }`, {}, alice.accessToken))).toEqual(["BGTNT"]);
    const gym = await api.graphql(`mutation { budgetCreateTag(input: { name: "Gym", bucket: "D" }) { result { tagId } } }`, {}, alice.accessToken);
    const gymId = gym.body.data?.budgetCreateTag.result.tagId;
    await createExpense(alice.accessToken, { amountCents: "3000", tagId: gymId, spentOn: "2031-03-07" });
    expect(codesOf(await api.graphql(`mutation($id: UUID!) { budgetDeleteTag(input: { tagId: $id }) { clientMutationId } }`, { id: gymId }, alice.accessToken))).toEqual(["BGTIU"]);
    expect(await count("budget.tags where tag_id = $1 and deleted_at is null", [gymId])).toBe(1);
    const badSplit = await api.graphql(
      `mutation { budgetSetPeriod(input: { month: "2031-03-01", amount: "1000", essentialsPct: 90, discretionaryPct: 10, savingsPct: 10 }) { clientMutationId } }`,
      {},
      alice.accessToken,
    );
    expect(codesOf(badSplit)).toEqual(["BGSPL"]);
    expect(await count("budget.budget_periods where user_id = $1 and month = '2031-03-01' and amount = 300000", [alice.userId])).toBe(1);
  });

  it("opens a month once however often it is asked, and verifies the caller's own ledger", async () => {
    const open = () => api.graphql(`mutation { budgetOpenPeriod(input: { month: "2031-09-14" }) { result { periodId month } } }`, {}, alice.accessToken);
    const [first, second] = await Promise.all([open(), open()]);
    expect(first.body.data?.budgetOpenPeriod.result).toEqual(second.body.data?.budgetOpenPeriod.result);
    expect(first.body.data?.budgetOpenPeriod.result.month).toBe("2031-09-01");
    expect(await count("budget.budget_periods where user_id = $1 and month = '2031-09-01'", [alice.userId])).toBe(1);
    const verified = await api.graphql(`{ expensesVerifyLedger { nodes { expenseId problem } } }`, {}, alice.accessToken);
    expect(verified.body.errors).toBeUndefined();
    expect(verified.body.data?.expensesVerifyLedger.nodes).toEqual([]);
  });

  it("keeps each user's data from the other (the other's rows exist)", async () => {
    expect(await count("expenses.entries where user_id = $1", [alice.userId])).toBeGreaterThan(0);
    const seen = await api.graphql(`{ expensesEntries { totalCount } budgetTags { totalCount } budgetBudgetPeriods { nodes { userId } } }`, {}, bob.accessToken);
    expect(seen.body.data?.expensesEntries.totalCount).toBe(0);
    expect(seen.body.data?.budgetTags.totalCount).toBe(10);
    expect(seen.body.data?.budgetBudgetPeriods.nodes.every((period: { userId: string }) => period.userId === bob.userId)).toBe(true);
    expect(codesOf(await api.graphql(`{ expensesVerifyLedger(userId: "${alice.userId}") { nodes { problem } } }`, {}, bob.accessToken))).toEqual(["DNIED"]);
  });

  it("requests an export once: a second request returns the same pending job", async () => {
    const request = () => api.graphql(`mutation { datarightsRequestDataExport(input: {}) { result { rowId status } } }`, {}, alice.accessToken);
    const first = await request();
    expect(first.body.errors).toBeUndefined();
    const job = first.body.data?.datarightsRequestDataExport.result;
    expect(job.status).toBe("pending");
    // This test moves the job by hand: no worker may run it (tests/modules/datarights runs exports).
    await rootDb().query("select graphile_worker.remove_job($1)", [`datarights_export:${job.rowId}`]);
    expect((await request()).body.data?.datarightsRequestDataExport.result).toEqual(job);
    await rootDb().query("update datarights.export_jobs set status = 'running' where id = $1", [job.rowId]);
    expect(codesOf(await request())).toEqual(["DRRUN"]);
    await rootDb().query("update datarights.export_jobs set status = 'completed', completed_at = now(), file_size_bytes = 1 where id = $1", [job.rowId]);
    const limited = await request();
    expect(codesOf(limited)).toEqual(["DRLIM"]);
    expect(limited.body.errors?.[0]?.message).toMatch(/next is possible from \d{4}-\d\d-\d\d/);
    expect(await count("datarights.export_jobs where user_id = $1", [alice.userId])).toBe(1);
  });
});
