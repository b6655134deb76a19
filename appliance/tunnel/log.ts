// Structured logs: one JSON object per line on stdout (journald and log shippers read it as is).
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Logger = (level: Level, msg: string, fields?: Record<string, unknown>) => void;

export function jsonLogger(min: Level = "info", out: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  return (level, msg, fields) => {
    if (ORDER[level] < ORDER[min]) return;
    out(`${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields })}\n`);
  };
}
