// The machine lifecycle: MAAS's NODE_STATUS codes (so MAAS clients understand them) and the
// one transition table that decides whether an action is legal. Nothing else decides it.

export const NODE_STATUS = {
  NEW: 0,
  COMMISSIONING: 1,
  FAILED_COMMISSIONING: 2,
  MISSING: 3,
  READY: 4,
  RESERVED: 5,
  DEPLOYED: 6,
  RETIRED: 7,
  BROKEN: 8,
  DEPLOYING: 9,
  ALLOCATED: 10,
  FAILED_DEPLOYMENT: 11,
  RELEASING: 12,
  FAILED_RELEASING: 13,
  DISK_ERASING: 14,
  FAILED_DISK_ERASING: 15,
  RESCUE_MODE: 16,
  ENTERING_RESCUE_MODE: 17,
  FAILED_ENTERING_RESCUE_MODE: 18,
  EXITING_RESCUE_MODE: 19,
  FAILED_EXITING_RESCUE_MODE: 20,
  TESTING: 21,
  FAILED_TESTING: 22,
} as const;

export type StatusKey = keyof typeof NODE_STATUS;
export type Status = (typeof NODE_STATUS)[StatusKey];
const S = NODE_STATUS;

export const ALL_STATUSES: readonly Status[] = Object.values(NODE_STATUS);

/** `status_name` exactly as MAAS shows it (maasserver/enum.py NODE_STATUS_CHOICES). */
export const STATUS_NAME: Record<Status, string> = {
  [S.NEW]: "New",
  [S.COMMISSIONING]: "Commissioning",
  [S.FAILED_COMMISSIONING]: "Failed commissioning",
  [S.MISSING]: "Missing",
  [S.READY]: "Ready",
  [S.RESERVED]: "Reserved",
  [S.DEPLOYED]: "Deployed",
  [S.RETIRED]: "Retired",
  [S.BROKEN]: "Broken",
  [S.DEPLOYING]: "Deploying",
  [S.ALLOCATED]: "Allocated",
  [S.FAILED_DEPLOYMENT]: "Failed deployment",
  [S.RELEASING]: "Releasing",
  [S.FAILED_RELEASING]: "Releasing failed",
  [S.DISK_ERASING]: "Disk erasing",
  [S.FAILED_DISK_ERASING]: "Failed disk erasing",
  [S.RESCUE_MODE]: "Rescue mode",
  [S.ENTERING_RESCUE_MODE]: "Entering rescue mode",
  [S.FAILED_ENTERING_RESCUE_MODE]: "Failed to enter rescue mode",
  [S.EXITING_RESCUE_MODE]: "Exiting rescue mode",
  [S.FAILED_EXITING_RESCUE_MODE]: "Failed to exit rescue mode",
  [S.TESTING]: "Testing",
  [S.FAILED_TESTING]: "Failed testing",
};

/** Where a machine's interfaces may be edited (MAAS refuses network changes elsewhere). */
export const NETWORK_EDITABLE: readonly Status[] = [S.NEW, S.FAILED_COMMISSIONING, S.READY, S.BROKEN, S.ALLOCATED, S.FAILED_DEPLOYMENT, S.FAILED_TESTING];

/** Where a machine's storage layout may be chosen (MAAS's set_storage_layout: Ready or Allocated). */
export const STORAGE_EDITABLE: readonly Status[] = [S.READY, S.ALLOCATED];

/** Where a deployment's node token is live: the deployed system's cloud-init reads the metadata API with it. */
export const NODE_TOKEN_LIVE: readonly Status[] = [S.DEPLOYING, S.DEPLOYED];

