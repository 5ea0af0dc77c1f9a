// A tiny observable value and a hook to re-render on change (no state library needed).
import { useEffect, useState } from "preact/hooks";

export function signal(initial) {
  const listeners = new Set();
  return {
    _v: initial,
    get value() { return this._v; },
    set value(next) { if (next !== this._v) { this._v = next; listeners.forEach((fn) => fn(next)); } },
    subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn); },
  };
}

export function useSignal(sig) {
  const [, set] = useState(0);
  useEffect(() => sig.subscribe(() => set((n) => n + 1)), [sig]);
  return sig.value;
}
