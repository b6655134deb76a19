// One JSON object per line on stderr: journald and tests both read it without a parser of ours.
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, f?: Fields): void;
  info(msg: string, f?: Fields): void;
  warn(msg: string, f?: Fields): void;
  error(msg: string, f?: Fields): void;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type Level = keyof typeof LEVELS;

export function jsonLogger(level: Level = "info", write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = LEVELS[level];
  const at =
    (lvl: Level) =>
    (msg: string, f?: Fields): void => {
      if (LEVELS[lvl] < min) return;
      write(`${JSON.stringify({ t: new Date().toISOString(), level: lvl, msg, ...f })}\n`);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
