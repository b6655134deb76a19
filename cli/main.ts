// plinth: the operator's command line for a Plinth region. Parses argv against the command
// table, runs one command, prints one line on failure and exits with a meaningful code.
import { parseArgs } from "node:util";
import { CliError, Client, EXIT } from "./client";
import { type Command, type Ctx, GLOBAL_OPTIONS, type Group, type OptionSpec, str } from "./command";
import { dns } from "./commands/dns";
import { images } from "./commands/images";
import { machines } from "./commands/machines";
import { interfaces } from "./commands/interfaces";
import { networkGroups } from "./commands/networks";
import { resourceGroups } from "./commands/resources";
import { config, settings } from "./commands/settings";
import { sshKeys } from "./commands/ssh-keys";
import { sslKeys } from "./commands/ssl-keys";
import { configPath, loadConfig, resolveProfile, saveConfig } from "./config";
import { printJson, printTable } from "./output";

const login: Command = {
  name: "login",
  summary: "Save a region and API key as a profile (checked against the region first)",
  args: "<region-url> <api-key>",
  options: { name: { type: "string", help: "profile name (default: default)" } },
  async run(ctx) {
    const [url, key] = ctx.args;
    if (!url || !key) throw new CliError("usage: plinth login <region-url> <api-key> [--name NAME]", EXIT.usage);
    if (!/^https?:\/\//.test(url)) throw new CliError(`"${url}" is not an http(s) URL`, EXIT.usage);
    const me = await new Client({ url, apiKey: key }).call("GET /me");
    const name = str(ctx.opts["name"]) ?? ctx.profileName ?? "default";
    const c = loadConfig();
    c.profiles[name] = { url: url.replace(/\/$/, ""), apiKey: key };
    c.current = name;
    saveConfig(c);
    if (ctx.json) printJson({ profile: name, url, username: me.username });
    else process.stdout.write(`logged in to ${url} as ${me.username} (profile ${name}, saved in ${configPath()})\n`);
  },
};

const logout: Command = {
  name: "logout",
  summary: "Forget a profile (default: the current one)",
  args: "[profile]",
  async run(ctx) {
    const c = loadConfig();
    const name = ctx.args[0] ?? ctx.profileName ?? c.current;
    if (!name || !c.profiles[name]) throw new CliError(`no profile "${name ?? ""}"`, EXIT.usage);
    delete c.profiles[name];
    if (c.current === name) c.current = Object.keys(c.profiles)[0] ?? null;
    saveConfig(c);
    if (!ctx.json) process.stdout.write(`forgot profile ${name}\n`);
    else printJson({ removed: name, current: c.current });
  },
};

const profiles: Command = {
  name: "profiles",
  summary: "List profiles; `plinth profiles use NAME` switches",
  args: "[use <name>]",
  async run(ctx) {
    const c = loadConfig();
    if (ctx.args[0] === "use") {
      const name = ctx.args[1];
      if (!name || !c.profiles[name]) throw new CliError(`no profile "${name ?? ""}"`, EXIT.usage);
      c.current = name;
      saveConfig(c);
      if (!ctx.json) process.stdout.write(`using profile ${name}\n`);
      return;
    }
    const rows = Object.entries(c.profiles).map(([name, p]) => ({ current: name === c.current ? "*" : "", name, url: p.url }));
    if (ctx.json) printJson({ current: c.current, profiles: rows.map(({ name, url }) => ({ name, url })) });
    else printTable(rows, ["current", "name", "url"], "no profiles: plinth login <region-url> <api-key>");
  },
};

const whoami: Command = {
  name: "whoami",
  summary: "Show the user behind the current profile",
  async run(ctx) {
    const me: { username: string; roles: { role: string; site: string | null }[] } = await ctx.client().call("GET /me");
    if (ctx.json) printJson(me);
    else process.stdout.write(`${me.username}: ${me.roles.map((r) => `${r.role}@${r.site ?? "*"}`).join(", ") || "no roles"}\n`);
  },
};

const completion: Command = {
  name: "completion",
  summary: 'Print a shell completion script: eval "$(plinth completion bash)" (bash or zsh)',
  args: "<bash|zsh>",
  async run(ctx) {
    const shell = ctx.args[0] ?? "bash";
    if (shell !== "bash" && shell !== "zsh") throw new CliError("completion supports bash and zsh", EXIT.usage);
    const body = `_plinth() {
  local IFS=$'\\n'
  COMPREPLY=( $(compgen -W "$(plinth __complete "\${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null)" -- "\${COMP_WORDS[COMP_CWORD]}") )
}
complete -F _plinth plinth
`;
    process.stdout.write(shell === "zsh" ? `autoload -U +X bashcompinit && bashcompinit\n${body}` : body);
  },
};

const TOP: Command[] = [login, logout, profiles, whoami, completion];
const GROUPS: Group[] = [machines, interfaces, ...networkGroups, dns, images, sshKeys, sslKeys, settings, config, ...resourceGroups];

function optionsHelp(opts: Record<string, OptionSpec>): string {
  return Object.entries(opts)
    .map(
      ([k, o]) => `  --${k}${o.type === "string" ? " VALUE" : ""}${o.short ? `, -${o.short}` : ""}`.padEnd(30) + o.help + (o.multiple ? " (repeatable)" : ""),
    )
    .join("\n");
}

function mainHelp(): string {
  return `plinth: the command line for a Plinth region

usage: plinth [--profile NAME] [--json] <command> [args] [options]

commands:
${TOP.map((c) => `  ${c.name.padEnd(12)}${c.summary}`).join("\n")}
${GROUPS.map((g) => `  ${g.name.padEnd(12)}${g.summary}`).join("\n")}

global options:
${optionsHelp(GLOBAL_OPTIONS)}

environment: PLINTH_PROFILE, or PLINTH_URL + PLINTH_API_KEY (no config file needed)
exit codes: 0 ok, 1 error, 2 usage or invalid request, 3 not authorised, 4 not found,
            5 conflict (action not allowed now), 6 region unreachable, 7 --wait ended in failure,
            8 --wait timed out
'plinth <command> --help' for more.
`;
}

function groupHelp(g: Group): string {
  return `plinth ${g.name}: ${g.summary}\n\nusage: plinth ${g.name} <command> [args] [options]\n\ncommands:\n${g.commands.map((c) => `  ${c.name.padEnd(14)}${c.summary}`).join("\n")}\n\n'plinth ${g.name} <command> --help' for options.\n`;
}

function commandHelp(path: string, c: Command): string {
  const opts = { ...(c.options ?? {}), ...GLOBAL_OPTIONS };
  return `plinth ${path}: ${c.summary}\n\nusage: plinth ${path}${c.args ? ` ${c.args}` : ""}${Object.keys(c.options ?? {}).length ? " [options]" : ""}\n\noptions:\n${optionsHelp(opts)}\n`;
}

/** Candidates for shell completion given the words before the cursor. */
function complete(words: string[]): string[] {
  const pos = words.filter((w) => !w.startsWith("-"));
  const top = [...TOP.map((c) => c.name), ...GROUPS.map((g) => g.name)];
  if (pos.length === 0) return [...top, "--help", "--json", "--profile"];
  const g = GROUPS.find((x) => x.name === pos[0]);
  if (g && pos.length === 1) return g.commands.map((c) => c.name);
  const c = g ? g.commands.find((x) => x.name === pos[1]) : TOP.find((x) => x.name === pos[0]);
  if (c?.name === "completion") return ["bash", "zsh"];
  return c ? Object.keys({ ...(c.options ?? {}), ...GLOBAL_OPTIONS }).map((k) => `--${k}`) : [];
}

/**
 * node:util's parseArgs messages quote unevenly and suggest `--` for what is nearly always a
 * typo; say plainly which option is wrong and how.
 */
function parseProblem(e: Error & { code?: string }): string {
  const flag = /'(-[^' ]*)/.exec(e.message)?.[1] ?? "";
  // Ids may start with "-" (an SSH key's is base64url): parseArgs reads those as short options.
  if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION")
    return /^-[^-]/.test(flag) ? `unknown option ${flag} (an argument starting with "-", such as an id, goes after --)` : `unknown option ${flag}`;
  if (e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE")
    return /does not take an argument/.test(e.message) ? `option ${flag} takes no value` : `option ${flag} needs a value`;
  return e.message.split("\n")[0]!;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "__complete") {
    process.stdout.write(`${complete(argv.slice(1)).join("\n")}\n`);
    return EXIT.ok;
  }
  // The command words are the first positionals; --profile takes a value that is not one.
  const words: number[] = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    if (argv[i] === "--profile") i++;
    else if (!argv[i]!.startsWith("-")) words.push(i);
  }
  const w0 = words[0] === undefined ? undefined : argv[words[0]];
  const group = GROUPS.find((g) => g.name === w0);
  const w1 = group && words[1] !== undefined ? argv[words[1]] : undefined;
  const cmd = group ? group.commands.find((c) => c.name === w1) : TOP.find((c) => c.name === w0);
  const wantsHelp = argv.includes("--help") || argv.includes("-h");
  if (!w0) {
    process[wantsHelp ? "stdout" : "stderr"].write(mainHelp());
    return wantsHelp ? EXIT.ok : EXIT.usage;
  }
  if (!group && !cmd) throw new CliError(`unknown command "${w0}" (plinth --help lists them)`, EXIT.usage);
  if (group && !cmd) {
    if (w1 !== undefined) throw new CliError(`unknown command "${group.name} ${w1}" (plinth ${group.name} --help lists them)`, EXIT.usage);
    process[wantsHelp ? "stdout" : "stderr"].write(groupHelp(group));
    return wantsHelp ? EXIT.ok : EXIT.usage;
  }
  const command = cmd!;
  const path = group ? `${group.name} ${command.name}` : command.name;
  if (wantsHelp) {
    process.stdout.write(commandHelp(path, command));
    return EXIT.ok;
  }
  const rest = argv.filter((_, i) => !words.slice(0, group ? 2 : 1).includes(i));
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options: { ...(command.options ?? {}), ...GLOBAL_OPTIONS }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new CliError(`${parseProblem(e as Error & { code?: string })} (plinth ${path} --help lists the options)`, EXIT.usage);
  }
  const opts = parsed.values as Ctx["opts"];
  const profileName = str(opts["profile"]);
  let client: Client | undefined;
  const ctx: Ctx = {
    args: parsed.positionals,
    opts,
    json: opts["json"] === true,
    profileName,
    client: () => (client ??= new Client(resolveProfile(profileName))),
  };
  return (await command.run(ctx)) ?? EXIT.ok;
}