/** Each status's family: failed, busy (a step is running), in use, new, or idle. Screens colour by it. */
export type StatusFamily = "bad" | "busy" | "ok" | "new" | "idle";
export const STATUS_FAMILY: Record<Status, StatusFamily> = {
  [S.NEW]: "new",
  [S.COMMISSIONING]: "busy",
  [S.FAILED_COMMISSIONING]: "bad",
  [S.MISSING]: "bad",
  [S.READY]: "idle",
  [S.RESERVED]: "ok",
  [S.DEPLOYED]: "ok",
  [S.RETIRED]: "idle",
  [S.BROKEN]: "bad",
  [S.DEPLOYING]: "busy",
  [S.ALLOCATED]: "ok",
  [S.FAILED_DEPLOYMENT]: "bad",
  [S.RELEASING]: "busy",
  [S.FAILED_RELEASING]: "bad",
  [S.DISK_ERASING]: "busy",
  [S.FAILED_DISK_ERASING]: "bad",
  [S.RESCUE_MODE]: "ok",
  [S.ENTERING_RESCUE_MODE]: "busy",
  [S.FAILED_ENTERING_RESCUE_MODE]: "bad",
  [S.EXITING_RESCUE_MODE]: "busy",
  [S.FAILED_EXITING_RESCUE_MODE]: "bad",
  [S.TESTING]: "busy",
  [S.FAILED_TESTING]: "bad",
};

export const STATUS_KEY: Record<Status, StatusKey> = Object.fromEntries(Object.entries(NODE_STATUS).map(([k, v]) => [v, k])) as Record<Status, StatusKey>;

/** Actions a user asks for through the API. */
export const USER_ACTIONS = [
  "commission",
  "abort",
  "allocate",
  "deploy",
  "release",
  "mark_broken",
  "mark_fixed",
  "rescue_mode",
  "exit_rescue_mode",
  "lock",
  "unlock",
  "delete",
] as const;
export type UserAction = (typeof USER_ACTIONS)[number];

/** Transitions the appliance (or the deadline sweeper) drives. */
export const INTERNAL_ACTIONS = [
  "commissioning_done",
  "commissioning_failed",
  "deployed",
  "deployment_failed",
  "released",
  "release_failed",
  "disk_erased",
  "disk_erase_failed",
  "rescue_entered",
  "rescue_failed",
  "rescue_exited",
  "rescue_exit_failed",
  "timeout",
] as const;
export type InternalAction = (typeof INTERNAL_ACTIONS)[number];
export type Action = UserAction | InternalAction;

/** A target may depend on where the machine came from (abort, exit rescue). */
type Target = Status | "previous";

interface Rule {
  from: readonly Status[];
  to: Target | "same";
}

const FAILED: readonly Status[] = [
  S.FAILED_COMMISSIONING,
  S.FAILED_DEPLOYMENT,
  S.FAILED_RELEASING,
  S.FAILED_DISK_ERASING,
  S.FAILED_ENTERING_RESCUE_MODE,
  S.FAILED_EXITING_RESCUE_MODE,
  S.FAILED_TESTING,
];

/** Where each monitored phase goes when its deadline passes, and how long it may take. */
export const PHASE_DEADLINES: Partial<Record<Status, { fail: Status; minutes: number }>> = {
  [S.COMMISSIONING]: { fail: S.FAILED_COMMISSIONING, minutes: 20 },
  [S.TESTING]: { fail: S.FAILED_TESTING, minutes: 20 },
  [S.DEPLOYING]: { fail: S.FAILED_DEPLOYMENT, minutes: 30 },
  [S.RELEASING]: { fail: S.FAILED_RELEASING, minutes: 5 },
  [S.DISK_ERASING]: { fail: S.FAILED_DISK_ERASING, minutes: 60 },
  [S.ENTERING_RESCUE_MODE]: { fail: S.FAILED_ENTERING_RESCUE_MODE, minutes: 20 },
  [S.EXITING_RESCUE_MODE]: { fail: S.FAILED_EXITING_RESCUE_MODE, minutes: 20 },
};

