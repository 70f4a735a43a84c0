/**
 * The module registry: the one list of Groundwork's modules, their schemas,
 * their permanent block of migration split numbers, their error-code prefix,
 * their worker tasks and the outbox topics they publish. Everything that needs
 * such a list reads it from here: PostGraphile's schema list, the inflection's
 * unprefixed schemas, the request roles provisioned in PostgreSQL and accepted
 * in tokens, the generated schema reference, the module index in
 * docs/modules/README.md and the tests that keep the docs and the code in step.
 */

export interface ModuleInfo {
  /** Short name: docs/modules/<name>.md, tests/modules/<name>/, docs/reference/<name>.md. */
  name: string;
  title: string;
  /** What it is for, in one line (the module index shows it). */
  purpose: string;
  /** Schemas exposed through GraphQL, in the order PostGraphile gets them. */
  schemas: readonly string[];
  /** Schemas only trusted code uses: never exposed, never read by another module. */
  privateSchemas: readonly string[];
  /**
   * Schemas the module shares with PostgreSQL and extensions (only `public`,
   * for the seed's compatibility layer): never exposed through GraphQL; the
   * generated reference lists the module's objects there (not the extensions').
   */
  sharedSchemas?: readonly string[];
  /**
   * Split numbers of migrations/current/ files (`NNNN-topic.sql`) that belong
   * to the module: first and last, inclusive. A block never moves.
   */
  splits: readonly [number, number];
  /**
   * Prefix of the module's new error codes (docs/errors.md). No prefix starts
   * another, so a code names its module; codes older than the rule are listed
   * in `legacyErrorCodes` of src/errors.ts, where every SQL code names its module.
   */
  errorPrefix: string;
  /** graphile-worker task identifiers the module owns (src/worker/tasks/<name>.ts). */
  tasks: readonly string[];
  /** Outbox topics the module publishes (registry namespace outbox_topic) and consumes. */
  topics: { publishes: readonly string[]; consumes: readonly string[] };
  /** Built modules exist in the database; planned ones only reserve their block, prefix and names. */
  status: "built" | "planned";
}

const none = { publishes: [], consumes: [] } as const;

