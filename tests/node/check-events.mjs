// Independent check of events built by ehr-client (Rust), with nostr-tools and ajv.
//
// stdin: {"schema": <path to fhir.r4.schema.json>, "cases": [{"event", "patient_secret_hex",
//         "chart_secret_hex", "expected"}]}
// stdout: one JSON line per case; exit code 1 if any check fails.
import { readFileSync } from 'node:fs';
import { verifyEvent, getPublicKey } from 'nostr-tools/pure';
import * as nip44 from 'nostr-tools/nip44';
const hexToBytes = (hex) => new Uint8Array(Buffer.from(hex, 'hex'));
import Ajv from 'ajv';
import draft06 from 'ajv/dist/refs/json-schema-draft-06.json' with { type: 'json' };

const input = JSON.parse(readFileSync(0, 'utf8'));
const schema = JSON.parse(readFileSync(input.schema, 'utf8'));
// The HL7 schema names itself with draft-04 style `id`; ajv 8 reads `$id`.
schema.$id = schema.id;
delete schema.id;
const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
ajv.addMetaSchema(draft06);
ajv.addSchema(schema);

function sameJson(a, b) {
  const canon = (v) =>
    Array.isArray(v) ? v.map(canon)
      : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]))
      : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

let failed = 0;
for (const c of input.cases) {
  const result = { id: c.event.id, kind: c.event.kind, checks: {} };
  const check = (name, fn) => {
    try {
      result.checks[name] = fn() === true;
    } catch (e) {
      result.checks[name] = false;
      result[`${name}_error`] = String(e.message || e);
    }
  };
  check('signature_verifies', () => verifyEvent({ ...c.event }));
  check('tampered_signature_fails', () => !verifyEvent({ ...c.event, content: c.event.content + 'x' }));

  const patientSk = hexToBytes(c.patient_secret_hex);
  const patientCopy = c.event.tags.find((t) => t[0] === 'patient-content')?.[1];
  check('patient_copy_opens_with_patient_key', () => {
    const plaintext = nip44.decrypt(patientCopy, nip44.getConversationKey(patientSk, c.event.pubkey));
    return sameJson(JSON.parse(plaintext), c.expected);
  });
  check('patient_copy_refuses_other_key', () => {
    const other = hexToBytes('0000000000000000000000000000000000000000000000000000000000000007');
    try {
      nip44.decrypt(patientCopy, nip44.getConversationKey(other, c.event.pubkey));
      return false;
    } catch {
      return true;
    }
  });
  check('practice_copy_opens_with_chart_key', () => {
    const chartSk = hexToBytes(c.chart_secret_hex);
    const plaintext = nip44.decrypt(c.event.content, nip44.getConversationKey(chartSk, getPublicKey(chartSk)));
    return sameJson(JSON.parse(plaintext), c.expected);
  });
  check('fhir_r4_schema_valid', () => {
    const validate = ajv.getSchema(`http://hl7.org/fhir/json-schema/4.0#/definitions/${c.expected.resourceType}`);
    if (!validate) throw new Error(`no schema for ${c.expected.resourceType}`);
    const ok = validate(c.expected);
    if (!ok) throw new Error(ajv.errorsText(validate.errors));
    return true;
  });
  if (!Object.values(result.checks).every(Boolean)) failed += 1;
  console.log(JSON.stringify(result));
}
console.log(JSON.stringify({ cases: input.cases.length, failed }));
process.exit(failed === 0 && input.cases.length > 0 ? 0 : 1);
