import { pino, type Logger } from "pino";

export type { Logger };

/** Logs go to stderr, so commands like `groundwork token` keep stdout for their output. */
export function createLogger(level: string, name = "groundwork"): Logger {
  return pino({ name, level }, pino.destination({ fd: 2, sync: true }));
}
