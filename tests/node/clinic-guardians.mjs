// A patient's guardian granted and ended in the clinic app (headless Chromium): the doctor
// opens the child's Details and grants a guardianship to a key ("grant"), or ends it ("end").
// Input on stdin: {"clinic", "chromium", "nsec", "search", "phase", "guardian": {"npub", "hex"}}.
// Prints one JSON line.
import { launch, login, openPatient, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280);
const { page } = watched;
await runAndReport(browser, watched, async (result) => {
  await login(page, input.clinic, input.nsec);
  await openPatient(page, input.search);
  await page.getByRole("tab", { name: "Details" }).click();
  const section = page.locator("#panel-details section.guardians");
  await section.locator("ul.guardian-list, p.empty").first().waitFor();
  result.before = await section.locator("ul.guardian-list li").allTextContents();
  if (input.phase === "grant") {
    await section.getByLabel("Guardian's public key (npub)").fill(input.guardian.npub);
    await section.getByRole("button", { name: "Grant guardianship" }).click();
  } else {
    await section.getByRole("button", { name: `End the guardianship of ${input.guardian.hex.slice(0, 16)}` }).click();
  }
  // Drawn again once done (or an error shows).
  await page.waitForFunction((count) => {
    const box = document.querySelector("#panel-details section.guardians");
    const error = box?.querySelector(".form-error")?.textContent;
    const now = box?.querySelectorAll("ul.guardian-list li").length ?? 0;
    return error || (box?.querySelector("ul.guardian-list, p.empty") && now !== count);
  }, result.before.length, { timeout: 60000 });
  result.after = await page.locator("#panel-details section.guardians ul.guardian-list li").allTextContents();
  result.error = await page.locator("#panel-details section.guardians .form-error").first().textContent().catch(() => "");
});
