import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string, name = "groundwork"): Logger {
  return pino({ name, level });
}