export const modules = [
  {
    name: "setup",
    title: "Setup",
    purpose: "Extensions and grants every module relies on (superuser work lives in migrations/afterReset.sql).",
    schemas: [],
    privateSchemas: [],
    splits: [0, 999],
    errorPrefix: "",
    tasks: [],
    topics: none,
    status: "built",
  },
  {
    name: "auth",
    title: "Auth: users, organizations, sessions, roles",
    purpose: "Users, profiles of sign-in, organizations and memberships, sessions with rotating refresh tokens and revocation, staff roles, the claim helpers policies use.",
    schemas: ["auth"],
    privateSchemas: ["auth_private"],
    splits: [1000, 1999],
    errorPrefix: "AU",
    tasks: ["auth_cleanup_refresh_token_blacklist", "auth_cleanup_links", "auth_send_mail"],
    topics: { publishes: ["user.registered", "member.added", "member.removed"], consumes: [] },
    status: "built",
  },
  {
    name: "registry",
    title: "Type registry",
    purpose: "Extensible types (statuses, kinds, topics) instead of enums, enforced by foreign key.",
    schemas: ["registry"],
    privateSchemas: ["registry_private"],
    splits: [2000, 2099],
    errorPrefix: "RG",
    tasks: [],
    topics: none,
    status: "built",
  },
  {
    name: "audit",
    title: "Audit: change log and activity",
    purpose: "Append-only record-version log sealed into a SHA-256 chain, and the activity history people read.",
    schemas: ["audit"],
    privateSchemas: ["audit_private"],
    splits: [2100, 2199],
    errorPrefix: "AD",
    tasks: ["audit_seal"],
    topics: none,
    status: "built",
  },
  {
    name: "outbox",
    title: "Outbox: events, webhooks, notifications",
    purpose: "Transactional outbox, signed webhook delivery with retries, dead letters and replay, in-app notifications.",
    schemas: ["outbox"],
    privateSchemas: ["outbox_private"],
    splits: [2300, 2399],
    errorPrefix: "OB",
    tasks: ["outbox_deliver", "outbox_sweep"],
    topics: { publishes: ["webhook.test"], consumes: ["*"] },
    status: "built",
  },
  {
    name: "inbox",
    title: "Inbox: inbound webhooks",
    purpose: "Inbound webhooks verified by signature and stored once per (source, external id); processed by a handler with retries.",
    schemas: ["inbox"],
    privateSchemas: ["inbox_private"],
    splits: [2400, 2499],
    errorPrefix: "IB",
    tasks: ["inbox_process"],
    topics: none,
    status: "built",
  },
  {
    name: "ops",
    title: "Ops: operator console, rate limits, metrics",
    purpose: "The operators' view of the job queue (retry, cancel, unlock), queue depth for metrics, the rate-limit store.",
    schemas: ["ops"],
    privateSchemas: ["ops_private"],
    splits: [2500, 2599],
    errorPrefix: "OP",
    tasks: ["ops_gc_job_queues"],
    topics: none,
    status: "built",
  },
  {
    name: "ledger",
    title: "Ledger: double-entry accounting",
    purpose: "Accounts, balanced transactions, immutable entries, holds, reversals, periods, idempotent postings: money for every module.",
    schemas: ["ledger"],
    privateSchemas: ["ledger_private"],
    splits: [3000, 3999],
    errorPrefix: "L",
    tasks: ["ledger_expire_holds"],
    topics: none,
    status: "built",
  },
  {
    name: "fintech",
    title: "Fintech (capstone): finance, sales, support, hr",
    purpose: "The capstone blueprint's company database: customers, accounts, partitioned transactions, orders, tickets, staff, reporting views.",
    schemas: ["finance", "sales", "support", "hr"],
    privateSchemas: ["finance_private", "sales_private", "support_private"],
    splits: [4000, 4999],
    errorPrefix: "FN",
    tasks: ["finance_create_partitions", "finance_refresh_views"],
    topics: none,
    status: "built",
  },
  // The events platform (Liventix seed): one module per schema, blocks inside 5xxx.
  {
    name: "ref",
    title: "Reference data",
    purpose: "Countries, currencies (the ledger's list), industries, time zones and event categories: read by everyone, written by operators.",
    schemas: ["ref"],
    privateSchemas: ["ref_private"],
    splits: [5000, 5099],
    errorPrefix: "RF",
    tasks: [],
    topics: none,
    status: "built",
  },
  {
    name: "users",
    title: "People: profiles, follows, settings",
    purpose: "Public profiles (the handle is the username), follows of people and organizations with counts, settings with validated notification preferences.",
    schemas: ["users"],
    privateSchemas: ["users_private"],
    splits: [5100, 5199],
    errorPrefix: "US",
    tasks: [],
    topics: none,
    status: "built",
  },
  {
    name: "events",
    title: "Events and their social content",
    purpose: "Events owned by organizations (tenant isolation by the org_id claim, status as a state machine), posts, comments, reactions, cultural guides, search; followers notified by the worker.",
    schemas: ["events"],
    privateSchemas: ["events_private"],
    splits: [5200, 5299],
    errorPrefix: "EV",
    tasks: ["events_notify_followers"],
    topics: { publishes: ["event.published", "event.cancelled", "event.comment_added"], consumes: [] },
    status: "built",
  },
  {
    name: "ticketing",
    title: "Ticketing: tiers, holds, orders, tickets",
    purpose: "Ticket tiers with capacity and sales windows, holds, checkout paid on the ledger in one transaction (idempotent, no oversell), tickets redeemed, transferred, refunded or cancelled along a state machine.",
    schemas: ["ticketing"],
    privateSchemas: ["ticketing_private"],
    splits: [5300, 5399],
    errorPrefix: "TK",
    tasks: ["ticketing_expire_holds"],
    topics: { publishes: ["order.paid", "ticket.issued", "ticket.redeemed", "ticket.transferred", "ticket.refunded"], consumes: [] },
    status: "built",
  },
  {
    name: "payments",
    title: "Payments on the ledger",
    purpose: "Wallets of users and organizations, receivables and platform revenue as ledger accounts; provider funding through the inbox, sales and refunds, payouts, gapless invoices and credit notes, credit lots with breakage.",
    schemas: ["payments"],
    privateSchemas: ["payments_private"],
    splits: [5400, 5499],
    errorPrefix: "PY",
    tasks: ["payments_expire_credit_lots"],
    topics: { publishes: ["wallet.funded", "payout.completed", "invoice.issued"], consumes: [] },
    status: "built",
  },
  {
    name: "sponsorship",
    title: "Sponsorship: packages, proposals, escrow, deliverables",
    purpose: "Sponsors and the packages events offer, proposals along the seed's state machine (expired by a job), orders whose escrow moves along the seed's machine with each money step one balanced ledger transaction, deliverables whose approval releases the escrow, suggested matches.",
    schemas: ["sponsorship"],
    privateSchemas: ["sponsorship_private"],
    splits: [5500, 5599],
    errorPrefix: "SP",
    tasks: ["sponsorship_expire_proposals", "sponsorship_compute_matches"],
    topics: {
      publishes: [
        "sponsorship.order.created", "sponsorship.order.funded", "sponsorship.order.locked", "sponsorship.order.released",
        "sponsorship.order.refunded", "sponsorship.order.disputed", "sponsorship.proposal.sent", "sponsorship.proposal.viewed",
        "sponsorship.proposal.counter_offer", "sponsorship.proposal.accepted", "sponsorship.proposal.rejected", "sponsorship.proposal.expired",
      ],
      consumes: [],
    },
    status: "built",
  },
  {
    name: "campaigns",
    title: "Ad campaigns: budgets, impressions, clicks, spend",
    purpose: "Campaigns with budgets and daily caps never exceeded under concurrency, creatives approved by operators, impressions (monthly partitions) and clicks (one per impression) counted in batches, spend settled to platform revenue through the ledger by a job and reconciled exactly.",
    schemas: ["campaigns"],
    privateSchemas: ["campaigns_private"],
    splits: [5600, 5699],
    errorPrefix: "CP",
    tasks: ["campaigns_settle_spend"],
    topics: { publishes: ["campaign.spend_settled", "campaign.settlement_failed"], consumes: [] },
    status: "built",
  },
  {
    name: "analytics",
    title: "Analytics: partitioned impressions and dashboards",
    purpose: "Event and post impressions and ticket activity partitioned by month (made ahead and on demand, dropped past retention), daily stats in a materialized view refreshed concurrently, audience insights, the one impression ingestion (batch endpoint, dedupe, rate limit).",
    schemas: ["analytics"],
    privateSchemas: ["analytics_private"],
    splits: [5700, 5799],
    errorPrefix: "AN",
    tasks: ["analytics_create_partitions", "analytics_drop_partitions", "analytics_refresh_stats", "analytics_compute_audience"],
    topics: none,
    status: "built",
  },
  {
    name: "messaging",
    title: "Messaging for every module",
    purpose: "Message templates validated when saved and rendered inertly, message jobs to an audience fanned out by the worker exactly once per recipient (in-app through the core's notifications, e-mail through the platform transport), unsubscribes, direct messages in conversations with read receipts.",
    schemas: ["messaging"],
    privateSchemas: ["messaging_private"],
    splits: [5800, 5899],
    errorPrefix: "MS",
    tasks: ["messaging_fan_out", "messaging_send_mail"],
    topics: none,
    status: "built",
  },
  {
    name: "ml",
    title: "ML: embeddings and recommendations",
    purpose: "Embeddings without a model download (feature hashing in SQL, or an operator's own vectors), features, models, exact-cosine similar events and events you may like, under the caller's rights.",
    schemas: ["ml"],
    privateSchemas: ["ml_private"],
    splits: [5900, 5989],
    errorPrefix: "ML",
    tasks: ["ml_embed_events"],
    topics: none,
    status: "built",
  },
  {
    name: "compat",
    title: "Compatibility layer (public)",
    purpose: "The Liventix seed's SQL surface in public: the events view and the current_org_id, user_orgs and create_event RPCs, under the caller's RLS; not in GraphQL.",
    schemas: [],
    privateSchemas: [],
    sharedSchemas: ["public"],
    splits: [5990, 5999],
    errorPrefix: "PC",
    tasks: [],
    topics: none,
    status: "built",
  },
  // The budgeting app.
  {
    name: "budget",
    title: "Budget: periods, tags, pro-rata",
    purpose: "Default settings and onboarding, one budget period per user and month with an E/D/S split, tags, pro-rata installments with exact rounding, the period summary.",
    schemas: ["budget"],
    privateSchemas: ["budget_private"],
    splits: [6000, 6099],
    errorPrefix: "BG",
    tasks: ["budget_open_periods"],
    topics: none,
    status: "built",
  },
  {
    name: "expenses",
    title: "Expenses: the immutable expense ledger",
    purpose: "Expense entries never changed or deleted; corrections with exactly one active entry per chain; tamper evidence through the audit module's sealed hash chain.",
    schemas: ["expenses"],
    privateSchemas: ["expenses_private"],
    splits: [6100, 6199],
    errorPrefix: "EX",
    tasks: [],
    topics: none,
    status: "built",
  },
  {
    name: "datarights",
    title: "Data rights: exports",
    purpose: "Data export jobs (pending, running, completed or failed; deduplicated, one completed per 30 days): everything a user owns in every module, as a ZIP of JSON files mailed to them.",
    schemas: ["datarights"],
    privateSchemas: ["datarights_private"],
    splits: [6200, 6299],
    errorPrefix: "DR",
    tasks: ["datarights_export"],
    topics: { publishes: ["datarights.export_completed", "datarights.export_failed"], consumes: [] },
    status: "built",
  },
  // Commerce.
  {
    name: "commerce",
    title: "Commerce: catalog, orders, subscriptions, promotions, loyalty",
    purpose: "Products and prices of merchants (organizations), orders paid from the customer's wallet in one ledger transaction with refunds, a subscription lifecycle engine renewed by jobs with dunning, pause and proration, promotion codes redeemed atomically, loyalty points as credit lots in a points currency.",
    schemas: ["commerce"],
    privateSchemas: ["commerce_private"],
    splits: [7000, 7999],
    errorPrefix: "CM",
    tasks: ["commerce_renew_subscription", "commerce_schedule_renewals", "commerce_award_points"],
    topics: { publishes: ["commerce.order.paid", "commerce.order.refunded", "subscription.changed", "subscription.renewed"], consumes: [] },
    status: "built",
  },
] as const satisfies readonly ModuleInfo[];

