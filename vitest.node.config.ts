// Node-side tests: shared/ codecs, the appliance daemon, the CLI. Rig tests (network
// namespaces, ipmi_sim, QEMU) run as root; scripts/test.mjs makes sure their tools exist.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/node/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Rigs create network namespaces and bind fixed ports: one file at a time keeps them apart.
    fileParallelism: false,
    passWithNoTests: true,
  },
});
