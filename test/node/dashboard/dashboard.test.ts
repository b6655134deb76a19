// The dashboard in a real browser against a real local region (wrangler dev, local D1) with
// 1,000 seeded machines: sign-in, filters, machine detail, an action with confirmation, a
// change made behind the page's back showing up live, roles, wrong password, session end.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { axeViolations, launchChromium } from "./browser";
import { freePort, startTestRegion, type TestRegion } from "./region";

const SHOTS = join(import.meta.dirname, "../../../docs/img");
const WAIT = { timeout: 20_000 };

let region: TestRegion;
let browser: Browser;

beforeAll(async () => {
  region = await startTestRegion({ machines: 1000, sites: 10 });
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await region?.stop();
});

async function signIn(page: Page, username: string, password: string) {
  await page.goto(region.url);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function newPage(): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  return ctx.newPage();
}

describe("dashboard", () => {
  let page: Page;

  it("refuses a wrong password in words, then signs in and shows the fleet overview", async () => {
    page = await newPage();
    await signIn(page, "admin", "not-the-password");
    await page.getByRole("alert").filter({ hasText: "Wrong username or password." }).waitFor(WAIT);
    await page.getByLabel("Password").fill(region.admin.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Fleet overview" }).waitFor(WAIT);
    await page.locator('[data-testid="sites"] tbody tr').first().waitFor(WAIT);
    expect(await page.locator('[data-testid="sites"] tbody tr').count()).toBe(11); // ten seeded and "default"
    await page.getByText("1,000", { exact: true }).waitFor(WAIT);
    await page.locator('[data-testid="live"]', { hasText: "Live" }).waitFor(WAIT);
    await page.screenshot({ path: join(SHOTS, "dashboard-overview.png") });
  });

  it("lists machines, filters by status, site and free text, and pages with the cursor", async () => {
    await page.getByRole("link", { name: "Machines", exact: true }).click();
    const rows = page.locator('[data-testid="machines"] tbody tr');
    await rows.first().waitFor(WAIT);
    expect(await rows.count()).toBe(100);
    await page.getByRole("button", { name: "Next →" }).click();
    await page.waitForURL(/cursor=/, WAIT);
    await page.getByRole("button", { name: "← Previous" }).click();
    await page.waitForURL((u) => !u.search.includes("cursor="), WAIT);

    await page.getByLabel("Status", { exact: true }).selectOption({ label: "Deployed" });
    await page.waitForURL(/status=6/, WAIT);
    await expect
      .poll(async () => (await page.locator('[data-testid="machines"] tbody .badge').allInnerTexts()).every((t) => t === "Deployed"), WAIT)
      .toBe(true);
    await page.getByLabel("Site", { exact: true }).fill("site-0003");
    await page.getByLabel("Site", { exact: true }).press("Enter");
    await page.waitForURL(/site=site-0003/, WAIT);
    await expect
      .poll(async () => {
        const sites = await page.locator('[data-testid="machines"] tbody tr td:nth-child(5)').allInnerTexts();
        return sites.length > 0 && sites.every((s) => s === "site-0003");
      }, WAIT)
      .toBe(true);
    await page.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, "dashboard-machines.png") });

    await page.getByRole("button", { name: "Clear filters" }).click();
    await page.getByLabel("Search").fill("site-0007-r02");
    await page.waitForURL(/q=site-0007-r02/, WAIT);
    await expect
      .poll(async () => {
        const hosts = await page.locator('[data-testid="machines"] tbody a.host').allInnerTexts();
        return hosts.length > 0 && hosts.every((h) => h.startsWith("site-0007-r02"));
      }, WAIT)
      .toBe(true);
  });

  it("opens a machine and runs an action after confirming it; the status changes on the page", async () => {
    const ready = (await region.api("GET", "/machines?status=ready&site=site-0001&limit=1")).json.items[0];
    await page.goto(`${region.url}/machines?q=${ready.hostname}`);
    await page.getByRole("link", { name: ready.hostname }).click();
    await page.waitForURL(new RegExp(`/machines/${ready.system_id}$`), WAIT);
    await page.locator('[data-testid="status"]', { hasText: "Ready" }).waitFor(WAIT);
    await page.getByRole("heading", { name: "Interfaces" }).waitFor(WAIT);
    expect(await page.locator(".card", { hasText: "Interfaces" }).locator("tbody tr").count()).toBe(2);

    // The storage design: the default layout on its disks; another layout applied from the page.
    const storage = page.locator('[data-testid="storage"]');
    await storage.locator('[data-testid="storage-layout"]', { hasText: "flat" }).waitFor(WAIT);
    expect((await storage.textContent()) ?? "").toMatch(/ext4 on \//);
    await storage.getByLabel("Storage layout").selectOption("lvm");
    await storage.getByRole("button", { name: "Apply layout" }).click();
    await storage.locator('[data-testid="storage-layout"]', { hasText: "lvm" }).waitFor(WAIT);
    expect((await storage.textContent()) ?? "").toMatch(/vgroot: .* free of /);
    expect((await region.api("GET", `/machines/${ready.system_id}/storage`)).json.layout).toBe("lvm");

    await page.locator('[data-testid="actions"]').getByRole("button", { name: "Mark broken" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor(WAIT);
    expect(await dialog.textContent()).toContain("taken out of service");
    await dialog.getByRole("button", { name: "Mark broken" }).click();
    await page.locator('[data-testid="status"]', { hasText: "Broken" }).waitFor(WAIT);
    expect((await region.api("GET", `/machines/${ready.system_id}`)).json.status_name).toBe("Broken");
    await page.locator('[data-testid="timeline"]', { hasText: "machine.mark_broken" }).waitFor(WAIT);
  });

  it("shows a change made elsewhere live, without reloading", async () => {
    const m = (await region.api("GET", "/machines?status=ready&site=site-0002&limit=1")).json.items[0];
    await page.goto(`${region.url}/machines/${m.system_id}`);
    await page.locator('[data-testid="status"]', { hasText: "Ready" }).waitFor(WAIT);
    await page.locator('[data-testid="live"]', { hasText: "Live" }).waitFor(WAIT);
    await page.evaluate(() => {
      (globalThis as unknown as { marker: number }).marker = 42;
    });
    // Someone else (a script with an API key) changes the machine.
    expect((await region.api("POST", `/machines/${m.system_id}/allocate`, { comment: "from a script" })).status).toBe(200);
    await page.locator('[data-testid="status"]', { hasText: "Allocated" }).waitFor(WAIT);
    // Same document: the page did not reload to show it.
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);
    await page.screenshot({ path: join(SHOTS, "dashboard-machine.png"), fullPage: false });

    // And in the list: the row updates in place.
    await page.goto(`${region.url}/machines?q=${m.hostname}`);
    const row = page.locator(`tr[data-system-id="${m.system_id}"]`);
    await row.locator(".badge", { hasText: "Allocated" }).waitFor(WAIT);
    await page.locator('[data-testid="live"]', { hasText: "Live" }).waitFor(WAIT);
    expect((await region.api("POST", `/machines/${m.system_id}/release`, {})).status).toBe(200);
    await row.locator(".badge", { hasText: "Ready" }).waitFor(WAIT);
  });

  it("runs a bulk action on selected machines after confirming", async () => {
    await page.goto(`${region.url}/machines?status=4&site=site-0004`);
    const rows = page.locator('[data-testid="machines"] tbody tr');
    await rows.first().waitFor(WAIT);
    const ids = await rows.evaluateAll((trs) => trs.slice(0, 3).map((tr) => tr.getAttribute("data-system-id")!));
    for (const id of ids) await page.locator(`tr[data-system-id="${id}"] input[type=checkbox]`).check();
    await page.locator('[data-testid="bulkbar"]').getByRole("button", { name: "Mark broken" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Mark broken" }).click();
    await page.locator(".notice", { hasText: "Mark broken: 3 done" }).waitFor(WAIT);
    for (const id of ids) expect((await region.api("GET", `/machines/${id}`)).json.status_name).toBe("Broken");
  });

  it("shows a remote-hands user only its site, power controls, and no deploy", async () => {
    expect(
      (await region.api("POST", "/users", { username: "hands", password: "hands-password-1", roles: [{ role: "remote-hands", site: "site-0005" }] })).status,
    ).toBe(201);
    const hp = await newPage();
    await signIn(hp, "hands", "hands-password-1");
    await hp.getByRole("heading", { name: "Fleet overview" }).waitFor(WAIT);
    await hp.locator('[data-testid="sites"] tbody tr').first().waitFor(WAIT);
    expect(await hp.locator('[data-testid="sites"] tbody tr').allInnerTexts()).toHaveLength(1);
    expect(await hp.locator('[data-testid="sites"] tbody tr').first().textContent()).toContain("site-0005");
    expect(await hp.getByRole("link", { name: "Users & roles" }).count()).toBe(0);

    await hp.getByRole("link", { name: "Machines", exact: true }).click();
    await hp.locator('[data-testid="machines"] tbody tr').first().waitFor(WAIT);
    const sites = await hp.locator('[data-testid="machines"] tbody tr td:nth-child(5)').allInnerTexts();
    expect(new Set(sites)).toEqual(new Set(["site-0005"]));

    const ready = (await region.api("GET", "/machines?status=ready&site=site-0005&limit=1")).json.items[0];
    await hp.goto(`${region.url}/machines/${ready.system_id}`);
    await hp.locator('[data-testid="status"]', { hasText: "Ready" }).waitFor(WAIT);
    await hp.getByRole("button", { name: "Power on" }).waitFor(WAIT);
    expect(await hp.getByRole("button", { name: "Deploy" }).count()).toBe(0);
    expect(await hp.getByRole("button", { name: "Commission" }).count()).toBe(0);
    expect(await hp.getByRole("button", { name: "Mark broken" }).count()).toBe(1);
    await hp.getByLabel("Note").fill("reseated the NIC");
    await hp.getByRole("button", { name: "Add note" }).click();
    await hp.locator('[data-testid="timeline"]', { hasText: "reseated the NIC" }).waitFor(WAIT);

    // A machine of another site is "not found" for this user, said in words.
    const other = (await region.api("GET", "/machines?site=site-0006&limit=1")).json.items[0];
    await hp.goto(`${region.url}/machines/${other.system_id}`);
    await hp.getByRole("alert").filter({ hasText: "Not found" }).waitFor(WAIT);

    // Opened directly, the admin pages say why and offer none of their forms.
    for (const [path, form] of [
      ["/users", "Add user"],
      ["/tokens", "Create token"],
    ] as const) {
      await hp.goto(`${region.url}${path}`);
      await hp.getByRole("alert").first().waitFor(WAIT);
      expect(await hp.getByRole("button", { name: form }).count(), path).toBe(0);
    }
    await hp.context().close();
  });

  it("sends the user back to sign-in, with a reason, when the account is disabled", async () => {
    expect(
      (await region.api("POST", "/users", { username: "shortlived", password: "shortlived-pass-1", roles: [{ role: "viewer", site: null }] })).status,
    ).toBe(201);
    const sp = await newPage();
    await signIn(sp, "shortlived", "shortlived-pass-1");
    await sp.getByRole("heading", { name: "Fleet overview" }).waitFor(WAIT);
    // The region ends the session (the account is disabled); the next request finds out.
    expect((await region.api("PATCH", "/users/shortlived", { is_active: false })).status).toBe(200);
    // The next request finds out: the click's, or the page's own live reload when it comes first
    // (then the link is gone with the signed-in layout, and the message below is already up).
    await sp
      .getByRole("link", { name: "Events" })
      .click({ timeout: 5_000 })
      .catch(() => undefined);
    await sp.getByText("Your session has ended. Sign in again to continue.").waitFor(WAIT);
    await sp.getByRole("button", { name: "Sign in" }).waitFor(WAIT);
    await sp.context().close();
  });

  it("sends the user back to sign-in, with the reason, when the session's time runs out", async () => {
    expect((await region.api("POST", "/users", { username: "timed", password: "timed-pass-12", roles: [{ role: "viewer", site: null }] })).status).toBe(201);
    const sp = await newPage();
    await signIn(sp, "timed", "timed-pass-12");
    await sp.getByRole("heading", { name: "Fleet overview" }).waitFor(WAIT);
    const session = () => sp.request.get(`${region.url}/api/v1/session`);
    expect((await session()).status()).toBe(200);
    // Before its end the page works as ever.
    await sp.getByRole("link", { name: "Events" }).click();
    await sp.getByRole("heading", { name: "Events" }).waitFor(WAIT);
    expect((await session()).status()).toBe(200);
    // Then the session's lifetime is cut to a moment just past, in the region's own D1 (the
    // account stays active): time, not a revocation, ends it, with no half-minute wait for it.
    const expiresAt = Date.now() - 1_000;
    const rows = region.d1(
      `UPDATE sessions SET expires_at = ${expiresAt} WHERE user_id = (SELECT id FROM users WHERE username = 'timed') RETURNING expires_at`,
    );
    expect(rows).toEqual([{ expires_at: expiresAt }]);
    const after = await session();
    expect(after.status()).toBe(401);
    expect((await after.json()).error.code).toBe("session_expired");
    expect((await region.api("GET", "/users/timed")).json.is_active).toBe(true);
    // The next thing the user does finds out, and the page says why.
    await sp.getByRole("link", { name: "Machines" }).click();
    await sp.getByText("Your session has ended. Sign in again to continue.").waitFor(WAIT);
    await sp.getByRole("button", { name: "Sign in" }).waitFor(WAIT);
    await sp.context().close();
  }, 120_000);

  it("adds and deletes the user's SSH key on the keys page; a private key pasted by mistake is refused in words", async () => {
    await page.goto(`${region.url}/keys`);
    const ssh = page.locator('[data-testid="ssh-keys"]');
    await ssh.getByRole("heading", { name: "SSH keys" }).waitFor(WAIT);
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEnVr18cEoy1VaTHrjmyRFwNhFNFcUwwJ/fuHR6lmg4u ui@test";
    await ssh.getByLabel("SSH keys: paste one").fill("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----");
    await ssh.getByRole("button", { name: "Add" }).click();
    await ssh.getByRole("alert").filter({ hasText: "private key" }).waitFor(WAIT);
    await ssh.getByLabel("SSH keys: paste one").fill(key);
    await ssh.getByRole("button", { name: "Add" }).click();
    await ssh.locator("tbody tr", { hasText: "ui@test" }).waitFor(WAIT);
    expect((await region.api("GET", "/users/admin/ssh-keys")).json.items.map((k: { key: string }) => k.key)).toEqual([key]);
    await ssh.locator("tbody tr", { hasText: "ui@test" }).getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await ssh.getByText("None yet.").waitFor(WAIT);
    expect((await region.api("GET", "/users/admin/ssh-keys")).json.items).toEqual([]);
    await page.locator('[data-testid="ssl-keys"]').getByRole("heading", { name: "SSL keys" }).waitFor(WAIT);
  });

  it("images: a source refused in words, then added with a selection through the page; an import shows its failure and reason", async () => {
    await page.getByRole("link", { name: "Images" }).click();
    await page.getByRole("heading", { name: "Images", exact: true }).waitFor(WAIT);
    const sources = page.locator('[data-testid="boot-sources"]');
    await sources.getByText("No sources").waitFor(WAIT);
    // Nothing listens on this loopback port: the import must fail and say why.
    const url = `http://127.0.0.1:${await freePort()}/`;
    await sources.getByLabel("Mirror URL").fill(url);
    await sources.getByRole("button", { name: "Add source" }).click();
    await sources.getByRole("alert").filter({ hasText: "needs a keyring" }).waitFor(WAIT);
    await sources.getByLabel("Do not verify signatures").check();
    await sources.getByRole("button", { name: "Add source" }).click();
    const row = sources.locator(".source", { hasText: url });
    await row.getByText("signatures not verified").waitFor(WAIT);
    await row.getByLabel(`OS for ${url}`).fill("debian");
    await row.getByLabel(`Release for ${url}`).fill("bookworm");
    await row.getByRole("button", { name: "Add selection" }).click();
    await row.locator("tbody tr", { hasText: "bookworm" }).waitFor(WAIT);
    const listed = (await region.api("GET", "/boot-sources")).json.items;
    expect(listed).toMatchObject([{ url, skip_verify: true, selections: [{ os: "debian", release: "bookworm", arches: ["amd64"] }] }]);

    const sync = page.locator('[data-testid="image-sync"]');
    await sync.getByRole("button", { name: "Import now" }).click();
    await sync.getByTestId("sync-state").filter({ hasText: "Last import failed" }).waitFor({ timeout: 60_000 });
    await sync.getByRole("alert").waitFor(WAIT);
    expect((await region.api("GET", "/image-sync")).json.sync).toMatchObject({ state: "failed", error: expect.any(String) });

    await row.getByRole("button", { name: "Remove source" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Remove source" }).click();
    await sources.getByText("No sources").waitFor(WAIT);
    await page.screenshot({ path: join(SHOTS, "dashboard-images.png") });
  }, 120_000);

  it("settings: a bad value refused next to its field in the region's words, a good one saved, a change through the API shown live", async () => {
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("heading", { name: "Settings", exact: true }).waitFor(WAIT);
    const dns = page.locator('[data-setting="upstream_dns"]');
    await dns.getByLabel("upstream_dns", { exact: true }).fill("not a resolver!");
    await dns.getByRole("button", { name: "Save upstream_dns" }).click();
    await dns.getByRole("alert").filter({ hasText: "host names or addresses" }).waitFor(WAIT);
    await dns.getByLabel("upstream_dns", { exact: true }).fill("192.0.2.53");
    await dns.getByRole("button", { name: "Save upstream_dns" }).click();
    await expect.poll(async () => (await region.api("GET", "/settings/upstream_dns")).json.value, WAIT).toBe("192.0.2.53");
    await page.locator('[data-setting="enable_disk_erasing_on_release"]').getByLabel("enable_disk_erasing_on_release", { exact: true }).check();
    await page.getByRole("button", { name: "Save enable_disk_erasing_on_release" }).click();
    await expect.poll(async () => (await region.api("GET", "/settings/enable_disk_erasing_on_release")).json.value, WAIT).toBe(true);
    // Behind the page's back: the open page shows it without a reload.
    expect((await region.api("PUT", "/settings/ntp_servers", { value: "ntp.example.org" })).status).toBe(200);
    await expect.poll(() => page.locator('[data-setting="ntp_servers"]').getByLabel("ntp_servers", { exact: true }).inputValue(), WAIT).toBe("ntp.example.org");
    expect(await axeViolations(page)).toEqual([]);
    await page.evaluate("window.scrollTo(0, 0)");
    await page.screenshot({ path: join(SHOTS, "dashboard-settings.png") });
    await region.api("PUT", "/settings/upstream_dns", { value: "" });
    await region.api("PUT", "/settings/enable_disk_erasing_on_release", { value: false });
  });

  it("dns: a domain and a record added and deleted through the page, a bad one refused in the region's words, a record made through the API shown live", async () => {
    await page.getByRole("link", { name: "DNS", exact: true }).click();
    await page.getByRole("heading", { name: "DNS", exact: true }).waitFor(WAIT);
    const domains = page.locator('[data-testid="domains"]');
    await domains.locator("tbody tr").first().waitFor(WAIT);
    await page.getByLabel("New domain name").fill("not a domain!");
    await page.getByRole("button", { name: "Add domain" }).click();
    await page.locator("#domain-problem").waitFor(WAIT);
    expect(await page.locator("#domain-problem").textContent()).toMatch(/not a domain!|name/i);
    await page.getByLabel("New domain name").fill("ui.example.org");
    await page.getByRole("button", { name: "Add domain" }).click();
    await domains.getByRole("button", { name: "ui.example.org" }).click();
    await page.getByRole("heading", { name: "Records in ui.example.org" }).waitFor(WAIT);
    expect((await region.api("GET", "/domains/ui.example.org")).json).toMatchObject({ name: "ui.example.org", is_default: false });
    await page.getByLabel("Record name").fill("www");
    await page.getByLabel("Record data").fill("not-an-address");
    await page.getByRole("button", { name: "Add record" }).click();
    await page.locator("#record-problem").waitFor(WAIT);
    await page.getByLabel("Record data").fill("192.0.2.10");
    await page.getByRole("button", { name: "Add record" }).click();
    const records = page.locator('[data-testid="dns-records"]');
    await records.locator("tr", { hasText: "www.ui.example.org" }).waitFor(WAIT);
    expect((await region.api("GET", "/dns/records?domain=ui.example.org")).json.items).toMatchObject([{ name: "www", type: "A", data: "192.0.2.10" }]);
    // Behind the page's back: shown without a reload.
    expect((await region.api("POST", "/dns/records", { name: "mail", domain: "ui.example.org", type: "A", data: "192.0.2.25" })).status).toBe(201);
    await records.locator("tr", { hasText: "mail.ui.example.org" }).waitFor(WAIT);
    // The zone as the default site's racks serve it, read-only.
    await page.getByText("Zone as served").click();
    await page.getByTestId("zonefile").filter({ hasText: "192.0.2.25" }).waitFor(WAIT);
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(SHOTS, "dashboard-dns.png") });
    await domains.locator("tr", { hasText: "ui.example.org" }).getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await domains.getByRole("button", { name: "ui.example.org" }).waitFor({ state: "detached", ...WAIT });
    expect((await region.api("GET", "/domains/ui.example.org")).status).toBe(404);
  });

  it("events: filtered by a type prefix and by who, the filters in the URL, an actor's name linking to everything they did", async () => {
    await page.getByRole("link", { name: "Events", exact: true }).click();
    await page.getByRole("heading", { name: "Events" }).waitFor(WAIT);
    await page.getByLabel("Type").fill("domain.");
    const rows = page.locator('[data-testid="events"] tbody tr');
    await expect.poll(() => page.url(), WAIT).toContain("type=domain.");
    // The unfiltered list shows until the region answers: wait for the answer.
    await expect
      .poll(async () => [...new Set(await rows.locator("td:nth-child(3)").allTextContents())].sort(), WAIT)
      .toEqual(["domain.created", "domain.deleted"]);
    await rows.first().getByRole("link", { name: "admin" }).click();
    await expect.poll(() => page.url(), WAIT).toContain("actor=admin");
    await page.getByLabel("Who").fill("nobody-at-all");
    await expect.poll(() => rows.count(), WAIT).toBe(0);
    expect(await axeViolations(page)).toEqual([]);
  });

  it("signs out", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor(WAIT);
    await page.goto(`${region.url}/machines`);
    await page.getByRole("button", { name: "Sign in" }).waitFor(WAIT);
  });
});

// Issue 23: the catalog pages (tags; zones, pools and sites), a machine's tags, the deploy
// dialog's OS and release, one rack's page; and axe-core on every page, new and old.
describe("dashboard: catalog, rack detail, deploy choices, accessibility", () => {
  let page: Page;
  const marker = async () =>
    page.evaluate(() => {
      (globalThis as unknown as { marker: number }).marker = 23;
    });
  const sameDocument = async () => expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(23);

  beforeAll(async () => {
    page = await newPage();
    await signIn(page, "admin", region.admin.password);
    await page.getByRole("heading", { name: "Fleet overview" }).waitFor(WAIT);
  });
  afterAll(async () => {
    await page?.context().close();
  });

  it("axe finds no serious or critical violation on the existing pages", async () => {
    const found: string[] = [];
    const m = (await region.api("GET", "/machines?site=site-0003&limit=1")).json.items[0];
    // Each page's heading, then what it loads: axe then sees the page drawn, not the last one.
    for (const [path, title, ready] of [
      ["/", "Fleet overview", '[data-testid="sites"] tbody tr'],
      // A search keeps the rows few: axe's contrast check costs per cell, the markup is the same.
      ["/machines?q=site-0003-r01", "Machines", '[data-testid="machines"] tbody tr'],
      [`/machines/${m.system_id}`, m.hostname, '[data-testid="storage"]'],
      ["/racks", "Racks", ".empty"],
      ["/images", "Images", '[data-testid="boot-sources"]'],
      ["/tokens", "Enrolment tokens", ".empty"],
      ["/users", "Users & roles", "table.grid tbody tr"],
      ["/events", "Events", '[data-testid="events"] tbody tr'],
      ["/keys", "Keys", '[data-testid="ssh-keys"] h2'],
    ] as const) {
      // The SPA's own navigation: one document, so axe is injected once.
      await page.evaluate(`history.pushState(null, "", ${JSON.stringify(path)}); dispatchEvent(new PopStateEvent("popstate"))`);
      await page
        .getByRole("heading", { name: title, exact: title !== m.hostname })
        .first()
        .waitFor(WAIT);
      await page.locator(ready).first().waitFor(WAIT);
      found.push(...(await axeViolations(page)).map((v) => `${path}: ${v}`));
    }
    expect(found).toEqual([]);
  });

  it("tags: refused input in the API's words beside the field, create, edit, live, delete", async () => {
    await page.getByRole("link", { name: "Tags", exact: true }).click();
    await page.getByRole("heading", { name: "Tags", exact: true }).waitFor(WAIT);
    await page.locator('[data-testid="live"]', { hasText: "Live" }).waitFor(WAIT);
    await marker();
    const form = page.getByRole("form", { name: "New tag" });
    await form.getByLabel("Name").fill("no spaces allowed");
    await form.getByRole("button", { name: "Create tag" }).click();
    await form.getByRole("alert").filter({ hasText: "letters, digits, '.', '_' and '-' only" }).waitFor(WAIT);
    expect(await form.getByLabel("Name").getAttribute("aria-invalid")).toBe("true");

    await form.getByLabel("Name").fill("ui-gpu");
    await form.getByLabel("Comment").fill("has a GPU");
    await form.getByLabel("Kernel options").fill("nomodeset");
    await form.getByRole("button", { name: "Create tag" }).click();
    const row = page.locator('[data-testid="tags"] tr[data-name="ui-gpu"]');
    await row.waitFor(WAIT);
    expect((await region.api("GET", "/tags/ui-gpu")).json).toMatchObject({ comment: "has a GPU", kernel_opts: "nomodeset" });

    // By keyboard: Enter on Edit moves the focus into the form, Enter there saves.
    await row.getByRole("button", { name: "Edit tag ui-gpu" }).press("Enter");
    await page.getByRole("form", { name: "Edit tag ui-gpu" }).waitFor(WAIT);
    expect(await page.evaluate("document.activeElement && document.activeElement.id")).toBe("tag-comment");
    await page.keyboard.press("Control+A");
    await page.keyboard.type("two GPUs");
    await page.keyboard.press("Enter");
    await row.getByText("two GPUs").waitFor(WAIT);
    expect((await region.api("GET", "/tags/ui-gpu")).json.comment).toBe("two GPUs");

    // Made elsewhere: it appears on the open page.
    expect((await region.api("POST", "/tags", { name: "from-api", comment: "made by a script" })).status).toBe(201);
    await page.locator('[data-testid="tags"] tr[data-name="from-api"]').waitFor(WAIT);
    await sameDocument();
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(SHOTS, "dashboard-tags.png") });

    await row.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await row.waitFor({ state: "detached", ...WAIT });
    expect((await region.api("GET", "/tags/ui-gpu")).status).toBe(404);
  });

  it("zones, pools and sites: refused input in the API's words, create, edit, live, delete", async () => {
    await page.getByRole("link", { name: "Zones, pools & sites" }).click();
    const zones = page.locator('[data-testid="named-zones"]');
    await zones.locator('tr[data-name="default"]').waitFor(WAIT);
    await page.locator('[data-testid="named-sites"] tr[data-name="site-0001"]').waitFor(WAIT);
    await page.locator('[data-testid="live"]', { hasText: "Live" }).waitFor(WAIT);
    await marker();
    await zones.getByLabel("New zone name").fill("-bad");
    await zones.getByRole("button", { name: "Create zone" }).click();
    await zones.getByRole("alert").filter({ hasText: "letters, digits" }).waitFor(WAIT);
    await zones.getByLabel("New zone name").fill("ui-row-a");
    await zones.getByLabel("Description").fill("row A");
    await zones.getByRole("button", { name: "Create zone" }).click();
    const row = zones.locator('tr[data-name="ui-row-a"]');
    await row.waitFor(WAIT);
    expect((await region.api("GET", "/zones/ui-row-a")).json.description).toBe("row A");

    await row.getByRole("button", { name: "Edit zone ui-row-a" }).click();
    await zones.getByLabel("Name of zone ui-row-a").fill("ui-row-b");
    await zones.getByRole("button", { name: "Save zone" }).click();
    const renamed = zones.locator('tr[data-name="ui-row-b"]');
    await renamed.waitFor(WAIT);
    expect((await region.api("GET", "/zones/ui-row-b")).json.description).toBe("row A");

    expect((await region.api("POST", "/pools", { name: "from-api", description: "a script's pool" })).status).toBe(201);
    await page.locator('[data-testid="named-pools"] tr[data-name="from-api"]').waitFor(WAIT);
    await sameDocument();
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(SHOTS, "dashboard-zones.png") });

    // The default zone is never deletable: the region's reason shows.
    await zones.locator('tr[data-name="default"]').getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await zones.getByRole("alert").filter({ hasText: "the default zone cannot be deleted" }).waitFor(WAIT);

    await renamed.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await renamed.waitFor({ state: "detached", ...WAIT });
    expect((await region.api("GET", "/zones/ui-row-b")).status).toBe(404);
  });

  it("tags a machine from its page, and offers the boot images' OS and release when deploying", async () => {
    // "from-api" was made by the tags test above; a declared image (no content yet) is a choice.
    expect((await region.api("POST", "/boot-images", { osystem: "debian", series: "bookworm" })).status).toBe(201);
    // The seed makes a few arm64 machines; the image declared above is amd64.
    const m = (await region.api("GET", "/machines?status=ready&site=site-0008&limit=50")).json.items.find(
      (x: { architecture: string }) => x.architecture === "amd64/generic",
    );
    await page.goto(`${region.url}/machines/${m.system_id}`);
    const tags = page.locator('[data-testid="machine-tags"]');
    await tags.getByLabel("Tag to add").fill("from-api");
    await tags.getByRole("button", { name: "Add tag" }).click();
    await tags.getByRole("button", { name: "Remove tag from-api" }).waitFor(WAIT);
    expect((await region.api("GET", `/machines/${m.system_id}`)).json.tags).toEqual([...m.tags, "from-api"].sort());
    await tags.getByLabel("Tag to add").fill("no-such-tag");
    await tags.getByRole("button", { name: "Add tag" }).click();
    await page.getByRole("alert").filter({ hasText: "Not found: tag" }).waitFor(WAIT);
    await tags.getByRole("button", { name: "Remove tag from-api" }).click();
    await tags.getByRole("button", { name: "Remove tag from-api" }).waitFor({ state: "detached", ...WAIT });
    expect((await region.api("GET", `/machines/${m.system_id}`)).json.tags).toEqual(m.tags);

    await page.locator('[data-testid="actions"]').getByRole("button", { name: "Deploy" }).click();
    const dialog = page.getByRole("dialog");
    const os = dialog.getByLabel("Operating system");
    await expect.poll(() => os.inputValue(), WAIT).toBe("ubuntu");
    expect(await dialog.getByLabel("Release").inputValue()).toBe("noble");
    expect((await os.locator("option").allInnerTexts()).sort()).toEqual(["debian", "ubuntu (default)"]);
    await os.selectOption("debian");
    expect(await dialog.getByLabel("Release").inputValue()).toBe("bookworm");
    expect(await axeViolations(page)).toEqual([]);
    await dialog.getByRole("button", { name: "Deploy" }).click();
    // An image without content cannot be deployed: the region says so, in the dialog.
    await dialog.getByRole("alert").filter({ hasText: "no image with content for debian/bookworm" }).waitFor(WAIT);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    expect((await region.api("GET", `/machines/${m.system_id}`)).json.status_name).toBe("Ready");
  });

  it("racks: one rack's page with its interfaces, services and journal; the machine it booted names it; rotate answers in the API's words; revoke after confirming", async () => {
    const tok = await region.api("POST", "/racks/enrol-tokens", { site: "site-0009", name: "ui", expires_in: 600 });
    expect(tok.status).toBe(201);
    const enrol = await fetch(`${region.url}/api/v1/racks/enrol`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        token: tok.json.token,
        hostname: "rack-ui",
        version: "1.2.3",
        interfaces: [{ name: "eth0", mac: "52:54:00:00:00:01", addresses: ["10.9.0.2/24"] }],
      }),
    });
    expect(enrol.status).toBe(201);
    const { rack_id: rackId, credential } = (await enrol.json()) as { rack_id: string; credential: string };
    // The rack's tunnel: a status report, and a DHCP discover from one of its site's machines.
    const booted = (await region.api("GET", "/machines?site=site-0009&limit=1")).json.items[0];
    const ws = new WebSocket(`${region.url.replace(/^http/, "ws")}/api/v1/racks/${rackId}/tunnel`, { headers: { authorization: `Bearer ${credential}` } });
    const frames: { t: string }[] = [];
    ws.on("message", (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((r, j) => ws.once("open", r).once("error", j));
    const interfaces = [{ name: "eth0", mac: "52:54:00:00:00:01", addresses: ["10.9.0.2/24"] }];
    ws.send(
      JSON.stringify({ t: "hello", v: 1, rackId, version: "1.2.3", hostname: "rack-ui", interfaces, capabilities: [], journal: "j-ui", configVersion: null }),
    );
    const services = [
      { name: "dhcp", state: "ok" },
      { name: "tftp", state: "ok" },
      { name: "http", state: "failed", error: "port 5248 in use" },
      { name: "dns", state: "disabled" },
    ];
    ws.send(JSON.stringify({ t: "status", v: 1, services, journalDepth: 7 }));
    ws.send(JSON.stringify({ t: "event", v: 1, events: [{ seq: 1, at: Date.now(), type: "dhcp.discover", data: { mac: booted.boot_mac } }] }));
    for (let i = 0; i < 100 && !frames.some((f) => f.t === "ack"); i++) await new Promise((r) => setTimeout(r, 50));
    expect(frames.some((f) => f.t === "ack")).toBe(true);

    await page.getByRole("link", { name: "Racks", exact: true }).click();
    await page.getByRole("link", { name: "rack-ui" }).click();
    await page.waitForURL(new RegExp(`/racks/${rackId}$`), WAIT);
    await page.getByRole("heading", { name: /rack-ui/ }).waitFor(WAIT);
    await page.getByText("52:54:00:00:00:01").waitFor(WAIT);
    await page.getByText("1.2.3").waitFor(WAIT);
    const svc = page.locator('[data-testid="rack-services"]');
    await svc.locator("tr", { hasText: "HTTP boot" }).filter({ hasText: "failed" }).filter({ hasText: "port 5248 in use" }).waitFor(WAIT);
    await svc.locator("tr", { hasText: "DNS" }).filter({ hasText: "disabled" }).waitFor(WAIT);
    await page.locator('[data-testid="rack-journal"]', { hasText: "7 events not yet acknowledged" }).waitFor(WAIT);
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(SHOTS, "dashboard-rack.png") });

    // The machine's page names the rack that served its last boot, with a link back to it.
    await page.goto(`${region.url}/machines/${booted.system_id}`);
    const bootRack = page.locator('[data-testid="machine-boot-rack"]', { hasText: "served by rack-ui" });
    await bootRack.waitFor(WAIT);
    await bootRack.getByRole("link", { name: "rack-ui" }).click();
    await page.waitForURL(new RegExp(`/racks/${rackId}$`), WAIT);
    // Gone from the tunnel again: rotation below needs a rack that is away.
    await new Promise((r) => {
      ws.once("close", r);
      ws.close(1000);
    });
    for (let i = 0; i < 100 && (await region.api("GET", `/racks/${rackId}`)).json.connected; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await region.api("GET", `/racks/${rackId}`)).json.connected).toBe(false);

    // A viewer sees the same pages without a button it could not use.
    expect((await region.api("POST", "/users", { username: "looker", password: "looker-pass-12", roles: [{ role: "viewer", site: null }] })).status).toBe(201);
    const vp = await newPage();
    const none = async (where: string) =>
      expect(await vp.getByRole("button", { name: /^(Create|Save|Edit|Delete|Rotate credential|Revoke)/ }).count(), where).toBe(0);
    await signIn(vp, "looker", "looker-pass-12");
    await vp.getByRole("heading", { name: "Fleet overview" }).waitFor(WAIT);
    await vp.getByRole("link", { name: "Tags", exact: true }).click();
    await vp.locator('[data-testid="tags"] tr[data-name="from-api"]').waitFor(WAIT);
    await none("tags");
    await vp.getByRole("link", { name: "Zones, pools & sites" }).click();
    await vp.locator('[data-testid="named-sites"] tr[data-name="site-0001"]').waitFor(WAIT);
    await none("zones");
    await vp.getByRole("link", { name: "Racks", exact: true }).click();
    await vp.getByRole("link", { name: "rack-ui" }).click();
    await vp.getByText("52:54:00:00:00:01").waitFor(WAIT);
    await none("rack");
    await vp.context().close();

    await page.getByRole("button", { name: "Rotate credential" }).click();
    await page.getByRole("alert").filter({ hasText: "the rack is not connected" }).waitFor(WAIT);
    await page.getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
    await page.locator('[data-testid="rack-connection"]', { hasText: "revoked" }).waitFor(WAIT);
    expect((await region.api("GET", `/racks/${rackId}`)).json.revoked).toBe(true);
    expect(await page.getByRole("button", { name: "Rotate credential" }).count()).toBe(0);
  });
});