function planned(name: string, title: string, schemas: string[], splits: [number, number], errorPrefix: string): ModuleInfo {
  return { name, title, purpose: title, schemas, privateSchemas: [`${schemas[0] ?? name}_private`], splits, errorPrefix, tasks: [], topics: none, status: "planned" };
}

export type ModuleName = (typeof modules)[number]["name"];

export const builtModules: readonly ModuleInfo[] = modules.filter((module) => module.status === "built");

/** The schemas PostGraphile exposes, in order: built modules' public schemas. */
export const exposedSchemas: readonly string[] = builtModules.flatMap((module) => module.schemas);

/** Schemas whose tables and functions keep plain GraphQL names (`User`, `currentUser`); every other schema's names get the schema as prefix. */
export const unprefixedSchemas: readonly string[] = ["auth"];

/** Every schema a built module owns, exposed or private. */
export const moduleSchemas: readonly string[] = builtModules.flatMap((module) => [...module.schemas, ...module.privateSchemas]);

/** The module that owns a schema, if any. */
export function moduleOfSchema(schema: string): ModuleInfo | undefined {
  return modules.find((module: ModuleInfo) => module.schemas.includes(schema) || module.privateSchemas.includes(schema));
}

/** The module whose split block holds a migration split number. */
export function moduleOfSplit(split: number): ModuleInfo | undefined {
  return modules.find((module: ModuleInfo) => split >= module.splits[0] && split <= module.splits[1]);
}

/**
 * The roles a request may run as (never log in; gw_authenticator becomes them
 * per transaction). Provisioning creates them (migrations/afterReset.sql gets
 * them as placeholders) and token verification accepts no other role.
 */
export const requestRoles = ["gw_anonymous", "gw_user", "gw_admin", "role_sales", "role_finance", "role_support", "role_hr", "role_readonly"] as const;
export type RequestRole = (typeof requestRoles)[number];

/** Request roles held by signed-in people beyond gw_user: each inherits gw_user. */
export const staffRoles: readonly RequestRole[] = requestRoles.filter((role) => role !== "gw_anonymous" && role !== "gw_user");
