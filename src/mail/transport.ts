import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import path from "node:path";
import nodemailer from "nodemailer";
import type { MailOptions } from "../config.ts";

/**
 * The one way Groundwork sends mail, for every module: a worker task composes
 * a MailMessage and hands it to the transport (never from a request). SMTP
 * through nodemailer when SMTP_URL is set (production), otherwise each message
 * is written as an .eml file into MAIL_DIR (default .groundwork/mail/), where
 * a mail client opens it and tests read it.
 */
export interface MailAttachment {
  filename: string;
  /** The bytes, or… */
  content?: string | Buffer;
  /** …a file nodemailer streams from (large attachments: the data export's ZIP). */
  path?: string;
  contentType?: string;
}

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
  attachments?: MailAttachment[];
}

export interface MailTransport {
  /** Where messages go, for logs: "smtp://host:port" (no credentials) or the folder. */
  readonly description: string;
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}

/** The SMTP URL without user or password, for logs. */
function redacted(smtpUrl: string): string {
  try {
    const url = new URL(smtpUrl);
    return `${url.protocol}//${url.hostname}${url.port ? `:${url.port}` : ""}`;
  } catch {
    return "smtp";
  }
}

export function createMailTransport(options: MailOptions): MailTransport {
  if (options.smtpUrl) {
    const transporter = nodemailer.createTransport(options.smtpUrl, { from: options.from });
    return {
      description: redacted(options.smtpUrl),
      async send(message) {
        await transporter.sendMail(message);
      },
      async close() {
        transporter.close();
      },
    };
  }
  // nodemailer composes the message (MIME, encodings) exactly as it would for SMTP; we keep the bytes,
  // streamed to the file so that a large attachment is never held in memory whole.
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: false, newline: "unix" }, { from: options.from });
  return {
    description: options.dir,
    async send(message) {
      const info = await composer.sendMail(message);
      await mkdir(options.dir, { recursive: true });
      // Sortable by time, unique, and never half-written: written aside, then renamed.
      const name = `${new Date().toISOString().replace(/[:.]/g, "-")}-${randomBytes(4).toString("hex")}.eml`;
      const file = path.join(options.dir, name);
      await pipeline(info.message as Readable, createWriteStream(`${file}.tmp`));
      await rename(`${file}.tmp`, file);
    },
    async close() {
      composer.close();
    },
  };
}
