// Reads every tab of the patient portal's chart in headless Chromium (Debian's, through
// playwright-core), 375 px wide, as a patient would: the login form, the tabs by mouse and by
// keyboard, the printable immunization record, screenshots. Input on stdin:
// {"portal", "chromium", "connection", "nsec", "screenshots": dir}.
// Prints one JSON line with what each tab showed and every request the page made.
import { chromium } from "playwright-core";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const TABS = ["summary", "visits", "vitals", "problems", "medications", "allergies",
  "immunizations", "orders", "documents", "access", "all"];

// The cells of the rows of the tables matching `selector`.
const cells = (page, selector) => page.$$eval(selector, (trs) =>
  trs.map((tr) => [...tr.cells].map((cell) => cell.textContent.trim())));

const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });
try {
  const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const page = await context.newPage();
  const requests = [];
  const websockets = [];
  const errors = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("websocket", (socket) => websockets.push(socket.url()));
  page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });

  await page.goto(input.portal);
  await page.getByLabel("Practice connection string").waitFor({ state: "visible" });
  await page.getByLabel("Practice connection string").fill(input.connection);
  await page.getByLabel("Your secret key (nsec)").fill(input.nsec);
  await page.getByLabel("Your secret key (nsec)").press("Enter");
  await page.waitForSelector("#chart:not([hidden]), #error:not(:empty)");
  const result = { error: await page.textContent("#error"), tabs: {}, keyboard: [], overflow: {} };

  // The tab list as assistive technology sees it.
  result.tablist = await page.$$eval("#chart-tabs [role=tab]", (tabs) => tabs.map((t) => ({
    id: t.id,
    label: t.textContent,
    selected: t.getAttribute("aria-selected"),
    controls: t.getAttribute("aria-controls"),
    tabIndex: t.tabIndex,
    panelLabelledBy: document.getElementById(t.getAttribute("aria-controls"))?.getAttribute("aria-labelledby"),
    panelRole: document.getElementById(t.getAttribute("aria-controls"))?.getAttribute("role"),
  })));

  // Keyboard: from the chart heading, Tab reaches the selected tab; arrows, Home and End move
  // the selection and the focus together.
  const where = () => page.evaluate(() => ({
    focused: document.activeElement?.id ?? null,
    selected: document.querySelector("#chart-tabs [aria-selected=true]")?.id ?? null,
    shown: [...document.querySelectorAll("#chart-panels > [role=tabpanel]")].filter((p) => !p.hidden).map((p) => p.id),
  }));
  result.focusedAfterLogin = (await where()).focused;
  for (const key of ["Tab", "ArrowRight", "ArrowRight", "ArrowLeft", "End", "Home", "ArrowLeft", "ArrowRight"]) {
    await page.keyboard.press(key);
    result.keyboard.push({ key, ...(await where()) });
  }
  // Tab from the selected tab goes into its panel, not along the tab list.
  await page.keyboard.press("Tab");
  result.tabIntoPanel = (await where()).focused;

  const noHorizontalScroll = () => page.evaluate(() =>
    document.documentElement.scrollWidth <= window.innerWidth && document.body.scrollWidth <= window.innerWidth);

  for (const id of TABS) {
    await page.click(`#tab-${id}`);
    await page.waitForSelector(`#panel-${id}:not([hidden])`);
    const panel = `#panel-${id}`;
    // The log arrives after its own fetch: wait until it is shown (or its error), not fetching.
    if (id === "access") {
      await page.waitForFunction((selector) => {
        const node = document.querySelector(selector);
        return node && !node.textContent.includes("Fetching the access log")
          && node.querySelector("tbody tr, p.empty, .tab-error") !== null;
      }, panel);
    }
    const tab = {
      text: await page.textContent(panel),
      rows: await cells(page, `${panel} tbody tr`),
      reported: await page.locator(`${panel} .reported`).count(),
    };
    if (id === "summary") {
      tab.facts = await page.$$eval(`${panel} dl dt`, (dts) => dts.map((dt) => [dt.textContent, dt.nextElementSibling?.textContent]));
      tab.sections = await page.$$eval(`${panel} section.summary-part`, (parts) => parts.map((s) => ({
        title: s.querySelector("h3")?.textContent,
        items: [...s.querySelectorAll("li")].map((li) => li.textContent),
      })));
    }
    if (id === "visits") {
      tab.visits = await page.$$eval(`${panel} article.visit`, (as) => as.map((a) => ({
        title: a.querySelector("h4")?.textContent,
        measured: a.querySelectorAll("ul.inline li").length,
        notes: a.querySelectorAll(".note").length,
      })));
    }
    if (id === "vitals") {
      tab.charts = await page.$$eval(`${panel} figure.vital-chart`, (fs) => fs.map((f) => ({
        series: f.dataset.series,
        caption: f.querySelector("figcaption")?.textContent,
        title: f.querySelector("svg title")?.textContent,
        role: f.querySelector("svg")?.getAttribute("role"),
        lines: [...f.querySelectorAll("polyline")].map((p) => p.getAttribute("points").split(" ").length),
        width: f.querySelector("svg").getBoundingClientRect().width,
      })));
    }
    if (id === "medications") {
      tab.current = await cells(page, `${panel} table.current tbody tr`);
      tab.stopped = await cells(page, `${panel} table.stopped tbody tr`);
    }
    if (id === "orders") {
      tab.orders = await page.$$eval(`${panel} article.order`, (as) => as.map((a) => ({
        title: a.querySelector("h4")?.textContent,
        reports: [...a.querySelectorAll(".result.report")].map((r) => r.textContent),
        observations: a.querySelectorAll(".result.observation").length,
      })));
    }
    if (id === "immunizations") {
      // Printing this tab prints the immunization record alone.
      await page.emulateMedia({ media: "print" });
      tab.print = {
        record: await page.isVisible("#immunization-record"),
        recordRows: await page.locator("#immunization-record tbody tr").count(),
        tabs: await page.isVisible("#chart-tabs"),
        title: await page.isVisible("h1"),
        button: await page.getByRole("button", { name: "Print immunization record" }).isVisible(),
        logout: await page.isVisible("#logout"),
      };
      await page.emulateMedia({ media: "screen" });
      tab.printButton = await page.getByRole("button", { name: "Print immunization record" }).isVisible();
    }
    if (id === "documents" && input.download) {
      // The first document's file: fetched from Blossom and decrypted in the page.
      if (await page.locator(`${panel} tbody tr button`).count() === 0) {
        throw new Error(`no download button: ${await page.innerHTML(panel)} ALL: ${await page.textContent("#chart-rows")} HEAD: ${await page.textContent("#chart-heading")}`);
      }
      const downloading = page.waitForEvent("download", { timeout: 15000 }).catch(() => null);
      await page.locator(`${panel} tbody tr`).first().getByRole("button").click();
      const download = await downloading;
      if (!download) throw new Error(`no download: ${await page.textContent(`${panel} .document-status`)}`);
      await download.saveAs(input.download);
      tab.downloadName = download.suggestedFilename();
      await page.waitForSelector(`${panel} .document-status:not(:empty)`);
      tab.downloadStatus = await page.textContent(`${panel} .document-status`);
    }
    result.overflow[id] = await noHorizontalScroll();
    if (input.screenshots && ["summary", "medications", "vitals"].includes(id)) {
      const path = `${input.screenshots}/chart-${id}-375px.png`;
      await page.screenshot({ path, fullPage: true });
      tab.screenshot = path;
    }
    result.tabs[id] = tab;
  }

  // A guardian switches to each ward's chart, and back to her own.
  await page.waitForSelector("#chart-switch[data-checked]", { state: "attached" });
  result.wards = [];
  const wardOptions = await page.$$eval("#chart-owner option", (os) => os.map((o) => ({ value: o.value, text: o.textContent })));
  result.wardOptions = wardOptions;
  for (const option of wardOptions.filter((o) => o.value)) {
    await page.getByLabel("Whose chart").selectOption(option.value);
    await page.waitForFunction((name) => document.getElementById("chart-heading").textContent.startsWith(name), option.text);
    const focused = await page.evaluate(() => document.activeElement?.id ?? null);
    await page.click("#tab-all");
    result.wards.push({
      ward: option.value,
      name: option.text,
      heading: await page.textContent("#chart-heading"),
      focused,
      rows: await cells(page, "#chart-rows tr"),
      summary: await page.textContent("#panel-summary"),
      access: await (async () => {
        await page.click("#tab-access");
        return page.textContent("#panel-access");
      })(),
    });
  }
  if (wardOptions.length > 0) {
    await page.getByLabel("Whose chart").selectOption("");
    await page.waitForFunction(() => document.getElementById("chart-heading").textContent === "Your chart");
    result.backHome = { rows: await page.locator("#chart-rows tr").count(), summary: await page.textContent("#panel-summary") };
  }

  // A patient-reported entry carries the visible marker in its tab and in "All records": the
  // view drawn from a Bundle holding one (the chart module, as the app uses it).
  result.reportedMarker = await page.evaluate(async () => {
    const { renderChart } = await import("/chart.js");
    const tag = { system: "urn:nostr-ehr:origin", code: "patient-reported" };
    const bundle = { resourceType: "Bundle", type: "collection", entry: [
      { resource: { resourceType: "MedicationRequest", id: "own", status: "active", meta: { tag: [tag] },
        medicationCodeableConcept: { text: "Vitamin D 1000 IU" }, authoredOn: "2026-01-02" } },
      { resource: { resourceType: "MedicationRequest", id: "theirs", status: "active",
        medicationCodeableConcept: { text: "lisinopril 10 MG Oral Tablet" }, authoredOn: "2019-03-10" } },
    ] };
    await renderChart({ chart: { patient: "", bundle, refused: [] } });
    document.getElementById("tab-medications").click();
    await new Promise((resolve) => setTimeout(resolve, 0));
    const rows = [...document.querySelectorAll("#panel-medications tbody tr")];
    return {
      rows: rows.map((tr) => tr.cells[0].textContent),
      markers: rows.map((tr) => tr.querySelectorAll(".reported").length),
      allMarkers: document.querySelectorAll("#chart-rows .reported").length,
    };
  });

  await page.getByRole("button", { name: "Log out" }).click();
  result.afterLogout = await page.evaluate(() => ({
    tabs: document.querySelectorAll("#chart-tabs [role=tab]").length,
    panels: document.querySelectorAll("#chart-panels > *").length,
    rows: document.querySelectorAll("#chart-panels tr, #chart-panels article, #chart-panels li").length - document.querySelectorAll("#chart-panels thead tr").length,
    visible: !document.getElementById("chart").hidden,
  }));
  result.violations = await page.evaluate(() => window.__violations);
  result.requests = requests;
  result.websockets = websockets;
  result.errors = errors;
  await context.close();

  // The patient whose chart a facility read: her access log names it.
  if (input.accessLog) {
    const other = await browser.newContext({ viewport: { width: 375, height: 800 } });
    const second = await other.newPage();
    second.on("pageerror", (error) => errors.push(String(error)));
    await second.goto(input.portal);
    await second.getByLabel("Practice connection string").waitFor({ state: "visible" });
    await second.getByLabel("Practice connection string").fill(input.connection);
    await second.getByLabel("Your secret key (nsec)").fill(input.accessLog.nsec);
    await second.getByLabel("Your secret key (nsec)").press("Enter");
    await second.waitForSelector("#chart:not([hidden]), #error:not(:empty)");
    await second.waitForSelector("#chart-switch[data-checked]", { state: "attached" });
    const switchVisible = await second.isVisible("#chart-switch");
    const wardOptions = await second.locator("#chart-owner option").count();
    await second.click("#tab-all");
    const allText = await second.textContent("#chart-rows");
    await second.click("#tab-access");
    await second.waitForSelector("#panel-access tbody tr, #panel-access p.empty, #panel-access .tab-error");
    result.accessLog = {
      error: await second.textContent("#error"),
      rows: await cells(second, "#panel-access tbody tr"),
      text: await second.textContent("#panel-access"),
      switchVisible,
      wardOptions,
      allText,
    };
    await other.close();
  }
  // Phishing: a string whose relay was changed, or signed by another key, is refused before
  // any connection is made, with a warning.
  result.phishing = [];
  for (const attempt of input.phishing ?? []) {
    const ctx = await browser.newContext({ viewport: { width: 375, height: 800 } });
    const p = await ctx.newPage();
    const sockets = [];
    p.on("websocket", (socket) => sockets.push(socket.url()));
    await p.goto(input.portal);
    await p.getByLabel("Practice connection string").waitFor({ state: "visible" });
    await p.getByLabel("Practice connection string").fill(attempt.connection);
    await p.getByLabel("Your secret key (nsec)").fill(input.nsec);
    await p.getByLabel("Your secret key (nsec)").press("Enter");
    await p.waitForSelector("#error:not(:empty)");
    result.phishing.push({
      name: attempt.name,
      error: await p.textContent("#error"),
      warning: await p.$eval("#error", (e) => e.classList.contains("phishing") && e.getAttribute("role")),
      chartShown: await p.isVisible("#chart"),
      sockets,
      remembered: await p.evaluate(() => localStorage.getItem("ehr-portal-practices")),
    });
    await ctx.close();
  }

  // Several practices: each verified string is remembered (public data only) and offered.
  if (input.practices) {
    const ctx = await browser.newContext({ viewport: { width: 375, height: 800 } });
    const p = await ctx.newPage();
    await p.goto(input.portal);
    const logins = [];
    for (const practice of input.practices) {
      await p.getByLabel("Practice connection string").waitFor({ state: "visible" });
      await p.getByLabel("Practice connection string").fill(practice.connection);
      await p.getByLabel("Your secret key (nsec)").fill(practice.nsec);
      await p.getByLabel("Your secret key (nsec)").press("Enter");
      await p.waitForSelector("#chart:not([hidden]), #error:not(:empty)");
      logins.push({ error: await p.textContent("#error"), patient: await p.textContent("#panel-summary dl") });
      await p.getByRole("button", { name: "Log out" }).click();
    }
    // Switch back to the first practice from the list, and log in there again.
    const options = await p.$$eval("#practice-list option", (os) => os.map((o) => ({ value: o.value, text: o.textContent })));
    await p.getByLabel("Your practices").selectOption(input.practices[0].connection);
    const chosen = await p.getByLabel("Practice connection string").inputValue();
    await p.getByLabel("Your secret key (nsec)").fill(input.practices[0].nsec);
    await p.getByLabel("Your secret key (nsec)").press("Enter");
    await p.waitForSelector("#chart:not([hidden]), #error:not(:empty)");
    result.practices = {
      logins,
      options,
      chosen,
      again: await p.textContent("#panel-summary dl"),
      stored: await p.evaluate(() => localStorage.getItem("ehr-portal-practices")),
    };
    await ctx.close();
  }
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
