// The node's OAuth credentials are a pure function of the deployment token: the same on the
// region and the rack, different for every deployment, and shaped like MAAS's.
import { describe, expect, it } from "vitest";
import { nodeCredentials } from "../../../shared/node-credentials";

const TOKEN = "T0ken0123456789abcdefABCDEF01234";

describe("node credentials", () => {
  it("are stable for a token, MAAS-shaped, and pinned so a change of derivation cannot pass unnoticed", async () => {
    const a = await nodeCredentials(TOKEN);
    expect(await nodeCredentials(TOKEN)).toEqual(a);
    expect(a.consumerKey).toMatch(/^[0-9A-Za-z]{18}$/);
    expect(a.tokenKey).toMatch(/^[0-9A-Za-z]{18}$/);
    expect(a.tokenSecret).toMatch(/^[0-9A-Za-z]{32}$/);
    expect(new Set([a.consumerKey, a.tokenKey, a.tokenSecret]).size).toBe(3);
    expect(a).toMatchInlineSnapshot(`
      {
        "consumerKey": "42nN1u6kbjSfTeiEBQ",
        "tokenKey": "VcvrocFaj1fqHD0JeQ",
        "tokenSecret": "FYz0tRZC3pRg0J161Fi61afMhjAp3UdS",
      }
    `);
  });

  it("change with each deployment's token", async () => {
    const a = await nodeCredentials(TOKEN);
    const b = await nodeCredentials(`${TOKEN.slice(0, -1)}5`);
    expect(b.consumerKey).not.toBe(a.consumerKey);
    expect(b.tokenKey).not.toBe(a.tokenKey);
    expect(b.tokenSecret).not.toBe(a.tokenSecret);
  });

  it("refuse what is not a deployment token", async () => {
    await expect(nodeCredentials("short")).rejects.toThrow(/16 to 64/);
    await expect(nodeCredentials(`${TOKEN}é`)).rejects.toThrow(/16 to 64/);
  });
});
