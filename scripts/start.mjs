#!/usr/bin/env node
// `npm start`: the region on http://localhost:5240 with a local D1 (migrations applied) and,
// on first start, an admin whose credentials are printed once and kept in .plinth/admin.json.
import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { bootstrapAdmin, startRegion, stopRegion } from "./region-local.mjs";

const stateDir = ".plinth";
const port = Number(process.env.PLINTH_PORT ?? 5240);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`PLINTH_PORT must be a TCP port (1-65535), not "${process.env.PLINTH_PORT}"`);
  process.exit(2);
}
// wrangler would print its banner and then die with a workerd stack trace: say it plainly first.
const taken = await new Promise((done) => {
  const probe = createServer();
  probe.once("error", (e) => done(e.code === "EADDRINUSE" ? "in use" : e.message));
  probe.listen(port, "127.0.0.1", () => probe.close(() => done(null)));
});
if (taken) {
  console.error(
    `Cannot start the region: port ${port} on 127.0.0.1 is ${taken} (another \`npm start\`?). Stop it, or choose another port: PLINTH_PORT=5250 npm start`,
  );
  process.exit(1);
}
const { child, url } = await startRegion({ stateDir, port });

if (!existsSync(`${stateDir}/admin.json`)) {
  const admin = await bootstrapAdmin(url, stateDir);
  if (admin) {
    writeFileSync(`${stateDir}/admin.json`, `${JSON.stringify(admin, null, 2)}\n`, { mode: 0o600 });
    console.log(`\nFirst start: created the admin user (shown once, kept in ${stateDir}/admin.json):`);
    console.log(`  username: ${admin.username}\n  password: ${admin.password}\n  API key:  ${admin.api_key}\n  MAAS key: ${admin.maas_api_key}\n`);
  } else {
    console.log(`The region already has users but ${stateDir}/admin.json is gone: delete ${stateDir}/ to start afresh.`);
  }
}
console.log(
  `Plinth region: ${url}  (dashboard and API; try: curl -H "Authorization: Bearer $(node -p "require('./${stateDir}/admin.json').api_key")" ${url}/api/v1/machines)`,
);

// wrangler dev does not fire Cron Triggers: fire the scheduled handler (deadline sweep, power
// polling) ourselves, once a minute, through --test-scheduled's /__scheduled (routed to the
// Worker ahead of the assets in wrangler.toml; wrangler's /cdn-cgi/handler/scheduled reaches
// the assets router instead and answers "exception" when [assets] is configured).
const cron = setInterval(() => {
  fetch(`${url}/__scheduled?cron=${encodeURIComponent("* * * * *")}`).catch(() => {});
}, 60_000);
cron.unref();

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    await stopRegion(child);
    process.exit(0);
  });
}
child.on("exit", (code) => process.exit(code ?? 0));
