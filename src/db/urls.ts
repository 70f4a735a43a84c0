/** Connection-string helpers: one cluster, several roles and databases. */

export function withCredentials(url: string, user: string, password: string | undefined): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(user);
  parsed.password = password ? encodeURIComponent(password) : "";
  return parsed.toString();
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  if (!name) throw new Error(`The connection string ${redact(url)} names no database.`);
  return name;
}

export function userName(url: string): string {
  return decodeURIComponent(new URL(url).username) || process.env.PGUSER || process.env.USER || "postgres";
}

export function passwordOf(url: string): string | undefined {
  const password = new URL(url).password;
  return password ? decodeURIComponent(password) : undefined;
}

/** For logs and error messages: never print a password. */
export function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.toString();
}

/** graphile-migrate substitutes the name into SQL unquoted, so keep names plain. */
export function assertPlainDatabaseName(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new Error(`Database name "${name}" must be lowercase letters, digits and underscores.`);
  }
}
