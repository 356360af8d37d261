// Drives the portal's emergency summary, SMART Health Links, the link viewer and the emergency
// opt-in in headless Chromium (Debian's, through playwright-core). Input on stdin: {"portal",
// "chromium", "connection", "nsec", "shots"}. Prints one JSON line with what the pages said.
import { chromium } from "playwright-core";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const shot = (name) => `${input.shots}/${name}`;
const out = { steps: [] };

async function watched(browser, name) {
  const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const page = await context.newPage();
  const record = { errors: [], requests: [] };
  page.on("console", (m) => { if (m.type() === "error") record.errors.push(m.text()); });
  page.on("pageerror", (e) => record.errors.push(String(e)));
  page.on("request", (r) => record.requests.push({ method: r.method(), url: r.url(), body: name === "viewer" ? r.postData() ?? "" : "" }));
  page.on("dialog", (d) => d.accept());
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  out[name] = record;
  return { context, page, record };
}

const sections = (page, root) => page.evaluate((selector) => {
  const result = {};
  for (const section of document.querySelectorAll(`${selector} .ips-section`)) {
    result[section.firstElementChild.textContent] = [...section.querySelectorAll(".ips-what")].map((n) => n.textContent);
  }
  return result;
}, root);

const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });
try {
  const portal = await watched(browser, "portal");
  const { page } = portal;
  await page.goto(input.portal);
  await page.getByLabel("Practice connection string").fill(input.connection);
  await page.getByLabel("Your secret key (nsec)").fill(input.nsec);
  await page.getByLabel("Your secret key (nsec)").press("Enter");
  await page.waitForSelector("#chart:not([hidden]), #error:not(:empty)");
  out.loginError = await page.textContent("#error");

  // The summary.
  await page.click("#tab-ips");
  await page.waitForSelector("#ips-summary");
  out.summary = await sections(page, "#ips-summary");
  await page.waitForSelector(".shl[data-loaded]");
  out.linksError = await page.textContent("#shl-error");
  await page.screenshot({ path: shot("portal-summary.png"), fullPage: true });

  // A passcode link, a snapshot, for a week.
  await page.getByLabel("Expires after").selectOption({ label: "1 week" });
  await page.getByLabel("Passcode (optional)").fill("2468");
  await page.getByLabel("Wrong passcodes allowed before the link stops working").fill("3");
  await page.getByLabel("This summary as it is today (a snapshot)").check();
  await page.getByRole("button", { name: "Create the link" }).click();
  await page.waitForFunction(() => document.documentElement.dataset.linksCreated === "1"
    || document.getElementById("shl-create-error").textContent !== "");
  out.createError = await page.textContent("#shl-create-error");
  out.link = await page.inputValue("#shl-created input.shl-url").catch(() => "");
  out.card = await page.textContent("#shl-created .wallet-card").catch(() => "");
  out.listing = await page.$$eval("#shl-links li", (items) => items.map((li) => li.textContent));
  await page.locator("#shl-created").screenshot({ path: shot("portal-link-card.png") }).catch(() => {});
  await page.screenshot({ path: shot("portal-link.png"), fullPage: true });
  // The wallet card as it prints.
  await page.evaluate(() => {
    document.body.classList.add("printing-card");
    document.querySelector("#shl-created .wallet-card")?.classList.add("printing");
  });
  await page.emulateMedia({ media: "print" });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: shot("portal-wallet-card-print.png"), clip: { x: 0, y: 0, width: 375, height: 260 } });
  await page.emulateMedia({ media: "screen" });
  await page.evaluate(() => {
    document.body.classList.remove("printing-card");
    document.querySelector("#shl-created .wallet-card")?.classList.remove("printing");
  });

  // The viewer, in another browser context: no login.
  const viewer = await watched(browser, "viewer");
  const open = async (passcode) => {
    await viewer.page.getByLabel("Your name and organisation").fill("Dr Test, City Hospital ER");
    await viewer.page.getByLabel("Passcode").fill(passcode);
    await viewer.page.getByRole("button", { name: "Show the summary" }).click();
    await viewer.page.waitForFunction(() => document.getElementById("error").textContent !== ""
      || !document.getElementById("summary").hidden);
    return viewer.page.textContent("#error");
  };
  if (out.link) {
    await viewer.page.goto(out.link);
    await viewer.page.waitForSelector("#request:not([hidden]), #error:not(:empty)");
    out.viewerFacts = await viewer.page.textContent("#link-facts");
    out.wrongPasscode = await open("0000");
    await viewer.page.screenshot({ path: shot("viewer-wrong-passcode.png"), fullPage: true });
    out.rightPasscode = await open("2468");
    out.viewerSummary = await sections(viewer.page, "#summary-body");
    out.viewerNote = await viewer.page.textContent("#summary-note");
    await viewer.page.screenshot({ path: shot("viewer-summary.png"), fullPage: true });

    // She revokes it.
    await page.locator("#shl-links li", { hasText: "Emergency health summary" }).first()
      .getByRole("button", { name: "Revoke" }).click();
    await page.waitForSelector("#shl-links li.shl-revoked, #shl-links .form-error:not(:empty)");
    out.revoked = await page.$$eval("#shl-links li", (items) => items.map((li) => li.textContent));
    await page.screenshot({ path: shot("portal-link-revoked.png"), fullPage: true });

    await viewer.page.goto("about:blank");
    await viewer.page.goto(out.link);
    await viewer.page.waitForSelector("#request:not([hidden])");
    out.afterRevoke = await open("2468");
    await viewer.page.screenshot({ path: shot("viewer-revoked.png"), fullPage: true });
  }

  // Emergency access, on the Sharing tab.
  await page.click("#tab-consent");
  await page.waitForSelector("#emergency-state");
  out.emergencyBefore = await page.textContent("#emergency-state");
  let writes = 0;
  const press = async (name) => {
    writes += 1;
    await page.getByRole("button", { name }).click();
    await page.waitForFunction((n) => document.documentElement.dataset.recordsWritten === String(n)
      || document.getElementById("emergency-error")?.textContent, writes);
    await page.waitForSelector("#emergency-state");
  };
  // Opted in already (the demo may seed it): withdraw first, then opt in again.
  if (out.emergencyBefore.startsWith("You allow")) {
    await press("Withdraw emergency access");
    out.emergencyWithdrawn = await page.textContent("#emergency-state");
  }
  await press("Allow emergency access to my summary");
  out.emergencyError = await page.textContent("#emergency-error").catch(() => "");
  out.emergencyAfter = await page.textContent("#emergency-state");
  await page.locator(".emergency-consent").screenshot({ path: shot("portal-emergency.png") });

  // The access log: the link's openings.
  await page.click("#tab-access");
  await page.waitForFunction(() => {
    const panel = document.getElementById("panel-access");
    return panel && (panel.querySelector("table, .empty") !== null);
  });
  out.accessLog = await page.textContent("#panel-access");
  await page.screenshot({ path: shot("portal-access-log.png"), fullPage: true });

  for (const [name, watchedPage] of [["portal", page], ["viewer", viewer.page]]) {
    out[name].violations = await watchedPage.evaluate(() => window.__violations).catch(() => []);
  }
} catch (error) {
  out.failure = String(error?.stack ?? error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
