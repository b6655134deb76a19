// Entry of the DNS server's UDP worker thread (udp-worker.ts). A worker inherits the parent's
// process.execArgv, so under `node --import tsx` (the appliance) the .ts loads as is; where
// TypeScript is compiled in-process instead (vitest), the thread has no loader and registers tsx.
try {
  await import("./udp-worker.ts");
} catch (e) {
  if (e?.code !== "ERR_UNKNOWN_FILE_EXTENSION") throw e;
  const { register } = await import("tsx/esm/api");
  register();
  // Another URL: the failed import stays in the module map.
  await import("./udp-worker.ts?tsx");
}
