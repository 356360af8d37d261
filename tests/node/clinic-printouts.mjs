// The clinic app's printouts in headless Chromium: the doctor opens a child's chart, makes each
// printout, and prints it to PDF through the page's print CSS (what "Print" and "Save as PDF"
// give). Input on stdin: {"clinic", "chromium", "nsec", "search", "printouts": [{"kind",
// "label", "fill": {label: value}, "select": {label: option label}, "pdf", "png"}]}. Prints one
// JSON line: each printout's text on screen, and what the page did.
import { launch, login, openPatient, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280);
const { page } = watched;
await runAndReport(browser, watched, async (result) => {
  Object.assign(result, { printouts: {} });
  await login(page, input.clinic, input.nsec);
  await openPatient(page, input.search);
  await page.getByRole("tab", { name: "Printouts" }).click();
  const panel = page.locator("#panel-print");
  for (const printout of input.printouts) {
    await panel.getByLabel("Printout", { exact: true }).selectOption({ label: printout.label });
    for (const [label, value] of Object.entries(printout.select ?? {})) {
      await panel.getByLabel(label, { exact: true }).selectOption({ label: value });
    }
    for (const [label, value] of Object.entries(printout.fill ?? {})) {
      await panel.getByLabel(label, { exact: true }).fill(value);
    }
    await panel.getByRole("button", { name: "Show printout" }).click();
    const shown = panel.locator("#printout");
    await shown.waitFor();
    result.printouts[printout.kind] = {
      text: await shown.innerText(),
      printEnabled: await panel.getByRole("button", { name: "Print", exact: true }).isEnabled(),
    };
    if (printout.png) await shown.screenshot({ path: printout.png });
    await page.emulateMedia({ media: "print" });
    await page.pdf({ path: printout.pdf, format: "Letter", margin: { top: "15mm", bottom: "15mm", left: "15mm", right: "15mm" } });
    await page.emulateMedia({ media: "screen" });
  }
});
