import type { TaskList } from "graphile-worker";
import { defaultTaskOptions, type TaskOptions } from "../../config.ts";
import { audit_seal } from "./audit_seal.ts";
import { auth_cleanup_refresh_token_blacklist } from "./auth_cleanup_refresh_token_blacklist.ts";
import { finance_create_partitions } from "./finance_create_partitions.ts";
import { finance_refresh_views } from "./finance_refresh_views.ts";
import { makeInboxProcess } from "./inbox_process.ts";
import { ledger_expire_holds } from "./ledger_expire_holds.ts";
import { ops_gc_job_queues } from "./ops_gc_job_queues.ts";
import { makeOutboxDeliver } from "./outbox_deliver.ts";
import { outbox_sweep } from "./outbox_sweep.ts";

/** Every task the worker runs, by identifier (jobs are also added from SQL). */
export function makeTaskList(options: TaskOptions = defaultTaskOptions): TaskList {
  return {
    audit_seal,
    auth_cleanup_refresh_token_blacklist,
    finance_create_partitions,
    finance_refresh_views,
    inbox_process: makeInboxProcess(options.inbox),
    ledger_expire_holds,
    ops_gc_job_queues,
    outbox_deliver: makeOutboxDeliver(options.webhooks),
    outbox_sweep,
  };
}

export const taskList: TaskList = makeTaskList();