export const TRANSITIONS: Record<Exclude<Action, "timeout" | "release">, Rule> = {
  commission: {
    from: [S.NEW, S.READY, S.BROKEN, S.FAILED_COMMISSIONING, S.FAILED_TESTING, S.FAILED_DEPLOYMENT, S.FAILED_RELEASING, S.FAILED_DISK_ERASING],
    to: S.COMMISSIONING,
  },
  abort: {
    from: [S.COMMISSIONING, S.TESTING, S.DEPLOYING, S.DISK_ERASING, S.ENTERING_RESCUE_MODE, S.EXITING_RESCUE_MODE],
    to: "previous",
  },
  allocate: { from: [S.READY], to: S.ALLOCATED },
  deploy: { from: [S.READY, S.ALLOCATED, S.FAILED_DEPLOYMENT], to: S.DEPLOYING },
  mark_broken: {
    from: [
      S.NEW,
      S.COMMISSIONING,
      S.READY,
      S.ALLOCATED,
      S.DEPLOYING,
      S.DEPLOYED,
      S.RELEASING,
      S.DISK_ERASING,
      S.TESTING,
      S.MISSING,
      S.RESERVED,
      S.RESCUE_MODE,
      S.ENTERING_RESCUE_MODE,
      S.EXITING_RESCUE_MODE,
      ...FAILED,
    ],
    to: S.BROKEN,
  },
  mark_fixed: { from: [S.BROKEN], to: S.READY },
  rescue_mode: { from: [S.READY, S.DEPLOYED, S.BROKEN, ...FAILED.filter((s) => s !== S.FAILED_ENTERING_RESCUE_MODE)], to: S.ENTERING_RESCUE_MODE },
  exit_rescue_mode: { from: [S.RESCUE_MODE, S.FAILED_ENTERING_RESCUE_MODE, S.FAILED_EXITING_RESCUE_MODE], to: S.EXITING_RESCUE_MODE },
  lock: { from: [S.DEPLOYED, S.DEPLOYING], to: "same" },
  unlock: { from: ALL_STATUSES, to: "same" },
  delete: { from: ALL_STATUSES, to: "same" },
  commissioning_done: { from: [S.COMMISSIONING, S.TESTING], to: S.READY },
  commissioning_failed: { from: [S.COMMISSIONING], to: S.FAILED_COMMISSIONING },
  deployed: { from: [S.DEPLOYING], to: S.DEPLOYED },
  deployment_failed: { from: [S.DEPLOYING], to: S.FAILED_DEPLOYMENT },
  released: { from: [S.RELEASING, S.DISK_ERASING], to: S.READY },
  release_failed: { from: [S.RELEASING], to: S.FAILED_RELEASING },
  disk_erased: { from: [S.DISK_ERASING], to: S.READY },
  disk_erase_failed: { from: [S.DISK_ERASING], to: S.FAILED_DISK_ERASING },
  rescue_entered: { from: [S.ENTERING_RESCUE_MODE], to: S.RESCUE_MODE },
  rescue_failed: { from: [S.ENTERING_RESCUE_MODE], to: S.FAILED_ENTERING_RESCUE_MODE },
  rescue_exited: { from: [S.EXITING_RESCUE_MODE], to: "previous" },
  rescue_exit_failed: { from: [S.EXITING_RESCUE_MODE], to: S.FAILED_EXITING_RESCUE_MODE },
};

const RELEASE_FROM: readonly Status[] = [
  S.ALLOCATED,
  S.DEPLOYED,
  S.DEPLOYING,
  S.FAILED_DEPLOYMENT,
  S.FAILED_RELEASING,
  S.FAILED_DISK_ERASING,
  S.RESCUE_MODE,
  S.FAILED_ENTERING_RESCUE_MODE,
  S.FAILED_EXITING_RESCUE_MODE,
];

/** Where abort goes: back to what the phase started from. */
const ABORT_TO: Partial<Record<Status, Status>> = {
  [S.DEPLOYING]: S.ALLOCATED,
  [S.DISK_ERASING]: S.FAILED_DISK_ERASING,
  [S.ENTERING_RESCUE_MODE]: S.FAILED_ENTERING_RESCUE_MODE,
  [S.EXITING_RESCUE_MODE]: S.FAILED_EXITING_RESCUE_MODE,
};

