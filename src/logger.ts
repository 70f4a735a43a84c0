import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/** How log lines are written: JSON for machines, one readable line each for a person at a terminal. */
export type LogFormat = "json" | "pretty";

/** LOG_FORMAT=auto: readable on a terminal outside production; JSON otherwise (files, pipes, log shippers). */
export function chooseLogFormat(setting: "auto" | LogFormat, env: string, terminal = process.stderr.isTTY === true): LogFormat {
  if (setting !== "auto") return setting;
  return terminal && env !== "production" ? "pretty" : "json";
}

/** Logs go to stderr, so commands like `groundwork token` keep stdout for their output. */
export function createLogger(level: string, name = "groundwork", format: LogFormat = "json"): Logger {
  const stderr = pino.destination({ fd: 2, sync: true });
  return pino({ name, level }, format === "pretty" ? prettyStream(stderr, process.stderr.isTTY === true) : stderr);
}

const levelNames: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const levelColors: Record<number, number> = { 10: 90, 20: 90, 30: 32, 40: 33, 50: 31, 60: 35 };
/** Fields every line has, or that the line shows in its own place. */
const placed = new Set(["level", "time", "pid", "hostname", "name", "msg", "component", "err"]);

function show(value: unknown): string {
  if (typeof value === "string" && /^[\w.,:/@+*#=-]+$/.test(value)) return value;
  if (Array.isArray(value) && value.every((item) => typeof item === "string" && /^[\w.:/@+*#=-]+$/.test(item))) return value.join(",");
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

/**
 * One pino record as a line a person reads: time, level, [component], the
 * message, then the other fields as key=value; an error's stack below it.
 * The access log line reads `POST /graphql Login 200 12 ms`.
 */
export function formatRecord(record: Record<string, unknown>, color = false): string {
  const paint = (code: number, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const level = Number(record.level);
  const time = new Date(Number(record.time));
  const clock = `${time.toTimeString().slice(0, 8)}.${String(time.getMilliseconds()).padStart(3, "0")}`;
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) if (!placed.has(key) && value !== undefined) fields[key] = value;
  let message = String(record.msg ?? "");
  if (message === "request" && typeof fields.method === "string") {
    message = [fields.method, fields.path, fields.operationName, fields.status, `${String(fields.ms)} ms`].filter((part) => part !== undefined).join(" ");
    for (const key of ["method", "path", "operationName", "status", "ms"]) delete fields[key];
  }
  const err = record.err as { message?: string; stack?: string } | undefined;
  if (err && !err.stack) fields.err = err.message ?? err;
  const rest = Object.entries(fields).map(([key, value]) => `${key}=${show(value)}`).join(" ");
  const component = typeof record.component === "string" ? `[${record.component}] ` : "";
  let line = `${paint(90, clock)} ${paint(levelColors[level] ?? 0, (levelNames[level] ?? String(level)).padEnd(5))} ${component}${message}`;
  if (rest) line += `  ${paint(90, rest)}`;
  if (err?.stack) line += `\n    ${err.stack.replace(/\n/g, "\n    ")}`;
  return `${line}\n`;
}

/** A pino destination that writes each record as formatRecord's line. */
function prettyStream(out: DestinationStream, color: boolean): DestinationStream {
  return {
    write(chunk: string) {
      for (const text of chunk.split("\n")) {
        if (!text) continue;
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(text) as Record<string, unknown>;
        } catch {
          out.write(`${text}\n`);
          continue;
        }
        out.write(formatRecord(record, color));
      }
    },
  };
}
