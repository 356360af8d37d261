// The clinic app's Encounter notes: SOAP sections, templates and dot-phrases, drafts, signing, addenda, nursing notes.
// `register({ registerTab, extendTab })` adds this module's tabs and the forms it puts under
// the chart's read views (chart.js).
export function register() {}
