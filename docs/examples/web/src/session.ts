/** The signed-in session: kept in localStorage so a reload stays signed in; listeners re-render the app. */
export interface Session {
  accessToken: string;
  refreshToken: string;
  username: string;
}

const key = "groundwork-example:session";
const listeners = new Set<() => void>();

let cachedText: string | null = null;
let cached: Session | null = null;

/** The same object until the stored text changes (useSyncExternalStore compares snapshots by identity). */
export function getSession(): Session | null {
  const text = localStorage.getItem(key);
  if (text !== cachedText) {
    cachedText = text;
    try {
      cached = JSON.parse(text ?? "null") as Session | null;
    } catch {
      cached = null;
    }
  }
  return cached;
}

export function setSession(session: Session | null): void {
  if (session) localStorage.setItem(key, JSON.stringify(session));
  else localStorage.removeItem(key);
  for (const listener of listeners) listener();
}

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
