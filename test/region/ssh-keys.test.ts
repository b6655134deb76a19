// SSH keys per user through /api/v1: parsed and checked (type, base64, the blob's own type
// header), named by their OpenSSH SHA256 fingerprint, one audit event per change; users manage
// their own, admins anyone's. The keys reach deployments through the owner (deploy-flow tests).
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, makeUser } from "./helpers";

const ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEnVr18cEoy1VaTHrjmyRFwNhFNFcUwwJ/fuHR6lmg4u ops@lab";
// ssh-keygen -lf of ED says SHA256:e0Dt/Hzq3LGiPowHhDtk8bODGEFrU7jCIKFYeOdKfsU
const ED_FP = "SHA256:e0Dt/Hzq3LGiPowHhDtk8bODGEFrU7jCIKFYeOdKfsU";
const RSA =
  "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCcQolm7mQLpSCK04ORAp4nhd+0hpOcGT44B+MgFmQ/eC1X9NebC0+Y3x1t9HXK9Fd4vk1ZRJTIC0uzumzZ4ZxQeosqQ2qPyHNHKWLi5WRPC143YxrGc9vYglyMIikIe/uQ0H+PHXZxfnoKfNDaktmLPmLgFdEkR3dRZCi/KmYpSb0Eu8Y4XGuYqV3GNpX0frvWdaNq8uLgseSNb/9TKssV9ZAJOOkmr/o/C9IYTZqart6B/MzOGI2476hRKTGtxmKuMmKwQhTO8b3Il4BQ1TlPYJOZb0WvH/NczcUC0RRlGRi8OS8UkyR8TgLhZjtbkY9uEmr2Vj47PoImv3DDebBN";
let admin = "";
let ops = "";

beforeAll(async () => {
  admin = await makeUser("keys-admin", [["admin", null]]);
  ops = await makeUser("keys-ops", [["operator", null]]);
});

describe("SSH keys", () => {
  it("a user adds, lists and deletes their own keys, each change audited once", async () => {
    const a = await call(ops, "POST", "/users/keys-ops/ssh-keys", { key: ` ${ED}\n` });
    expect(a.status, JSON.stringify(a.json)).toBe(201);
    expect(a.json).toMatchObject({ type: "ssh-ed25519", comment: "ops@lab", fingerprint: ED_FP, key: ED });
    expect((await call(ops, "POST", "/users/keys-ops/ssh-keys", { key: RSA })).status).toBe(201);
    const dup = await call(ops, "POST", "/users/keys-ops/ssh-keys", { key: ED.replace("ops@lab", "other comment") });
    expect(dup.status).toBe(409);
    expect(dup.json.error.message).toContain(ED_FP);
    const list = await call(ops, "GET", "/users/keys-ops/ssh-keys");
    expect(list.json.items.map((k: { type: string }) => k.type)).toEqual(["ssh-ed25519", "ssh-rsa"]);
    const row = await env.DB.prepare("SELECT ssh_keys FROM users WHERE username = 'keys-ops'").first<{ ssh_keys: string }>();
    expect(JSON.parse(row!.ssh_keys)).toEqual([ED, RSA]);
    expect((await call(ops, "DELETE", `/users/keys-ops/ssh-keys/${a.json.id}`)).status).toBe(204);
    expect((await call(ops, "DELETE", `/users/keys-ops/ssh-keys/${a.json.id}`)).status).toBe(404);
    expect((await call(ops, "GET", "/users/keys-ops/ssh-keys")).json.items).toHaveLength(1);
    const { results } = await env.DB.prepare(
      "SELECT type, actor, description FROM events WHERE type LIKE 'user.ssh_key%' AND description LIKE '%keys-ops' ORDER BY id",
    ).all();
    expect(results).toEqual([
      { type: "user.ssh_key_added", actor: "keys-ops", description: `SSH key ${ED_FP} (ssh-ed25519 ops@lab) added for keys-ops` },
      { type: "user.ssh_key_added", actor: "keys-ops", description: expect.stringMatching(/^SSH key SHA256:\S+ \(ssh-rsa\) added for keys-ops$/) },
      { type: "user.ssh_key_removed", actor: "keys-ops", description: `SSH key ${ED_FP} removed from keys-ops` },
    ]);
  });

  it("refuses what is not a public key, with the reason", async () => {
    const bad = async (key: string) => (await call(ops, "POST", "/users/keys-ops/ssh-keys", { key })).json.error.message as string;
    expect(await bad("hello")).toContain("not an OpenSSH public key");
    expect(await bad("ssh-dss AAAAB3NzaC1kc3MAAACBAP1")).toContain('unsupported key type "ssh-dss"');
    // An RSA blob labelled ed25519.
    expect(await bad(`ssh-ed25519 ${RSA.split(" ")[1]}`)).toContain("is not a ssh-ed25519 key");
    expect(await bad(`${ED}\n${RSA}`)).toContain("one key per request");
    expect(await bad("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA")).toContain("this is a private key");
    expect((await call(ops, "POST", "/users/keys-ops/ssh-keys", {})).status).toBe(400);
  });

  it("another user's keys need admin", async () => {
    expect((await call(ops, "GET", "/users/keys-admin/ssh-keys")).status).toBe(403);
    expect((await call(ops, "POST", "/users/keys-admin/ssh-keys", { key: ED })).status).toBe(403);
    const made = await call(admin, "POST", "/users/keys-ops/ssh-keys", { key: ED });
    expect(made.status).toBe(201);
    expect((await call(admin, "GET", "/users/nobody/ssh-keys")).status).toBe(404);
  });
});
