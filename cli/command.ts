// A command is data (name, summary, options) plus a run function, so `--help` and shell
// completion are derived from the same table that dispatches.
import { CliError, type Client, EXIT } from "./client";
import { printJson } from "./output";

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

/** The first positional argument, or a usage error naming it. */
export function first(ctx: Ctx, what: string): string {
  const a = ctx.args[0];
  if (!a) throw new CliError(`missing ${what}`, EXIT.usage);
  return a;
}

/** JSON for scripts, or the human form. */
export function out(ctx: Ctx, v: unknown, human: () => void): void {
  if (ctx.json) printJson(v);
  else human();
}

/** A whole-number option, or a usage error naming the option. */
export function int(v: unknown, flag: string): number | undefined {
  if (typeof v !== "string") return undefined;
  if (!/^-?\d+$/.test(v)) throw new CliError(`--${flag} must be a whole number, not "${v}"`, EXIT.usage);
  return Number(v);
}