describe("networks page", () => {
  let page: Page;
  const subnetRow = (cidr: string) => page.locator(`[data-testid="networks"] tr[data-subnet="${cidr}"]`);

  it("draws the seeded fabrics, VLANs and subnets with their bars; a subnet opens to its ranges and addresses; no accessibility violations", async () => {
    page = await newPage();
    await signIn(page, "admin", region.admin.password);
    await page.getByRole("link", { name: "Networks" }).click();
    await page.getByRole("heading", { name: "Networks" }).waitFor(WAIT);
    await subnetRow("10.0.0.0/22").waitFor(WAIT);
    expect(await page.locator('[data-testid="networks"] tr[data-subnet]').count()).toBe(10);
    expect(await page.locator('[data-testid="networks"] [data-testid="ubar"]').count()).toBe(10);
    const seeded = (await region.api("GET", "/subnets")).json.items.find((x: { cidr: string }) => x.cidr === "10.0.0.0/22");
    expect(seeded.utilisation).toMatchObject({ dynamic: 255, reserved: 18 });
    expect(await subnetRow("10.0.0.0/22").getByRole("img").getAttribute("aria-label")).toBe(
      `10.0.0.0/22: ${seeded.utilisation.used} used, 255 dynamic, 18 reserved, ${seeded.utilisation.free} free of 1,022 usable`,
    );
    await page.locator("tr.net-group", { hasText: "fabric-site-0001 › VLAN 0 (untagged)" }).waitFor(WAIT);

    await subnetRow("10.0.0.0/22").getByRole("button", { name: "10.0.0.0/22" }).click();
    const addrs = page.locator('[data-testid="addresses"]');
    await addrs.waitFor(WAIT);
    await addrs.locator("tr", { hasText: "top-of-rack switch" }).getByText("device").waitFor(WAIT);
    await addrs.locator("tr", { hasText: "discovered" }).first().waitFor(WAIT);
    expect(await addrs.locator("tr", { hasText: "auto" }).getByRole("link").count()).toBe(seeded.utilisation.used - 4);
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(SHOTS, "dashboard-networks.png") });
  });

  it("creates, edits and deletes a subnet and a range through the page, with the API's refusals next to the field", async () => {
    await page.locator("#new-cidr").fill("192.168.77.1/24");
    await page.getByRole("button", { name: "Add subnet" }).click();
    await page.locator("#new-cidr-error", { hasText: "a CIDR like 10.0.0.0/24 (network address, prefix 0-32)" }).waitFor(WAIT);
    expect(await page.locator("#new-cidr").getAttribute("aria-invalid")).toBe("true");
    await page.locator("#new-cidr").fill("192.168.77.0/24");
    await page.locator("#new-name").fill("ui-net");
    await page.locator("#new-site").fill("site-0001");
    await page.getByRole("button", { name: "Add subnet" }).click();
    await subnetRow("192.168.77.0/24").waitFor(WAIT);
    const made = (await region.api("GET", "/subnets")).json.items.find((x: { cidr: string }) => x.cidr === "192.168.77.0/24");
    expect(made).toMatchObject({ name: "ui-net", site: "site-0001", gateway_ip: null });

    await subnetRow("192.168.77.0/24").getByRole("button", { name: "192.168.77.0/24" }).click();
    const edit = page.getByRole("form", { name: "Edit subnet 192.168.77.0/24" });
    await edit.getByLabel("Gateway").fill("10.9.9.9");
    await edit.getByRole("button", { name: "Save subnet" }).click();
    await edit.getByRole("alert").filter({ hasText: "gateway_ip is outside the subnet" }).waitFor(WAIT);
    await edit.getByLabel("Name").fill("ui-net-2");
    await edit.getByLabel("Gateway").fill("192.168.77.1");
    await edit.getByRole("button", { name: "Save subnet" }).click();
    await edit.getByRole("status").filter({ hasText: "Saved." }).waitFor(WAIT);
    await subnetRow("192.168.77.0/24").getByText("ui-net-2").waitFor(WAIT);
    expect((await region.api("GET", `/subnets/${made.id}`)).json).toMatchObject({ name: "ui-net-2", gateway_ip: "192.168.77.1" });

    const ranges = page.getByRole("form", { name: "Add IP range to 192.168.77.0/24" });
    await ranges.getByLabel("Start address").fill("192.168.77.10");
    await ranges.getByLabel("End address").fill("192.168.77.20");
    await ranges.getByRole("button", { name: "Add range" }).click();
    await page.getByRole("button", { name: "Delete range" }).waitFor(WAIT);
    await ranges.getByLabel("Start address").fill("192.168.77.15");
    await ranges.getByLabel("End address").fill("192.168.77.30");
    await ranges.getByRole("button", { name: "Add range" }).click();
    await ranges.getByRole("alert").filter({ hasText: "the range overlaps 192.168.77.10-192.168.77.20" }).waitFor(WAIT);
    expect((await region.api("GET", `/subnets/${made.id}`)).json.ip_ranges).toMatchObject([
      { type: "reserved", start_ip: "192.168.77.10", end_ip: "192.168.77.20" },
    ]);

    await page.getByRole("button", { name: "Delete subnet" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete subnet" }).click();
    await subnetRow("192.168.77.0/24").waitFor({ state: "detached", ...WAIT });
    expect((await region.api("GET", `/subnets/${made.id}`)).status).toBe(404);
  });

  it("shows a subnet made through the API without reloading", async () => {
    await page.locator('[data-testid="live"]', { hasText: "Live" }).waitFor(WAIT);
    await page.evaluate(() => {
      (globalThis as unknown as { marker: number }).marker = 7;
    });
    expect((await region.api("POST", "/subnets", { cidr: "192.168.78.0/24", name: "from-a-script", site: "site-0002" })).status).toBe(201);
    await subnetRow("192.168.78.0/24").getByText("from-a-script").waitFor(WAIT);
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(7);
    await page.context().close();
  });
});
