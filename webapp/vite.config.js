// Build: content-hashed files under assets/ (served with a one-year cache), no inline script or
// style anywhere (the gateway's Content-Security-Policy forbids them), modern browsers only.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    target: "es2020",
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0, // fonts and icons as files: a data: URL inside CSS would dodge font-src
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    // `npm run dev` against a gateway on :8000 (make run)
    proxy: { "/api": "http://127.0.0.1:8000", "/media": "http://127.0.0.1:8000" },
  },
});
