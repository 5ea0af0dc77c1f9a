// The console's screens: the dashboard at /admin, each other at /admin/<name>. The gateway's CLIENT_ROUTE
// (services/gateway/gateway/webapp.py) lists the same names; tests/gateway/test_webapp.py reads this list.
export const SCREENS = [
  "plans",
  "models",
  "chatbots",
  "users",
  "discounts",
  "payments",
  "audit",
];

export const CONSOLE_HOME = "/admin";
