// What several screens share: the user, the session list (newest first), catalogue of chatbots/models.
import { get } from "./api.js";
import { signal } from "./state.js";

export const user = signal(undefined); // undefined: not known yet; null: signed out
export const sessions = signal(null);
// Whether the signed-in user is staff (GET /api/users/access/): undefined while not known.
export const staff = signal(undefined);

export async function refreshAccess() {
  staff.value = undefined;
  try {
    staff.value = (await get("/api/users/access/")).is_staff === true;
  } catch {
    staff.value = false; // the admin API refuses anyone who is not staff anyway
  }
}

export async function refreshSessions() {
  try {
    sessions.value = await get("/api/chat-sessions/");
  } catch {
    /* the list keeps what it had; the next event refreshes it */
  }
}

export function setSessionTitle(id, title) {
  if (!sessions.value) return;
  sessions.value = sessions.value.map((s) => (s.id === id ? { ...s, title } : s));
}
