import type { TaskList, WorkerUtils } from "graphile-worker";
import { defaultTaskOptions, type TaskOptions } from "../../config.ts";
import { analytics_compute_audience } from "./analytics_compute_audience.ts";
import { analytics_create_partitions } from "./analytics_create_partitions.ts";
import { analytics_drop_partitions } from "./analytics_drop_partitions.ts";
import { analytics_refresh_stats } from "./analytics_refresh_stats.ts";
import { audit_seal } from "./audit_seal.ts";
import { createMailTransport } from "../../mail/transport.ts";
import { budget_open_periods } from "./budget_open_periods.ts";
import { makeDatarightsExport } from "./datarights_export.ts";
import { campaigns_settle_spend } from "./campaigns_settle_spend.ts";
import { auth_cleanup_links } from "./auth_cleanup_links.ts";
import { auth_cleanup_refresh_token_blacklist } from "./auth_cleanup_refresh_token_blacklist.ts";
import { makeAuthSendMail } from "./auth_send_mail.ts";
import { commerce_award_points } from "./commerce_award_points.ts";
import { commerce_renew_subscription } from "./commerce_renew_subscription.ts";
import { commerce_schedule_renewals } from "./commerce_schedule_renewals.ts";
import { events_notify_followers } from "./events_notify_followers.ts";
import { finance_create_partitions } from "./finance_create_partitions.ts";
import { finance_refresh_views } from "./finance_refresh_views.ts";
import { makeInboxProcess } from "./inbox_process.ts";
import { ledger_expire_holds } from "./ledger_expire_holds.ts";
import { makeMessagingSendMail } from "./messaging_send_mail.ts";
import { messaging_fan_out } from "./messaging_fan_out.ts";
import { ml_embed_events } from "./ml_embed_events.ts";
import { makeOpsGcJobQueues } from "./ops_gc_job_queues.ts";
import { makeOutboxDeliver } from "./outbox_deliver.ts";
import { outbox_sweep } from "./outbox_sweep.ts";
import { payments_expire_credit_lots } from "./payments_expire_credit_lots.ts";
import { sponsorship_compute_matches } from "./sponsorship_compute_matches.ts";
import { sponsorship_expire_proposals } from "./sponsorship_expire_proposals.ts";
import { ticketing_expire_holds } from "./ticketing_expire_holds.ts";

/** What some tasks need beyond their job helpers. */
export interface TaskDependencies {
  /** graphile-worker's utilities on the worker's own pool, made once by startWorker (its documented clean-up). */
  workerUtils: Pick<WorkerUtils, "cleanup">;
}

/** The tasks that need nothing but their job helpers. */
function helperTasks(options: TaskOptions): TaskList {
  const mail = createMailTransport(options.mail);
  return {
    analytics_compute_audience,
    analytics_create_partitions,
    analytics_drop_partitions,
    analytics_refresh_stats,
    audit_seal,
    auth_cleanup_links,
    auth_cleanup_refresh_token_blacklist,
    campaigns_settle_spend,
    auth_send_mail: makeAuthSendMail(mail, options.mail),
    budget_open_periods,
    commerce_award_points,
    commerce_renew_subscription,
    commerce_schedule_renewals,
    datarights_export: makeDatarightsExport(mail),
    events_notify_followers,
    finance_create_partitions,
    finance_refresh_views,
    inbox_process: makeInboxProcess(options.inbox),
    ledger_expire_holds,
    messaging_fan_out,
    messaging_send_mail: makeMessagingSendMail(mail),
    ml_embed_events,
    outbox_deliver: makeOutboxDeliver(options.webhooks),
    outbox_sweep,
    payments_expire_credit_lots,
    sponsorship_compute_matches,
    sponsorship_expire_proposals,
    ticketing_expire_holds,
  };
}

/** Every task the worker runs, by identifier (jobs are also added from SQL). */
export function makeTaskList(options: TaskOptions, { workerUtils }: TaskDependencies): TaskList {
  return {
    ...helperTasks(options),
    ops_gc_job_queues: makeOpsGcJobQueues(workerUtils),
  };
}

/**
 * The tasks that need nothing but their job helpers, with default options, for
 * running one with runOnce (tests). The worker runs makeTaskList's, which adds
 * the tasks that need its WorkerUtils.
 */
export const taskList: TaskList = helperTasks(defaultTaskOptions);
