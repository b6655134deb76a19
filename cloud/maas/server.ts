// maas/: the region's settings as MAAS clients read and write them (get_config, set_config).
// Terraform reads default_osystem and default_distro_series here before it deploys a VM host.
import { pushConfigAfter } from "../domain/racks/commands";
import { can } from "../auth/roles";
import { getSetting, isSettingName, RACK_SETTINGS, parseSettingText, SETTING_NAMES, type SettingName, setSetting, settingForReader } from "../domain/settings";
import type { Handler, Req } from "./table";
import { fieldError, forbidden, json } from "./wire";

function nameParam(r: Req): SettingName {
  const name = r.p.get("name");
  if (!name) throw fieldError("name", "This field is required.");
  if (!isSettingName(name)) throw fieldError("name", `${name.slice(0, 64)} is not a valid config setting (valid settings are: ${SETTING_NAMES.join(", ")}).`);
  return name;
}

export const serverHandlers: Handler[] = [
  {
    name: "MaasHandler",
    doc: "Manage the region's settings.",
    path: "maas/",
    actions: [
      {
        method: "GET",
        op: "get_config",
        doc: "Get a setting's value (JSON).",
        params: ["name"],
        run: async (r) => {
          const name = nameParam(r);
          return json(settingForReader(name, await getSetting(r.db, name), can(r.caller, "site.manage", null)));
        },
      },
      {
        method: "POST",
        op: "set_config",
        doc: "Set a setting's value. Admin on every site only.",
        params: ["name", "value"],
        run: async (r) => {
          if (!can(r.caller, "site.manage", null)) throw forbidden();
          const name = nameParam(r);
          const raw = r.p.get("value");
          if (raw === undefined) throw fieldError("value", "This field is required.");
          const v = parseSettingText(name, raw);
          if (!v.ok) throw fieldError(name, `Invalid value: ${v.error}.`);
          await setSetting(r.db, r.caller.username, name, v.value);
          if (RACK_SETTINGS.has(name)) await pushConfigAfter(r.c.env, null, `a change of ${name}`);
          return new Response("OK", { headers: { "content-type": "text/plain; charset=utf-8" } });
        },
      },
    ],
  },
];
