import type { ModuleName } from "./modules.ts";

/**
 * Every error code a client can see in `extensions.code`, with its HTTP-class
 * status. SQL raises the five-character codes (`raise ... using errcode =
 * 'WEAKP'`); the server adds the transport codes. docs/errors.md documents the
 * same list, and a test keeps the two (and the migrations) in step. The
 * server's express routes and the PostGraphile plugins both answer with these.
 */
export interface ErrorCodeInfo {
  status: number;
  meaning: string;
}

/**
 * A SQL code also names the module it belongs to: a module's functions raise
 * its own codes and the shared ones (platform-wide refusals such as LOGIN,
 * DNIED, NTFND, BADST, BADIN, RTYPE, and PostgreSQL's own SQLSTATEs), never
 * another module's (tests/project/conventions.test.ts reads the raises from
 * the catalog).
 */
export interface SqlErrorCodeInfo extends ErrorCodeInfo {
  module: ModuleName | "shared";
}

export const sqlErrorCodes = {
  // auth: input
  BADIN: { module: "shared", status: 400, meaning: "A required field is missing, empty, or too long." },
  BADEM: { module: "auth", status: 400, meaning: "The e-mail address is not valid." },
  BADUN: { module: "auth", status: 400, meaning: "The username is not valid (2-32 characters: letters, digits, _ and -, starting with a letter)." },
  WEAKP: { module: "auth", status: 400, meaning: "The password does not meet the rule (10+ characters, at most 72 bytes, a letter and a digit)." },
  UNTKN: { module: "auth", status: 409, meaning: "The username is taken (case-insensitively)." },
  // Raised only by auth.register before issue 15 (committed migration 000001); register now answers a known address like a new one.
  EMTKN: { module: "auth", status: 409, meaning: "The e-mail address is taken (no longer raised: register answers alike)." },
  SLUGT: { module: "auth", status: 409, meaning: "The organization slug is taken." },
  // auth: credentials and sessions
  CREDS: { module: "auth", status: 401, meaning: "Unknown account or wrong password." },
  LOCKD: { module: "auth", status: 429, meaning: "Too many failed sign-ins for this account; retry after the window passes." },
  LOGIN: { module: "shared", status: 401, meaning: "You must be signed in (or your session was revoked)." },
  RTINV: { module: "auth", status: 401, meaning: "The refresh token is unknown, expired or revoked." },
  RTRSE: { module: "auth", status: 401, meaning: "The refresh token was already used: its whole session family is now revoked." },
  AUTOK: { module: "auth", status: 400, meaning: "The link's token (e-mail confirmation or password reset) is unknown, used or expired; ask for a new one." },
  // auth: permissions and membership
  DNIED: { module: "shared", status: 403, meaning: "You are not allowed to do this." },
  NOMEM: { module: "auth", status: 403, meaning: "Not a member of that organization." },
  NOROL: { module: "auth", status: 403, meaning: "That role is not granted to you." },
  MEMBR: { module: "auth", status: 409, meaning: "That user is already a member." },
  NOUSR: { module: "auth", status: 404, meaning: "No such user." },
  LOWNR: { module: "auth", status: 409, meaning: "An organization must keep at least one owner." },
  // platform primitives
  RTYPE: { module: "shared", status: 400, meaning: "The code is not an active type of its registry namespace (unknown or retired)." },
  AUDRO: { module: "audit", status: 403, meaning: "The audit change log is append-only: no update, delete or truncate." },
  NOPKY: { module: "audit", status: 400, meaning: "The table has no primary key, so it cannot be audited." },
  NTFND: { module: "shared", status: 404, meaning: "No such object that you may act on (absent, or not yours)." },
  BADST: { module: "shared", status: 409, meaning: "The object is not in a state that allows this (e.g. replaying a message that is not dead)." },
  // capstone: finance and sales
  INSUF: { module: "fintech", status: 409, meaning: "Insufficient funds: the debit would take a checking or savings account below zero." },
  PCLSD: { module: "fintech", status: 409, meaning: "The month of the posting is closed (finance.monthly_closure): nothing may be dated in it." },
  TXIMM: { module: "fintech", status: 409, meaning: "Postings and ledger records are never changed or deleted; post a correction instead." },
  PINAC: { module: "fintech", status: 409, meaning: "A product of the order is inactive (not for sale any more)." },
  // ledger
  LUNBL: { module: "ledger", status: 400, meaning: "The transaction does not balance: its entries do not sum to zero in every currency, or it has fewer than two." },
  LFUND: { module: "ledger", status: 409, meaning: "The posting would break an account's balance flags (insufficient funds, or a balance that may not go above zero)." },
  LCURR: { module: "ledger", status: 400, meaning: "Currency mismatch: an entry, transfer or hold is not in its account's currency (or the currency is unknown)." },
  LIDEM: { module: "ledger", status: 409, meaning: "The idempotency key was already used with different content." },
  LPCLS: { module: "ledger", status: 409, meaning: "The posting's effective time falls in a closed accounting period." },
  LPOVL: { module: "ledger", status: 409, meaning: "The accounting period overlaps an existing one." },
  LREVD: { module: "ledger", status: 409, meaning: "The transaction is already reversed." },
  LHOLD: { module: "ledger", status: 409, meaning: "The hold is no longer pending (posted, voided or expired)." },
  LHEXP: { module: "ledger", status: 409, meaning: "The hold expired and can no longer be posted." },
  LIMMU: { module: "ledger", status: 403, meaning: "Ledger transactions and entries are append-only: no update, delete or truncate." },
  LKIND: { module: "ledger", status: 403, meaning: "That transaction kind is reserved: reversal only through reverse, hold_post only through postHold, conversion and adjustment only for operators and trusted code." },
  LMETA: { module: "ledger", status: 400, meaning: "Transaction metadata is larger than 16 kB." },
  LDATE: { module: "ledger", status: 400, meaning: "effectiveAt is out of bounds: more than 5 minutes ahead, more than 24 hours back (signed-in users), or before the earliest accounting period (operators and trusted code)." },
  // registry: state machines
  RGTRN: { module: "registry", status: 409, meaning: "Not an allowed move of a state column (registry.transitions), or a new row that does not start in an initial state." },
  // events platform: reference data, people, events
  RFDEP: { module: "ref", status: 400, meaning: "An event category's parent must be a top-level category (the tree has two levels)." },
  // budgeting app: budget
  BGSPL: { module: "budget", status: 400, meaning: "The E/D/S split is three whole percentages from 0 to 100 that sum to 100." },
  BGAMT: { module: "budget", status: 400, meaning: "A budget amount is whole minor units from 0 to 10^14." },
  BGCUR: { module: "budget", status: 400, meaning: "Unknown currency (ledger.currencies)." },
  BGMON: { module: "budget", status: 400, meaning: "The month lies outside 2000-01 to 2099-12." },
  BGBKT: { module: "budget", status: 400, meaning: "A tag's bucket is E, D or S." },
  BGTNT: { module: "budget", status: 409, meaning: "You already have a tag of that name (case-insensitively)." },
  BGTDF: { module: "budget", status: 409, meaning: "Default tags can be renamed but not deleted." },
  BGTIU: { module: "budget", status: 409, meaning: "The tag is used by an active expense or a pending pro-rata installment." },
  BGPRA: { module: "budget", status: 400, meaning: "A pro-rata spread is 1 to 120 months, at least one minor unit per month." },
  // budgeting app: expenses
  EXAMT: { module: "expenses", status: 400, meaning: "An expense amount is whole cents from 1 to 10^12." },
  EXDAT: { module: "expenses", status: 400, meaning: "An expense is dated between 2000-01-01 and 2099-12-31." },
  EXCUR: { module: "expenses", status: 400, meaning: "Unknown currency (ledger.currencies)." },
  EXTAG: { module: "expenses", status: 400, meaning: "No such tag of yours (unknown, another user's, or deleted)." },
  EXSPR: { module: "expenses", status: 400, meaning: "An expense is spread over 1 to 120 months, at least one cent per month." },
  EXCOR: { module: "expenses", status: 409, meaning: "The expense was already corrected: only the active entry of a chain can be corrected." },
  EXIMM: { module: "expenses", status: 403, meaning: "Expense entries are never changed or deleted: record a correction instead." },
  // budgeting app: data rights
  DRRUN: { module: "datarights", status: 409, meaning: "An export of your data is running; it will arrive by mail." },
  DRLIM: { module: "datarights", status: 429, meaning: "One completed export per 30 days; the message and detail give the date it resets." },
  USSET: { module: "users", status: 400, meaning: "The settings do not match their schema (unknown key, wrong type, value not allowed) or the locale is not a BCP 47 tag." },
  USSLF: { module: "users", status: 400, meaning: "You cannot follow yourself." },
  EVDAT: { module: "events", status: 400, meaning: "An event must end after it starts." },
  EVCAT: { module: "events", status: 400, meaning: "Unknown event category (ref.event_categories)." },
  EVCTY: { module: "events", status: 400, meaning: "Unknown country code (ref.countries, ISO 3166-1 alpha-2)." },
  EVTZN: { module: "events", status: 400, meaning: "Unknown time zone (ref.timezones, IANA names)." },
  TKPRC: { module: "ticketing", status: 400, meaning: "A ticket price is a whole number of minor units from 0 to 100,000,000,000." },
  TKCUR: { module: "ticketing", status: 400, meaning: "Unknown currency for a ticket tier (ledger.currencies)." },
  TKCAP: { module: "ticketing", status: 409, meaning: "A tier's capacity cannot go below the tickets it has sold." },
  TKLIM: { module: "ticketing", status: 400, meaning: "More tickets than the tier's per-order limit in one hold or order." },
  TKWIN: { module: "ticketing", status: 409, meaning: "Sales are closed: the event is not published, or now is outside the tier's sales window." },
  TKSLD: { module: "ticketing", status: 409, meaning: "Sold out: fewer seats are left (capacity - sold - live holds) than asked for." },
  TKHEX: { module: "ticketing", status: 409, meaning: "The hold expired, was released or was already checked out: hold the tickets again." },
  TKKEY: { module: "ticketing", status: 409, meaning: "The checkout's client key was already used for an order of other tickets." },
  TKCOD: { module: "ticketing", status: 404, meaning: "No ticket has this code (a forged or mistyped code)." },
  TKRED: { module: "ticketing", status: 409, meaning: "The ticket is not issued any more (already redeemed, transferred, refunded or cancelled), or an order has nothing left to refund." },
  TKUSR: { module: "ticketing", status: 404, meaning: "No user has this username or e-mail address (the recipient of a transfer)." },
  TKSTA: { module: "ticketing", status: 409, meaning: "The event has started: a refund now needs the explicit override (afterStart)." },
  PYCUR: { module: "payments", status: 400, meaning: "Unknown currency (ledger.currencies)." },
  PYMSG: { module: "payments", status: 400, meaning: "A payment provider's payment.succeeded message lacks a valid data.paymentId, data.userId (an existing user), data.amount (a positive whole number) or data.currency." },
  PYINV: { module: "payments", status: 409, meaning: "Only a draft invoice is issued." },
  PYLIN: { module: "payments", status: 400, meaning: "Invoice lines are 1 to 500 objects {description, quantity, unitAmount} with a description of 1-500 characters, a quantity of 1-1,000,000 and a whole, non-negative unit amount." },
  PYLOT: { module: "payments", status: 400, meaning: "A credit lot's expiry must be in the future." },
  CMPRC: { module: "commerce", status: 400, meaning: "A price is a whole number of minor units (no fraction of a minor unit) from 0 to 100,000,000,000." },
  CMCUR: { module: "commerce", status: 400, meaning: "Unknown currency for a price (ledger.currencies; the points unit XLP is not for prices)." },
  CMINT: { module: "commerce", status: 400, meaning: "A bad recurring setting (interval 1 day, 7 days, 1 month, 3 months or 1 year; 1-1000 periods; 0-365 trial days; none for one-time prices), or a recurring price ordered / a one-time price subscribed to." },
  CMDUN: { module: "commerce", status: 400, meaning: "A dunning schedule is increasing whole days from 1 to 90 (at most 10 of them)." },
  CMPCT: { module: "commerce", status: 400, meaning: "A promotion is a percent off in (0, 100] or whole positive amounts off per known currency (one of the two), with a minimum order of whole minor units." },
  CMCOD: { module: "commerce", status: 404, meaning: "No active promotion with this code at the order's merchant (unknown, switched off, or another merchant's code)." },
  CMEXP: { module: "commerce", status: 409, meaning: "The promotion code is outside its validity window (not started or expired)." },
  CMMIN: { module: "commerce", status: 409, meaning: "The promotion does not apply: the order is below its minimum, has none of its products, or it has no amount off in the order's currency." },
  CMUSD: { module: "commerce", status: 409, meaning: "The promotion is used up: its total redemptions or your own limit are reached." },
  CMINA: { module: "commerce", status: 409, meaning: "A price is unknown or not for sale (the price or its product is inactive)." },
  CMCUX: { module: "commerce", status: 400, meaning: "An order's items are of one merchant and one currency." },
  CMPTS: { module: "commerce", status: 409, meaning: "More points than you hold, or points worth more than what is left to pay." },
  CMKEY: { module: "commerce", status: 409, meaning: "The client key was already used for an order of other items or a subscription to another price." },
  CMSTA: { module: "commerce", status: 409, meaning: "The order is not in the state this needs: only a pending order is cancelled, a cancelled one is never paid, only a paid one is fulfilled." },
  CMREF: { module: "commerce", status: 409, meaning: "Only a paid order with money paid is refunded, by at most what is left of it." },
  CMSUB: { module: "commerce", status: 409, meaning: "The subscription is not in a state for this (a canceled or expired subscription is never renewed, paused, resumed or canceled again; only active ones pause or change plan; only paused ones resume; only failed renewals are retried)." },
  CMPLN: { module: "commerce", status: 400, meaning: "A plan change goes to an active recurring price of the same merchant, currency and interval." },
  SPSTA: { module: "sponsorship", status: 409, meaning: "The order, proposal or deliverable is not in a state this step applies to (e.g. releasing twice, approving a disputed order, countering an expired proposal)." },
  SPDLV: { module: "sponsorship", status: 409, meaning: "The order has deliverables that are not approved yet: it is released when every one is approved (or by a dispute resolution)." },
  SPEXP: { module: "sponsorship", status: 409, meaning: "The proposal expired (or an expiry given for a new one is not in the future)." },
  SPAMT: { module: "sponsorship", status: 400, meaning: "An amount or price is a positive whole number of minor units, at most 100,000,000,000." },
  SPSLT: { module: "sponsorship", status: 409, meaning: "The package has no slot left (or its slots would go below what it sold)." },
  SPCUR: { module: "sponsorship", status: 400, meaning: "Unknown currency, or not the package's currency." },
  SPPKG: { module: "sponsorship", status: 400, meaning: "The package is not one of the proposal's event." },
  SPMNY: { module: "sponsorship", status: 500, meaning: "At commit: an order's ledger transactions disagree with its escrow state (a bug or a hand-written change; never from the API)." },
  CPRAT: { module: "campaigns", status: 400, meaning: "Rates per impression and per click are whole numbers of minor units from 0 to 100,000,000 (never negative)." },
  CPBUD: { module: "campaigns", status: 400, meaning: "A budget is positive, at most 100,000,000,000 and not below what the campaign spent; a daily cap is positive." },
  CPDAT: { module: "campaigns", status: 400, meaning: "A campaign ends after it starts." },
  CPCUR: { module: "campaigns", status: 400, meaning: "Unknown currency for a campaign." },
  CPOFF: { module: "campaigns", status: 409, meaning: "The campaign is not being served: not active (draft, paused, ended) or outside its schedule." },
  CPCRE: { module: "campaigns", status: 409, meaning: "The creative is not an approved creative of the campaign." },
  CPIMP: { module: "campaigns", status: 409, meaning: "A click names no impression of the campaign from the last 30 days: the whole batch is refused." },
  CPBAT: { module: "campaigns", status: 413, meaning: "A batch holds at most 10,000 impressions or clicks." },
  ANBAT: { module: "analytics", status: 400, meaning: "The impression batch is malformed: not an array of 1-1000 items, or an item with an unknown stream or key, a bad clientId, id, occurredAt, visitorId, source, countryCode or metadata." },
  ANRNG: { module: "analytics", status: 422, meaning: "An impression (or ticket activity) is dated before the retention window of its table or more than 5 minutes ahead of the server's clock." },
  ANENT: { module: "analytics", status: 404, meaning: "An impression names an event or post that does not exist or that you may not see." },
  ANRET: { module: "analytics", status: 400, meaning: "A retention is 1 to 120 months and months ahead 0 to 24." },
  MSTPL: { module: "messaging", status: 400, meaning: "A template's placeholder syntax is malformed ({{ name }} only), or its variables are not distinct lowercase names (at most 20, none built in)." },
  MSVAR: { module: "messaging", status: 400, meaning: "A template uses a placeholder that is neither built in nor declared, or a message job's variables miss, add or mistype one." },
  MSAUD: { module: "messaging", status: 403, meaning: "Unknown audience, an audience that needs an event without one, or an event that is not your organization's." },
  MLDIM: { module: "ml", status: 400, meaning: "The vector does not have the model's dimension." },
  MLNAN: { module: "ml", status: 400, meaning: "The vector holds NaN, infinity or null." },
  MLMOD: { module: "ml", status: 404, meaning: "No model of that name and version." },
  // PostgreSQL's own codes that are safe to show: they describe the input, not the server.
  "23502": { module: "shared", status: 400, meaning: "not_null_violation: a required value is missing." },
  "23503": { module: "shared", status: 409, meaning: "foreign_key_violation: the referenced row does not exist (or is still referenced)." },
  "23505": { module: "shared", status: 409, meaning: "unique_violation: a row with that value exists." },
  "23514": { module: "shared", status: 400, meaning: "check_violation: a value breaks a rule of the table or domain." },
  "22001": { module: "shared", status: 400, meaning: "string_data_right_truncation: a value is too long." },
  "22003": { module: "shared", status: 400, meaning: "numeric_value_out_of_range." },
  "22007": { module: "shared", status: 400, meaning: "invalid_datetime_format." },
  "22008": { module: "shared", status: 400, meaning: "datetime_field_overflow." },
  "22023": { module: "shared", status: 400, meaning: "invalid_parameter_value." },
  "22021": { module: "shared", status: 400, meaning: "character_not_in_repertoire: a text value holds a byte PostgreSQL text cannot (e.g. NUL, \\u0000)." },
  "22P05": { module: "shared", status: 400, meaning: "untranslatable_character: a value holds a character the database encoding cannot store (e.g. \\u0000 in JSON)." },
  "22009": { module: "shared", status: 400, meaning: "invalid_time_zone_displacement_value: a timestamp's offset or year is out of range." },
  "22015": { module: "shared", status: 400, meaning: "interval_field_overflow: an interval is out of range." },
  "22025": { module: "shared", status: 400, meaning: "invalid_escape_sequence: a pattern has a bad escape." },
  "2201B": { module: "shared", status: 400, meaning: "invalid_regular_expression." },
  "54000": { module: "shared", status: 400, meaning: "program_limit_exceeded: a value is too large for the database to store or index (e.g. a huge key)." },
  "22P02": { module: "shared", status: 400, meaning: "invalid_text_representation: a value has the wrong format (e.g. not a UUID)." },
  "40001": { module: "shared", status: 409, meaning: "serialization_failure: a concurrent change conflicted with this one; retry it." },
  "42501": { module: "shared", status: 403, meaning: "insufficient_privilege: your role may not do this (or a row-level security policy refused the row)." },
} as const satisfies Record<string, SqlErrorCodeInfo>;

