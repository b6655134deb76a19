// A command is data (name, summary, options) plus a run function, so `--help` and shell
// completion are derived from the same table that dispatches.
import type { Client } from "./client";

export interface OptionSpec {
  type: "string" | "boolean";
  multiple?: boolean;
  short?: string;
  help: string;
}

export interface Ctx {
  args: string[];
  opts: Record<string, string | boolean | string[] | undefined>;
  json: boolean;
  client: () => Client;
  profileName: string | undefined;
}

export interface Command {
  name: string;
  summary: string;
  /** Positional arguments, for the usage line: "<machine>...". */
  args?: string;
  options?: Record<string, OptionSpec>;
  run: (ctx: Ctx) => Promise<number | undefined | void>;
}

export interface Group {
  name: string;
  summary: string;
  commands: Command[];
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  json: { type: "boolean", help: "print JSON for scripts instead of tables" },
  profile: { type: "string", help: "use this profile instead of the current one" },
  help: { type: "boolean", short: "h", help: "show help" },
};

export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
export const list = (v: unknown): string[] | undefined => (Array.isArray(v) ? (v as string[]) : typeof v === "string" ? [v] : undefined);