export interface MachineState {
  status: Status;
  /** The status a phase started from: where abort and exit-rescue return. */
  previousStatus: Status | null;
  locked: boolean;
}

export interface TransitionOptions {
  /** release: erase disks first (DISK_ERASING instead of RELEASING). */
  erase?: boolean;
}

export type Decision = { ok: true; to: Status; previousStatus: Status | null; locked: boolean } | { ok: false; reason: string; allowed: UserAction[] };

/** Rescue is a round trip: every step of it remembers where the machine will return to. */
const KEEPS_PREVIOUS = new Set<Action>(["rescue_entered", "rescue_failed", "exit_rescue_mode", "rescue_exit_failed"]);

/** Actions that change nothing about the machine's life and so are allowed while locked. */
const ALLOWED_WHEN_LOCKED = new Set<Action>(["unlock", "deployed", "deployment_failed", "timeout", "mark_broken"]);

export function decide(m: MachineState, action: Action, opts: TransitionOptions = {}): Decision {
  const deny = (reason: string): Decision => ({ ok: false, reason, allowed: allowedActions(m) });
  if (m.locked && !ALLOWED_WHEN_LOCKED.has(action)) return deny("the machine is locked");

  if (action === "timeout") {
    const d = PHASE_DEADLINES[m.status];
    return d ? { ok: true, to: d.fail, previousStatus: m.previousStatus, locked: m.locked } : deny("no deadline in this status");
  }
  if (action === "release") {
    if (!RELEASE_FROM.includes(m.status)) return deny(`cannot release a machine that is ${STATUS_NAME[m.status]}`);
    // A machine that never booted has nothing to power off or erase: straight back to READY.
    if (m.status === S.ALLOCATED && !opts.erase) return { ok: true, to: S.READY, previousStatus: null, locked: false };
    return { ok: true, to: opts.erase ? S.DISK_ERASING : S.RELEASING, previousStatus: m.status, locked: false };
  }
  const rule = TRANSITIONS[action];
  if (!rule.from.includes(m.status)) return deny(`cannot ${action.replaceAll("_", " ")} a machine that is ${STATUS_NAME[m.status]}`);
  if (action === "lock" && m.locked) return deny("the machine is already locked");
  if (action === "unlock" && !m.locked) return deny("the machine is not locked");

  let to: Status;
  if (rule.to === "same") to = m.status;
  else if (rule.to === "previous") {
    to = action === "abort" ? (ABORT_TO[m.status] ?? m.previousStatus ?? S.NEW) : (m.previousStatus ?? S.READY);
  } else to = rule.to;

  // Entering a phase remembers where it came from; leaving one forgets it.
  let previousStatus: Status | null;
  if (KEEPS_PREVIOUS.has(action) || to === m.status) previousStatus = m.previousStatus;
  else if (PHASE_DEADLINES[to] !== undefined) previousStatus = m.status;
  else previousStatus = null;
  const locked = action === "lock" ? true : action === "unlock" ? false : m.locked;
  return { ok: true, to, previousStatus, locked };
}

/** The user actions legal right now, for 409 bodies and the dashboard's action menu. */
export function allowedActions(m: MachineState): UserAction[] {
  return USER_ACTIONS.filter((a) => {
    if (m.locked && !ALLOWED_WHEN_LOCKED.has(a)) return false;
    if (a === "release") return RELEASE_FROM.includes(m.status);
    if (a === "lock") return !m.locked && TRANSITIONS.lock.from.includes(m.status);
    if (a === "unlock") return m.locked;
    return TRANSITIONS[a].from.includes(m.status);
  });
}

export function isStatus(n: number): n is Status {
  return ALL_STATUSES.includes(n as Status);
}
