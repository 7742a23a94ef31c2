import { useSyncExternalStore } from "react";
import { onSessionChange, readSession, type Session } from "./session";

// Kept current whether or not a component is subscribed (the sign-in screen saves the session
// before the screens that read it mount).
let snapshot: Session | null = readSession();
onSessionChange((s) => {
  snapshot = s;
});

const subscribe = (cb: () => void) => onSessionChange(() => cb());

export function useSession(): Session | null {
  return useSyncExternalStore(subscribe, () => snapshot, () => snapshot);
}
