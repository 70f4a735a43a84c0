import { fileURLToPath } from "node:url";
import path from "node:path";

/** The project checkout: everything Groundwork reads or writes is relative to it. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const migrationsFolder = path.join(projectRoot, "migrations");
