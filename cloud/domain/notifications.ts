// Notifications: messages for one user, every user, admins, or a mix; each user dismisses them
// for themselves. Written by admins through the MAAS facade today; the region's own warnings
// can use the same table.
import { auditedDelete, eventStatement, eventStatementIf } from "./events";

export const CATEGORIES = ["error", "warning", "success", "info"] as const;
export type Category = (typeof CATEGORIES)[number];

export interface NotificationRow {
  id: number;
  ident: string | null;
  message: string;
  category: Category;
  user_id: number | null;
  users: number;
  admins: number;
  dismissable: number;
  context: string;
  created_at: number;
}

export interface NotificationInput {
  ident?: string | null;
  message: string;
  category: Category;
  userId?: number | null;
  users: boolean;
  admins: boolean;
  dismissable: boolean;
  context: Record<string, unknown>;
}

/** Guards an event so a change that finds no row records nothing. */
const EXISTS = "EXISTS (SELECT 1 FROM notifications WHERE id = ?)";

const COLS = "id, ident, message, category, user_id, users, admins, dismissable, context, created_at";

/** Who a notification is for, as SQL over `n` with the reader's id and admin flag bound after. */
const FOR_READER = "(n.user_id = ?1 OR n.users = 1 OR (n.admins = 1 AND ?2 = 1))";

export async function notificationsFor(db: D1Database, userId: number, admin: boolean): Promise<NotificationRow[]> {
  const { results } = await db
    .prepare(
      `SELECT ${COLS.split(", ")
        .map((c) => `n.${c}`)
        .join(", ")} FROM notifications n WHERE ${FOR_READER}
       AND NOT EXISTS (SELECT 1 FROM notification_dismissals d WHERE d.notification_id = n.id AND d.user_id = ?1) ORDER BY n.id`,
    )
    .bind(userId, admin ? 1 : 0)
    .all<NotificationRow>();
  return results;
}

/** One notification the reader may see (dismissed ones included), or null. */
export async function notificationFor(db: D1Database, id: number, userId: number, admin: boolean): Promise<NotificationRow | null> {
  return db
    .prepare(
      `SELECT ${COLS.split(", ")
        .map((c) => `n.${c}`)
        .join(", ")} FROM notifications n WHERE n.id = ?3 AND (${FOR_READER} OR ?2 = 1)`,
    )
    .bind(userId, admin ? 1 : 0, id)
    .first<NotificationRow>();
}

export async function createNotification(db: D1Database, actor: string, n: NotificationInput): Promise<NotificationRow> {
  const [row] = await db.batch([
    db
      .prepare(
        `INSERT INTO notifications (ident, message, category, user_id, users, admins, dismissable, context) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${COLS}`,
      )
      .bind(n.ident ?? null, n.message, n.category, n.userId ?? null, n.users ? 1 : 0, n.admins ? 1 : 0, n.dismissable ? 1 : 0, JSON.stringify(n.context)),
    eventStatement(db, { type: "notification.created", level: "AUDIT", actor, description: `notification "${n.message.slice(0, 80)}" created` }),
  ]);
  return row!.results[0] as NotificationRow;
}

export async function updateNotification(db: D1Database, actor: string, id: number, n: NotificationInput): Promise<NotificationRow | null> {
  const [, row] = await db.batch([
    eventStatementIf(db, { type: "notification.updated", level: "AUDIT", actor, description: `notification ${id} updated` }, EXISTS, id),
    db
      .prepare(
        `UPDATE notifications SET ident = ?, message = ?, category = ?, user_id = ?, users = ?, admins = ?, dismissable = ?, context = ?, updated_at = ? WHERE id = ? RETURNING ${COLS}`,
      )
      .bind(
        n.ident ?? null,
        n.message,
        n.category,
        n.userId ?? null,
        n.users ? 1 : 0,
        n.admins ? 1 : 0,
        n.dismissable ? 1 : 0,
        JSON.stringify(n.context),
        Date.now(),
        id,
      ),
  ]);
  return (row!.results[0] as NotificationRow | undefined) ?? null;
}

export async function deleteNotification(db: D1Database, actor: string, id: number): Promise<boolean> {
  return auditedDelete(db, "notifications", id, { type: "notification.deleted", actor, description: `notification ${id} deleted` });
}

export async function dismissNotification(db: D1Database, id: number, userId: number): Promise<void> {
  await db.prepare("INSERT OR IGNORE INTO notification_dismissals (notification_id, user_id) VALUES (?, ?)").bind(id, userId).run();
}