/**
 * Codes that predate the prefix rule (a module's new codes start with its
 * `errorPrefix` from src/modules.ts): they keep their names, and this is the
 * one place that excuses them.
 */
export const legacyErrorCodes: readonly SqlErrorCode[] = [
  // auth (prefix AU)
  "BADEM", "BADUN", "WEAKP", "UNTKN", "EMTKN", "SLUGT", "CREDS", "LOCKD", "RTINV", "RTRSE", "NOMEM", "NOROL", "MEMBR", "NOUSR", "LOWNR",
  // audit (prefix AD)
  "AUDRO", "NOPKY",
  // fintech (prefix FN)
  "INSUF", "PCLSD", "TXIMM", "PINAC",
];

export const transportErrorCodes = {
  UNAUTHENTICATED: { status: 401, meaning: "The bearer token is invalid, expired, not yet valid, or for another issuer/audience." },
  FORBIDDEN: { status: 403, meaning: "The token's role is not one this API accepts." },
  BAD_REQUEST: { status: 400, meaning: "The HTTP request is malformed or refused: not JSON, no query, not POST (405), no acceptable media type (406), unsupported Content-Type (415)." },
  NOT_FOUND: { status: 404, meaning: "An update or delete by key matched no row that you may change (absent, or hidden by RLS)." },
  PAYLOAD_TOO_LARGE: { status: 413, meaning: "The request body is over the size limit (1 MB)." },
  GRAPHQL_PARSE_FAILED: { status: 400, meaning: "The GraphQL document does not parse." },
  GRAPHQL_VALIDATION_FAILED: { status: 400, meaning: "The GraphQL document does not match the schema (unknown field, wrong type...)." },
  BATCHING_NOT_SUPPORTED: { status: 400, meaning: "The body is a JSON array (a batch); send one operation per request." },
  DOCUMENT_TOO_LARGE: { status: 413, meaning: "The GraphQL document is over GRAPHQL_MAX_DOCUMENT_BYTES." },
  TOO_MANY_OPERATIONS: { status: 400, meaning: "The operation has more root fields (aliases count) than GRAPHQL_MAX_OPERATIONS." },
  DEPTH_LIMIT_EXCEEDED: { status: 400, meaning: "The selection nests deeper than GRAPHQL_MAX_DEPTH." },
  LIST_DEPTH_LIMIT_EXCEEDED: { status: 400, meaning: "More lists are nested inside each other than GRAPHQL_MAX_LIST_DEPTH." },
  PAGE_SIZE_LIMIT_EXCEEDED: { status: 400, meaning: "first/last is over GRAPHQL_MAX_PAGE_SIZE (default 100)." },
  COST_LIMIT_EXCEEDED: { status: 400, meaning: "The operation's estimated cost is over GRAPHQL_MAX_COST; the message and extensions.field name the list that costs most and the first: that would fit." },
  FILTER_TOO_COMPLEX: { status: 400, meaning: "A connection's filter, condition or having argument holds more values than GRAPHQL_MAX_FILTER_TERMS or nests deeper than GRAPHQL_MAX_FILTER_DEPTH." },
  INTROSPECTION_DISABLED: { status: 400, meaning: "__schema/__type asked for while introspection is off (GRAPHQL_INTROSPECTION)." },
  PERSISTED_OPERATION_NOT_FOUND: { status: 400, meaning: "The request names a persisted operation id that the manifest lacks." },
  PERSISTED_OPERATION_REQUIRED: { status: 400, meaning: "The server runs only persisted operations and the request sent a document that is not in the manifest." },
  PLANNING_TIMEOUT: { status: 400, meaning: "Planning the operation took longer than GRAPHQL_PLANNING_TIMEOUT_MS." },
  EXECUTION_TIMEOUT: { status: 503, meaning: "Running the operation took longer than GRAPHQL_EXECUTION_TIMEOUT_MS; the rest was not run." },
  STATEMENT_TIMEOUT: { status: 503, meaning: "A database statement ran longer than STATEMENT_TIMEOUT_MS and was cancelled." },
  RATE_LIMITED: { status: 429, meaning: "Too many requests from this client IP or user (or sign-ins from this IP, webhooks for one source from this IP, or impression batches from this IP) in the window; retry after Retry-After seconds." },
  SERVER_BUSY: { status: 503, meaning: "The route is handling as many requests as it may at once (POST /webhooks/:source: INBOX_CONCURRENCY); retry after Retry-After seconds." },
  SUBSCRIPTION_INTERRUPTED: { status: 503, meaning: "The server could not reach the database for longer than its realtime feed waits (30 s by default), or the database's transaction ids went back (a restore or a failover to a replica that was behind), so the feed cannot promise that nothing was missed: the subscription ends; subscribe again and re-query what it covers." },
  INTERNAL_SERVER_ERROR: { status: 500, meaning: "An unexpected error; details are in the server log under the given errorId." },
} as const satisfies Record<string, ErrorCodeInfo>;

export type SqlErrorCode = keyof typeof sqlErrorCodes;
export type ErrorCode = SqlErrorCode | keyof typeof transportErrorCodes;

export const errorCodes: Record<string, ErrorCodeInfo> = { ...sqlErrorCodes, ...transportErrorCodes };

export function isRegisteredSqlCode(code: unknown): code is SqlErrorCode {
  return typeof code === "string" && Object.hasOwn(sqlErrorCodes, code);
}

/** The body of an error answered outside GraphQL execution, shaped like a GraphQL result. */
export function errorBody(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
  return { errors: [{ message, extensions: { ...extensions, code } }] };
}
