// Region tests: they run inside workerd with the real Worker, real D1 and the real migrations.
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { mkdirSync } from "node:fs";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  // wrangler.toml's [assets] directory must exist for the pool to start; these tests do not
  // need the built dashboard (scripts/test.mjs builds it for the browser tests).
  mkdirSync("cloud/dashboard/dist", { recursive: true });
  const migrations = await readD1Migrations("migrations");
  return {
    plugins: [
      cloudflareTest({
        main: "./cloud/index.ts",
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // vitest 5's runner probes node:inspector (inside a try); without the module the
          // plugin prints a warning per test file. workerd's inspector module is a stub that
          // needs these flags; the region itself never imports it.
          compatibilityFlags: ["experimental", "enable_nodejs_inspector_module"],
          bindings: {
            TEST_MIGRATIONS: migrations,
            // Test-only key material: 32 bytes base64, never used outside tests.
            PLINTH_SECRET_KEY: "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE=",
            PLINTH_BOOTSTRAP_TOKEN: "test-bootstrap-token",
          },
        },
      }),
    ],
    test: {
      include: ["test/region/**/*.test.ts"],
      setupFiles: ["test/region/apply-migrations.ts"],
      testTimeout: 30_000,
    },
  };
});
