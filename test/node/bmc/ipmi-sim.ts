// Test rig: a real OpenIPMI ipmi_sim on loopback whose chassis-control script records what
// the BMC was asked to do (power, boot device, identify) in files the tests read back.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface IpmiSim {
  port: number;
  pid: number;
  dir: string;
  /** Contents of a state file the chassis-control script wrote ("power", "boot", "identify"). */
  state(name: string): string | undefined;
  /** Every chassis-control invocation, one line each. */
  calls(): string[];
  stop(): Promise<void>;
}

export interface IpmiSimOptions {
  port: number;
  dir: string;
  users?: IpmiUser[];
  /** Without the script ipmi_sim keeps power state itself and forks nothing per query (benchmarks). Default true. */
  chassisControl?: boolean;
}

const chassisScript = `#!/bin/sh
# ipmi_sim calls: <script> 0x20 get power boot | set power 1 | set boot pxe | set identify '<s> <force>'
dir=$(dirname "$0")
echo "$*" >> "$dir/calls"
mc=$1; op=$2; shift 2
if [ "$op" = get ]; then
  for p in "$@"; do
    case $p in
      power) echo "power:$(cat "$dir/power" 2>/dev/null || echo 0)";;
      boot) echo "boot:$(cat "$dir/boot" 2>/dev/null || echo default)";;
    esac
  done
else
  while [ $# -ge 2 ]; do
    # identify arrives as one argument "<seconds> <force>"
    echo "$2" > "$dir/$1"; shift 2
  done
fi
`;

function which(cmd: string): void {
  if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) {
    throw new Error(`${cmd} is missing: apt-get install the packages in test/deps/ipmi.txt`);
  }
}

/** ASF presence ping: ipmi_sim answers it once its LAN channel is up. */
async function answers(port: number): Promise<boolean> {
  const sock = createSocket("udp4");
  try {
    return await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 200);
      sock.on("message", () => {
        clearTimeout(t);
        resolve(true);
      });
      sock.send(Buffer.from("06ff ff06 0000 11be 8000 0000".replace(/ /g, ""), "hex"), port, "127.0.0.1");
    });
  } finally {
    sock.close();
  }
}

export type IpmiUser = { id: number; name: string; password: string; priv: "user" | "operator" | "admin" };

/** ipmi_sim's LAN configuration: one LAN channel on 127.0.0.1:port, the users, and the chassis-control script if any. */
export function lanConf(o: { port: number; users: IpmiUser[]; chassisControl?: string; name?: string }): string {
  return [
    `name "${o.name ?? "plinth-test"}"`,
    "set_working_mc 0x20",
    "  startlan 1",
    `    addr 127.0.0.1 ${o.port}`,
    "    priv_limit admin",
    "    allowed_auths_admin none md2 md5 straight",
    "    allowed_auths_operator none md2 md5 straight",
    "    allowed_auths_user none md2 md5 straight",
    "    guid a123456789abcdefa123456789abcdef",
    "  endlan",
    ...(o.chassisControl ? [`  chassis_control "${o.chassisControl} 0x20"`] : []),
    ...o.users.map((u) => `  user ${u.id} true "${u.name}" "${u.password}" ${u.priv} 10 none md2 md5 straight`),
    "",
  ].join("\n");
}

/** ipmi_sim's emulated BMC: one management controller at 0x20. */
export const BMC_EMU = ["mc_setbmc 0x20", "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr", "mc_enable 0x20", ""].join("\n");

export async function startIpmiSim(opts: IpmiSimOptions): Promise<IpmiSim> {
  which("ipmi_sim");
  const dir = opts.dir;
  mkdirSync(join(dir, "state"), { recursive: true });
  const script = join(dir, "chassis-control.sh");
  writeFileSync(script, chassisScript);
  chmodSync(script, 0o755);
  const users = opts.users ?? [{ id: 2, name: "admin", password: "password", priv: "admin" }];
  writeFileSync(join(dir, "lan.conf"), lanConf({ port: opts.port, users, ...(opts.chassisControl === false ? {} : { chassisControl: script }) }));
  writeFileSync(join(dir, "bmc.emu"), BMC_EMU);
  // -n: no console on stdin, which would abort without a terminal.
  const child: ChildProcess = spawn("ipmi_sim", ["-c", join(dir, "lan.conf"), "-f", join(dir, "bmc.emu"), "-s", join(dir, "state"), "-n"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error("ipmi_sim did not start");
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  let up = false;
  for (let i = 0; i < 50 && !exited && !up; i++) up = await answers(opts.port);
  if (!up) {
    if (!exited) process.kill(pid, "SIGKILL");
    throw new Error(`ipmi_sim on port ${opts.port} did not come up: ${stderr}`);
  }
  const read = (name: string) => {
    const f = join(dir, name);
    return existsSync(f) ? readFileSync(f, "utf8").trim() : undefined;
  };
  return {
    port: opts.port,
    pid,
    dir,
    state: read,
    calls: () => (read("calls") ?? "").split("\n").filter(Boolean),
    stop: async () => {
      if (exited) return;
      const gone = new Promise((r) => child.once("exit", r));
      process.kill(pid, "SIGTERM");
      const t = setTimeout(() => !exited && process.kill(pid, "SIGKILL"), 2000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** Runs the real ipmitool against a BMC on loopback; returns stdout or throws with stderr. */
export function ipmitool(port: number, args: string[], creds = { user: "admin", password: "password", cipher: 3 }): string {
  which("ipmitool");
  const r = spawnSync(
    "ipmitool",
    ["-I", "lanplus", "-H", "127.0.0.1", "-p", String(port), "-U", creds.user, "-P", creds.password, "-C", String(creds.cipher), ...args],
    { encoding: "utf8", timeout: 20_000 },
  );
  if (r.status !== 0) throw new Error(`ipmitool ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** ipmitool without blocking the event loop: needed when the BMC lives in this process. */
export function ipmitoolAsync(port: number, args: string[], creds = { user: "admin", password: "password", cipher: 3 }): Promise<string> {
  which("ipmitool");
  return new Promise((resolve, reject) => {
    const p = spawn(
      "ipmitool",
      ["-I", "lanplus", "-H", "127.0.0.1", "-p", String(port), "-U", creds.user, "-P", creds.password, "-C", String(creds.cipher), ...args],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const t = setTimeout(() => p.kill("SIGKILL"), 20_000);
    p.on("close", (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`ipmitool ${args.join(" ")} failed (${code}): ${err}`));
    });
  });
}
