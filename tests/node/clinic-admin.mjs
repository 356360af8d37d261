// The clinic app's staff administration in headless Chromium: the admin opens "Staff and
// agents", adds a member with a role, and revokes the nurse (every chart key rotates, the
// progress shown). Input on stdin: {"clinic", "chromium", "nsec", "add": {"npub", "name",
// "role"}, "revoke": "<the nurse's name>", "screenshot"}. Prints one JSON line.
import { launch, login, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280);
const { page } = watched;
const roster = () => page.$$eval("#administration section.staff table tbody tr", (rows) =>
  rows.map((tr) => [...tr.cells].map((c) => c.textContent)));
await runAndReport(browser, watched, async (result) => {
  page.on("dialog", (dialog) => { result.asked = dialog.message(); dialog.accept(); });
  await login(page, input.clinic, input.nsec);
  await page.getByRole("button", { name: "Administration" }).click();
  await page.locator("#administration section.staff table").waitFor();
  result.before = await roster();
  const section = page.locator("#administration");
  await section.getByLabel("Their public key (npub)").fill(input.add.npub);
  await section.getByLabel("Name", { exact: true }).fill(input.add.name);
  await section.getByLabel("Role").selectOption(input.add.role);
  await section.getByRole("button", { name: "Add to the roster" }).click();
  await page.waitForFunction(() => /was added|Not finished/.test(document.querySelector("#administration")?.textContent ?? ""));
  result.added = await section.locator(".form-status, .form-error").allTextContents();
  await section.getByRole("button", { name: `Revoke ${input.revoke}` }).click();
  await page.waitForFunction(() => /was revoked|Not finished/.test(document.querySelector("#administration")?.textContent ?? ""),
    null, { timeout: 60000 });
  result.revoked = await section.locator(".form-status, .form-error").allTextContents();
  result.after = await roster();
  if (input.relayMember) {
    // The relay's members: allow a patient's key, then ban it, then unban it.
    await page.getByRole("button", { name: "The relay's members", exact: true }).click();
    const members = page.locator("#administration section.relay-members");
    await members.getByLabel("Allow a patient's key (npub)").waitFor();
    const said = async (text) => {
      await page.waitForFunction((t) => {
        const box = document.querySelector("#administration section.relay-members");
        return box?.querySelector(".form-status")?.textContent.includes(t) || box?.querySelector(".form-error")?.textContent;
      }, text);
      return members.locator(".form-status, .form-error").allTextContents();
    };
    await members.getByLabel("Allow a patient's key (npub)").fill(input.relayMember.npub);
    await members.getByRole("button", { name: "Allow on the relay" }).click();
    result.allowed = await said("Allowed");
    result.allowedList = await members.locator("ul.relay-allowed li").allTextContents();
    await members.getByRole("button", { name: `Ban ${input.relayMember.hex.slice(0, 16)}` }).click();
    result.banned = await said("Banned");
    result.bannedList = await members.locator("ul.relay-banned li").allTextContents();
    if (input.relayMember.unban) {
      await members.getByRole("button", { name: `Unban ${input.relayMember.hex.slice(0, 16)}` }).click();
      result.unbanned = await said("Unbanned");
    }
  }
  if (input.screenshot) await page.screenshot({ path: input.screenshot, fullPage: true });
});
