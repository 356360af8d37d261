// Root operations in the clinic app (headless Chromium): an admin opens the practice's root
// key file (ncryptsec) in the page to add an administrator, then to remove her. A wrong
// password and another key's file are refused first. Input on stdin: {"clinic", "chromium",
// "nsec", "rootFile", "otherFile", "password", "add": {"npub", "name"}, "screenshot"}. Prints
// one JSON line.
import { launch, login, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280);
const { page } = watched;
const roster = () => page.$$eval("#administration section.staff table tbody tr", (rows) =>
  rows.map((tr) => [...tr.cells].map((c) => c.textContent)));
const root = () => page.locator("#administration details.root-operations");
// Submit the root form with `file` and `password`; resolves with what the screen then says.
async function submit(file, password, expect) {
  const form = root();
  if (!(await form.evaluate((d) => d.open))) await form.locator("summary").click();
  await form.getByLabel("Root key file (ncryptsec)").setInputFiles(file);
  await form.getByLabel("Root key password").fill(password);
  await form.getByRole("button", { name: "Sign with the root key" }).click();
  await page.waitForFunction((re) => new RegExp(re).test(document.querySelector("#administration")?.textContent ?? ""),
    expect, { timeout: 120000 });
  return page.locator("#administration .form-status, #administration .form-error").allTextContents();
}
await runAndReport(browser, watched, async (result) => {
  await login(page, input.clinic, input.nsec);
  await page.getByRole("button", { name: "Administration" }).click();
  await root().waitFor();
  result.before = await roster();
  await root().locator("summary").click();
  result.explained = await root().locator(".help").first().textContent();
  await root().getByLabel("The new administrator's public key (npub)").fill(input.add.npub);
  await root().getByLabel("The new administrator's name").fill(input.add.name);
  result.wrongPassword = await submit(input.rootFile, "not the password", "Not done");
  result.rosterAfterWrong = await roster();
  result.otherKey = await submit(input.otherFile, input.password, "not this practice's root key");
  await root().getByLabel("The new administrator's public key (npub)").fill(input.add.npub);
  await root().getByLabel("The new administrator's name").fill(input.add.name);
  result.added = await submit(input.rootFile, input.password, "was added as an administrator|Not finished");
  result.afterAdd = await roster();
  await root().locator("summary").click();
  await root().getByLabel("Change").selectOption("remove");
  await root().getByLabel("Administrator to remove").selectOption({ label: input.add.name });
  result.removed = await submit(input.rootFile, input.password, "no longer an administrator|Not finished");
  result.afterRemove = await roster();
  result.stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  if (input.screenshot) {
    await root().locator("summary").click();
    await page.screenshot({ path: input.screenshot, fullPage: true });
  }
});
