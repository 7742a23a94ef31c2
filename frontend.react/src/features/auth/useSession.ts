import { useSyncExternalStore } from "react";
import { onSessionChange, readSession, type Session } from "./session";

let snapshot: Session | null = readSession();
const subscribe = (cb: () => void) =>
  onSessionChange((s) => {
    snapshot = s;
    cb();
  });

export function useSession(): Session | null {
  return useSyncExternalStore(subscribe, () => snapshot, () => snapshot);
}
