// Region-wide settings: /settings. Anyone signed in reads them (clients need the default
// release; a proxy password only for admins); changing one takes admin on every site.
import { pushConfigAfter } from "../domain/racks/commands";
import type { Hono } from "hono";
import { z } from "zod";
import { can } from "../auth/roles";
import {
  getSetting,
  isSettingName,
  RACK_SETTINGS,
  listSettings,
  parseSetting,
  SETTINGS,
  type SettingName,
  setSetting,
  settingForReader,
} from "../domain/settings";
import type { AppEnv, Ctx } from "../http/context";
import { badRequest, forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { readJson } from "../http/validate";

const ValueBody = z.strictObject({ value: z.union([z.string(), z.number(), z.boolean()]) });

function settingName(c: Ctx): SettingName {
  const name = c.req.param("name") ?? "";
  if (!isSettingName(name)) throw notFound(`setting "${name.slice(0, 64)}"`);
  return name;
}

const mayChange = (c: Ctx) => can(c.get("caller"), "site.manage", null);

async function item(c: Ctx, name: SettingName) {
  const value = settingForReader(name, await getSetting(c.env.DB, name), mayChange(c));
  return { name, value, default: SETTINGS[name].default, doc: SETTINGS[name].doc };
}

export function settingRoutes(app: Hono<AppEnv>) {
  def(app, "get", "/settings", { summary: "Every region setting with its value and default", tag: "settings", roles: "any" }, async (c) => {
    const admin = mayChange(c);
    return c.json({ items: (await listSettings(c.env.DB)).map((s) => ({ ...s, value: settingForReader(s.name, s.value, admin) })) });
  });
  def(app, "get", "/settings/:name", { summary: "One region setting", tag: "settings", roles: "any" }, async (c) => {
    return c.json(await item(c, settingName(c)));
  });
  def(app, "put", "/settings/:name", { summary: "Change a region setting", tag: "settings", body: ValueBody, roles: "admin on every site" }, async (c) => {
    if (!mayChange(c)) throw forbidden("changing region settings needs admin on every site");
    const name = settingName(c);
    const b = await readJson(c, ValueBody);
    const v = parseSetting(name, b.value);
    if (!v.ok) throw badRequest(`${name}: ${v.error}`);
    await setSetting(c.env.DB, c.get("caller").username, name, v.value);
    if (RACK_SETTINGS.has(name)) await pushConfigAfter(c.env, null, `a change of ${name}`);
    return c.json(await item(c, name));
  });
}
