// account/prefs/sshkeys/ and account/prefs/sslkeys/: the signed-in user's own keys, the same rows
// /api/v1/users/{username}/ssh-keys and ssl-keys serve. MAAS clients (gomaasclient reads `id` as
// an int) number keys; an SSH key is named in Plinth by its SHA256 fingerprint, so its MAAS id is
// the first 48 bits of that digest: stable across deletes, and exact in a JSON number.
import { addSshKey, listSshKeys, parseSshKey, removeSshKey, type SshKey } from "../domain/ssh-keys";
import { addSslKey, getSslKey, listSslKeys, parseCertificate, removeSslKey, type SslKey } from "../domain/ssl-keys";
import type { Handler, Req } from "./table";
import { API, badRequest, deleted, fieldError, json, MaasError, notFound } from "./wire";

export function sshKeyNumber(k: SshKey): number {
  const b = Uint8Array.from(atob(k.id.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  let n = 0;
  for (let i = 0; i < 6; i++) n = n * 256 + b[i]!;
  return n;
}

const sshJson = (k: SshKey) => {
  const id = sshKeyNumber(k);
  return { id, key: k.key, keysource: "", resource_uri: `${API}/account/prefs/sshkeys/${id}/` };
};
const sslJson = (k: SslKey) => ({ id: k.id, key: k.key, resource_uri: `${API}/account/prefs/sslkeys/${k.id}/` });

const me = (r: Req) => ({ id: r.caller.userId, username: r.caller.username });

async function sshKeyById(r: Req): Promise<SshKey> {
  const raw = r.path["id"] ?? "";
  const id = /^\d{1,16}$/.test(raw) ? Number(raw) : -1;
  const k = (await listSshKeys(r.db, r.caller.userId)).find((x) => sshKeyNumber(x) === id);
  if (!k) throw notFound("SSHKey");
  return k;
}

async function sslKeyById(r: Req): Promise<SslKey> {
  const raw = r.path["id"] ?? "";
  const k = /^\d{1,15}$/.test(raw) ? await getSslKey(r.db, r.caller.userId, Number(raw)) : null;
  if (!k) throw notFound("SSLKey");
  return k;
}

const raced = () => new MaasError(409, "The user's keys changed while this request ran; try again.");

export const prefsHandlers: Handler[] = [
  {
    name: "SSHKeysHandler",
    doc: "Manage the SSH keys of the logged-in user; deployments put them on the deployed system.",
    path: "account/prefs/sshkeys/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List the user's SSH keys.",
        run: async (r) => json((await listSshKeys(r.db, r.caller.userId)).map(sshJson)),
      },
      {
        method: "POST",
        op: null,
        doc: "Add an SSH public key (one authorized_keys line).",
        params: ["key"],
        run: async (r) => {
          const text = r.p.get("key");
          if (!text) throw fieldError("key", "This field is required.");
          if (text.length > 16 * 1024) throw fieldError("key", "Ensure this value has at most 16384 characters.");
          const parsed = await parseSshKey(text);
          if (!parsed.ok) throw fieldError("key", `Invalid SSH public key: ${parsed.error}.`);
          const res = await addSshKey(r.db, r.caller.username, me(r), parsed.key);
          if (res.ok) return json(sshJson(res.key), 201);
          if (res.problem === "raced") throw raced();
          if (res.problem === "duplicate") throw fieldError("__all__", "This key has already been added for this user.");
          throw fieldError("key", "The user has the most SSH keys a user may have; delete one first.");
        },
      },
      {
        method: "POST",
        op: "import",
        doc: "Import keys from Launchpad or GitHub: not done by Plinth, whose region does not fetch from them; add each key with its text.",
        params: ["keysource"],
        run: async () => {
          throw badRequest("Importing SSH keys (lp:/gh:) is not supported by Plinth: add each public key with POST key=<the .pub line>.");
        },
      },
    ],
  },
  {
    name: "SSHKeyHandler",
    doc: "Manage one SSH key of the logged-in user.",
    path: "account/prefs/sshkeys/{id}/",
    actions: [
      { method: "GET", op: null, doc: "Read an SSH key.", run: async (r) => json(sshJson(await sshKeyById(r))) },
      {
        method: "DELETE",
        op: null,
        doc: "Delete an SSH key.",
        run: async (r) => {
          const k = await sshKeyById(r);
          const res = await removeSshKey(r.db, r.caller.username, me(r), k.id);
          if (!res.ok && res.problem === "raced") throw raced();
          if (!res.ok) throw notFound("SSHKey");
          return deleted();
        },
      },
    ],
  },
  {
    name: "SSLKeysHandler",
    doc: "Manage the SSL keys (X.509 certificates) of the logged-in user.",
    path: "account/prefs/sslkeys/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List the user's SSL keys.",
        run: async (r) => json((await listSslKeys(r.db, r.caller.userId)).map(sslJson)),
      },
      {
        method: "POST",
        op: null,
        doc: "Add an SSL key: one PEM certificate.",
        params: ["key"],
        run: async (r) => {
          const text = r.p.get("key");
          if (!text) throw fieldError("key", "This field is required.");
          const cert = await parseCertificate(text);
          if (!cert.ok) throw fieldError("key", `Invalid SSL key: ${cert.error}.`);
          const res = await addSslKey(r.db, r.caller.username, me(r), cert);
          if (res.ok) return json(sslJson(res.key), 201);
          if (res.problem === "duplicate") throw fieldError("__all__", "This key has already been added for this user.");
          throw fieldError("key", "The user has the most SSL keys a user may have; delete one first.");
        },
      },
    ],
  },
  {
    name: "SSLKeyHandler",
    doc: "Manage one SSL key of the logged-in user.",
    path: "account/prefs/sslkeys/{id}/",
    actions: [
      { method: "GET", op: null, doc: "Read an SSL key.", run: async (r) => json(sslJson(await sslKeyById(r))) },
      {
        method: "DELETE",
        op: null,
        doc: "Delete an SSL key.",
        run: async (r) => {
          const k = await sslKeyById(r);
          if (!(await removeSslKey(r.db, r.caller.username, me(r), k.id)).ok) throw notFound("SSLKey");
          return deleted();
        },
      },
    ],
  },
];
