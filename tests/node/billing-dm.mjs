// Independent check of the billing bot's NIP-17 messages, with nostr-tools.
//
// stdin: {"cases": [{"wrap", "recipient_secret_hex", "sender", "subject", "contains"}]}
// stdout: one JSON line per case with its checks; exit code 1 if any check fails.
import { readFileSync } from 'node:fs';
import { verifyEvent, getPublicKey, getEventHash } from 'nostr-tools/pure';
import * as nip17 from 'nostr-tools/nip17';
import * as nip44 from 'nostr-tools/nip44';

const hexToBytes = (hex) => new Uint8Array(Buffer.from(hex, 'hex'));
const input = JSON.parse(readFileSync(0, 'utf8'));
let failed = 0;
for (const c of input.cases) {
  const result = { id: c.wrap.id, checks: {} };
  const check = (name, fn) => {
    try {
      result.checks[name] = fn() === true;
    } catch (e) {
      result.checks[name] = false;
      result[`${name}_error`] = String(e.message || e);
    }
  };
  const sk = hexToBytes(c.recipient_secret_hex);
  const me = getPublicKey(sk);
  check('wrap_is_1059_and_verifies', () => c.wrap.kind === 1059 && verifyEvent({ ...c.wrap }));
  check('wrap_names_recipient', () => c.wrap.tags.some((t) => t[0] === 'p' && t[1] === me));
  check('seal_is_13_signed_by_sender', () => {
    const seal = JSON.parse(nip44.decrypt(c.wrap.content, nip44.getConversationKey(sk, c.wrap.pubkey)));
    return seal.kind === 13 && seal.pubkey === c.sender && seal.tags.length === 0 && verifyEvent(seal);
  });
  check('nip17_unwraps_kind_14', () => {
    const rumor = nip17.unwrapEvent(c.wrap, sk);
    result.subject = rumor.tags.find((t) => t[0] === 'subject')?.[1];
    return (
      rumor.kind === 14 &&
      rumor.pubkey === c.sender &&
      rumor.id === getEventHash(rumor) &&
      result.subject === c.subject &&
      rumor.content.includes(c.contains) &&
      rumor.tags.some((t) => t[0] === 'p')
    );
  });
  check('other_key_cannot_open', () => {
    try {
      nip17.unwrapEvent(c.wrap, hexToBytes('0000000000000000000000000000000000000000000000000000000000000007'));
      return false;
    } catch {
      return true;
    }
  });
  if (!Object.values(result.checks).every((v) => v)) failed += 1;
  console.log(JSON.stringify(result));
}
console.log(JSON.stringify({ failed }));
process.exit(failed ? 1 : 0);
