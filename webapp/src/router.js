// Client routes on the History API; the gateway answers index.html for every such path.
import { signal } from "./state.js";

export const route = signal(location.pathname);

export function navigate(path, { replace = false } = {}) {
  if (path === location.pathname) return;
  history[replace ? "replaceState" : "pushState"](null, "", path);
  route.value = path.split("?")[0]; // the route is the path; a page reads its own query (location.search)
}

addEventListener("popstate", () => { route.value = location.pathname; });

// Same-origin links inside the app navigate without a page load.
export function onLinkClick(event) {
  const link = event.target.closest?.("a[data-nav]");
  if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
}
