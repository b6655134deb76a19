// Builds the dashboard to cloud/dashboard/dist, which wrangler serves as static assets
// ([assets] in wrangler.toml) from the same origin as /api/v1: no CORS, cookies stay SameSite=Strict.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 600 },
  server: { proxy: { "/api": "http://127.0.0.1:5240" } },
});
