// notifications/ and notifications/{id}/: everyone lists what is for them (and not dismissed by
// them); admins of every site create, update and delete; each user dismisses for themselves.
import { z } from "zod";
import { can } from "../auth/roles";
import {
  CATEGORIES,
  createNotification,
  deleteNotification,
  dismissNotification,
  type NotificationInput,
  type NotificationRow,
  notificationFor,
  notificationsFor,
  updateNotification,
} from "../domain/notifications";
import type { Handler, Req } from "./table";
import { API, badRequest, boolParam, deleted, forbidden, intParam, json, MaasError, parse } from "./wire";

const isAdmin = (r: Req) => can(r.caller, "user.manage", null);

const contextParam = z
  .string()
  .max(16 * 1024)
  .transform((s, ctx) => {
    try {
      const v = JSON.parse(s) as unknown;
      if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {}
    ctx.addIssue({ code: "custom", message: "Enter a JSON object." });
    return z.NEVER;
  });

const Form = z.object({
  message: z.string({ error: "This field is required." }).min(1, "This field is required.").max(4096),
  ident: z.string().max(255).optional(),
  category: z.enum(CATEGORIES, { message: "Select a valid choice." }).default("info"),
  user: intParam(1, Number.MAX_SAFE_INTEGER).optional(),
  users: boolParam.default(false),
  admins: boolParam.default(false),
  dismissable: boolParam.default(true),
  context: contextParam.default({}),
});

async function notificationJson(r: Req, n: NotificationRow) {
  const u = n.user_id
    ? await r.db.prepare("SELECT username, email FROM users WHERE id = ?").bind(n.user_id).first<{ username: string; email: string }>()
    : null;
  let context: Record<string, unknown> = {};
  try {
    context = JSON.parse(n.context) as Record<string, unknown>;
  } catch {}
  return {
    id: n.id,
    ident: n.ident,
    message: n.message,
    category: n.category,
    user: u ? { username: u.username, email: u.email, resource_uri: `${API}/users/${encodeURIComponent(u.username)}/` } : null,
    users: !!n.users,
    admins: !!n.admins,
    dismissable: !!n.dismissable,
    context,
    resource_uri: `${API}/notifications/${n.id}/`,
  };
}

async function input(r: Req, base?: NotificationRow): Promise<NotificationInput> {
  const p = parse(base ? Form.partial({ message: true }) : Form, r.p);
  if (p.user !== undefined && !(await r.db.prepare("SELECT 1 FROM users WHERE id = ?").bind(p.user).first())) {
    throw new MaasError(400, { user: ["Select a valid choice. That choice is not one of the available choices."] });
  }
  // A PUT changes what it names and keeps the rest.
  const had = (k: string) => r.p.has(k) || !base;
  return {
    message: p.message ?? base!.message,
    ident: had("ident") ? (p.ident ?? null) : base!.ident,
    category: had("category") ? p.category : base!.category,
    userId: had("user") ? (p.user ?? null) : base!.user_id,
    users: had("users") ? p.users : !!base!.users,
    admins: had("admins") ? p.admins : !!base!.admins,
    dismissable: had("dismissable") ? p.dismissable : !!base!.dismissable,
    context: had("context") ? p.context : (JSON.parse(base!.context) as Record<string, unknown>),
  };
}

async function one(r: Req): Promise<NotificationRow> {
  const raw = r.path["id"] ?? "";
  const n = /^\d{1,15}$/.test(raw) ? await notificationFor(r.db, Number(raw), r.caller.userId, isAdmin(r)) : null;
  if (!n) throw new MaasError(404, "No Notification matches the given query.");
  return n;
}

export const notificationHandlers: Handler[] = [
  {
    name: "NotificationsHandler",
    doc: "Manage the collection of notifications.",
    path: "notifications/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List the notifications for the caller that the caller has not dismissed.",
        run: async (r) => json(await Promise.all((await notificationsFor(r.db, r.caller.userId, isAdmin(r))).map((n) => notificationJson(r, n)))),
      },
      {
        method: "POST",
        op: null,
        doc: "Create a notification (admin): for one user (user=id), every user (users=true), admins (admins=true).",
        params: ["message", "ident", "category", "user", "users", "admins", "dismissable", "context"],
        run: async (r) => {
          if (!isAdmin(r)) throw forbidden();
          const n = await createNotification(r.db, r.caller.username, await input(r));
          return json(await notificationJson(r, n));
        },
      },
    ],
  },
  {
    name: "NotificationHandler",
    doc: "Manage an individual notification.",
    path: "notifications/{id}/",
    actions: [
      { method: "GET", op: null, doc: "Read a notification.", run: async (r) => json(await notificationJson(r, await one(r))) },
      {
        method: "PUT",
        op: null,
        doc: "Update a notification (admin).",
        params: ["message", "ident", "category", "user", "users", "admins", "dismissable", "context"],
        run: async (r) => {
          if (!isAdmin(r)) throw forbidden();
          const base = await one(r);
          const n = await updateNotification(r.db, r.caller.username, base.id, await input(r, base));
          if (!n) throw new MaasError(404, "No Notification matches the given query.");
          return json(await notificationJson(r, n));
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a notification (admin).",
        run: async (r) => {
          if (!isAdmin(r)) throw forbidden();
          const n = await one(r);
          if (!(await deleteNotification(r.db, r.caller.username, n.id))) throw new MaasError(404, "No Notification matches the given query.");
          return deleted();
        },
      },
      {
        method: "POST",
        op: "dismiss",
        doc: "Dismiss a notification for the caller.",
        run: async (r) => {
          const n = await one(r);
          if (!n.dismissable) throw badRequest("This notification cannot be dismissed.");
          await dismissNotification(r.db, n.id, r.caller.userId);
          return json(await notificationJson(r, n));
        },
      },
    ],
  },
];
