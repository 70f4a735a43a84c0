/** graphile-worker crontab: scheduled work lives here, one line per job. */
export const crontab = [
  // Expired entries no longer matter: the token they name is dead anyway.
  "*/15 * * * * auth_cleanup_refresh_token_blacklist ?max=1",
  // Expired sign-up confirmations and password reset links.
  "*/15 * * * * auth_cleanup_links ?max=1",
  // Seal committed audit rows into the hash chain: at most about a minute behind.
  "* * * * * audit_seal ?max=1",
  // Safety net for a delivery partition that lost its job (see outbox_private.enqueue_partitions).
  "* * * * * outbox_sweep ?max=1",
  "17 * * * * ops_gc_job_queues ?max=1",
  // finance.transactions: the current month and the next three always have a partition.
  "5 0 * * * finance_create_partitions ?max=1",
  // Reporting views (refreshed concurrently: readers are never blocked).
  "*/10 * * * * finance_refresh_views ?max=1",
  // Holds past expires_at already refuse to post; this releases their reservation within a minute.
  "* * * * * ledger_expire_holds ?max=1",
  // Every onboarded user's budget period of the new month (also created lazily on first use).
  "10 0 1 * * budget_open_periods ?max=1",
  // Expired ticket holds stop counting at once; this marks them and forgets finished ones after a day.
  "* * * * * ticketing_expire_holds ?max=1",
  // Expired credit lots: their remainder moves to breakage revenue.
  "*/5 * * * * payments_expire_credit_lots ?max=1",
  // Sent sponsorship proposals nobody viewed in time.
  "* * * * * sponsorship_expire_proposals ?max=1",
  // Suggested sponsors for upcoming events.
  "23 * * * * sponsorship_compute_matches ?max=1",
  // Ad spend leaves the advertisers' wallets in batches, never per impression.
  "*/5 * * * * campaigns_settle_spend ?max=1",
  // Analytics: the current month and the next three always have a partition; retention drops what is older than 13 months.
  "10 0 * * * analytics_create_partitions ?max=1",
  "20 0 * * * analytics_drop_partitions ?max=1",
  // Dashboards (refreshed concurrently: readers are never blocked), then audience insights.
  "7 * * * * analytics_refresh_stats ?max=1",
  "12 * * * * analytics_compute_audience ?max=1",
  '30 3 * * * analytics_compute_audience ?max=1&id=analytics_compute_audience_full {"full":true}',
  // Subscription renewals due within 10 minutes leave the calendar for the job queue, one add_jobs per thousand.
  "* * * * * commerce_schedule_renewals ?max=1",
  // Embeddings of new or changed events, and their features.
  "*/5 * * * * ml_embed_events ?max=1",
].join("\n");
