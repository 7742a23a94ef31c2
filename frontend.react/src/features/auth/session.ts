// The session's bearer token lives in sessionStorage: gone when the tab closes, never in a
// URL, a cookie or a log line.
const KEY = "invoice-scanner.session";

export interface Session {
  token: string;
  email: string;
  expiresAt: number; // epoch ms
}

type Listener = (s: Session | null) => void;
const listeners = new Set<Listener>();

export function readSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (!s.token || s.expiresAt <= Date.now()) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

export function currentToken(): string | null {
  return readSession()?.token ?? null;
}

export function saveSession(s: Session) {
  sessionStorage.setItem(KEY, JSON.stringify(s));
  listeners.forEach((l) => l(s));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
  listeners.forEach((l) => l(null));
}

export function onSessionChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}
