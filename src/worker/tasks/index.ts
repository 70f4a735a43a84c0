import type { TaskList } from "graphile-worker";
import { auth_cleanup_refresh_token_blacklist } from "./auth_cleanup_refresh_token_blacklist.ts";

/** Every task the worker runs, by identifier (jobs are also added from SQL). */
export const taskList: TaskList = {
  auth_cleanup_refresh_token_blacklist,
};
