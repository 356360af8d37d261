"""Third-party proof for the FHIR gateway: clients and validators written by others.

Driven by tests/tests/fhir_third_party.rs; installed by scripts/python-tools.

  keygen DIR
      An RSA 2048 key (RS384) and an EC P-384 key (ES384) in DIR, and DIR/jwks.json with their
      public halves, as a facility would register them.
  run --base URL --client-id ID --dir DIR --alg RS384|ES384 --schema PATH
      SMART Backend Services with SMART's own Python client (fhirclient 4.4): discovery from the
      CapabilityStatement, a private_key_jwt assertion signed with PyJWT, the token, then reads,
      searches (following next links) and $everything through fhirclient; then issue 23's
      search parameters through fhirclient's own search and models: `_sort=-date` paged by
      fhirclient, `_elements`, `_summary=true`, the compartment `Patient/[id]/Observation`, and
      fhirclient's own `include()`: `_include=Observation:subject`,
      `_include=DiagnosticReport:result` and `_revinclude=Provenance:target`, whose every
      Provenance signature is checked here with BIP-340 (written from the specification, no
      Nostr library). Every resource returned is validated. Also checks that an assertion signed by an
      unregistered key gets no token. Prints a JSON summary.
  validate FILE --schema PATH
      Validate every FHIR resource in FILE (one JSON resource per line) and print a summary.

A resource is valid when all three independent validators accept it: fhirclient's R4 models
(strict), fhir.resources' R4B pydantic models, and the official R4 JSON schema (jsonschema).
"""

import argparse
import base64
import datetime
import hashlib
import json
import pathlib
import sys
import time
import uuid

import jsonschema
import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fhir.resources.R4B import get_fhir_model_class
from fhirclient import client as fhir_client
from fhirclient.models import fhirelementfactory


class Validators:
    """The three independent validators, with the schema loaded once."""

    def __init__(self, schema_path):
        schema = json.loads(pathlib.Path(schema_path).read_text())
        self.definitions = schema["definitions"]
        self.schema_validators = {}
        self.count = 0
        self.types = {}

    def _schema_validator(self, resource_type):
        if resource_type not in self.schema_validators:
            schema = {
                "$schema": "http://json-schema.org/draft-06/schema#",
                "$ref": f"#/definitions/{resource_type}",
                "definitions": self.definitions,
            }
            self.schema_validators[resource_type] = jsonschema.Draft6Validator(schema)
        return self.schema_validators[resource_type]

    def check(self, resource, where):
        resource_type = resource.get("resourceType")
        if resource_type is None:
            fail(f"{where}: no resourceType")
        # 1. fhirclient's R4 models, strict: unknown or mistyped elements raise.
        try:
            fhirelementfactory.FHIRElementFactory.instantiate(resource_type, resource)
        except Exception as error:  # the models raise FHIRValidationError and others
            fail(f"{where}: fhirclient rejects the {resource_type}: {error}")
        # 2. fhir.resources' R4B models (pydantic).
        try:
            get_fhir_model_class(resource_type).model_validate(resource)
        except Exception as error:
            fail(f"{where}: fhir.resources (R4B) rejects the {resource_type}: {error}")
        # 3. The official R4 JSON schema.
        errors = sorted(
            self._schema_validator(resource_type).iter_errors(resource), key=lambda e: e.path
        )
        if errors:
            first = errors[0]
            fail(
                f"{where}: the R4 JSON schema rejects the {resource_type} at "
                f"{'/'.join(str(p) for p in first.absolute_path)}: {first.message[:200]}"
            )
        self.count += 1
        self.types[resource_type] = self.types.get(resource_type, 0) + 1
        # A Bundle's entries are resources too.
        for n, entry in enumerate(resource.get("entry", []) if resource_type == "Bundle" else []):
            if "resource" in entry:
                self.check(entry["resource"], f"{where} entry {n}")


def fail(message):
    print(json.dumps({"error": message}))
    sys.exit(1)


def keygen(directory):
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP384R1())
    keys = []
    for name, key, algorithm, kid in [
        ("rs384.pem", rsa_key, jwt.algorithms.RSAAlgorithm, "python-rs384"),
        ("es384.pem", ec_key, jwt.algorithms.ECAlgorithm, "python-es384"),
    ]:
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (directory / name).write_bytes(pem)
        jwk = json.loads(algorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "alg": "RS384" if name.startswith("rs") else "ES384", "use": "sig"})
        keys.append(jwk)
    (directory / "jwks.json").write_text(json.dumps({"keys": keys}))
    print(json.dumps({"jwks": str(directory / "jwks.json")}))


def assertion(client_id, token_url, key_pem, alg, kid):
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": now + 240,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key_pem, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


def run(args):
    validators = Validators(args.schema)
    directory = pathlib.Path(args.dir)
    pem_name, kid = ("rs384.pem", "python-rs384") if args.alg == "RS384" else ("es384.pem", "python-es384")
    key_pem = (directory / pem_name).read_bytes()

    config = requests.get(f"{args.base}/.well-known/smart-configuration", timeout=10).json()
    token_url = config["token_endpoint"]
    if args.alg not in config["token_endpoint_auth_signing_alg_values_supported"]:
        fail(f"{args.alg} is not advertised")

    # An assertion signed by a key the practice never registered (same kid) gets no token.
    stranger = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if args.alg == "RS384"
        else ec.generate_private_key(ec.SECP384R1())
    )
    refused = requests.post(
        token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(args.client_id, token_url, stranger, args.alg, kid),
            "scope": "system/*.read",
        },
        timeout=10,
    )
    if refused.status_code != 401 or refused.json().get("error") != "invalid_client":
        fail(f"an unregistered key got {refused.status_code}")

    settings = {
        "app_id": args.client_id,
        "api_base": args.base,
        "scope": "system/*.read",
        "jwt_token": assertion(args.client_id, token_url, key_pem, args.alg, kid),
    }
    smart = fhir_client.FHIRClient(settings=settings, save_func=lambda state: None)
    smart.wants_patient = False
    # prepare() reads the CapabilityStatement with fhirclient's models and finds the token
    # endpoint in its SMART security extension; authorize() runs client_credentials.
    smart.prepare()
    if smart.server.auth is None or smart.server.auth.auth_type != "oauth2":
        fail("fhirclient did not find SMART backend services in the CapabilityStatement")
    smart.server.authorize()
    if not smart.server.auth.access_token:
        fail("no access token")
    # What the server sent, not fhirclient's re-serialisation of it.
    validators.check(smart.server.request_json("metadata"), "metadata")

    # Searches through fhirclient's model API (parsed by its strict models), then the same
    # answers as raw JSON: pages through next links, $everything.
    from fhirclient.models.patient import Patient
    from fhirclient.models.observation import Observation

    bundle = Patient.where(struct={}).perform(smart.server)
    patients = [entry.resource.id for entry in (bundle.entry or [])]
    if not patients:
        fail("no patient visible")
    validators.check(smart.server.request_json("Patient"), "Patient search")
    pages = {}
    for patient in patients:
        Patient.read(patient, smart.server)
        validators.check(smart.server.request_json(f"Patient/{patient}"), "Patient read")
        url = f"Observation?patient={patient}&_count=1"
        pages[patient] = 0
        while url and pages[patient] < 50:
            page = smart.server.request_json(url)
            validators.check(page, "Observation page")
            pages[patient] += 1
            url = next((l["url"] for l in page.get("link", []) if l["relation"] == "next"), None)
        total = smart.server.request_json(f"Observation?patient={patient}&_summary=count")["total"]
        if pages[patient] != total:
            fail(f"paging with _count=1 gave {pages[patient]} pages for {total} Observations")
        everything = smart.server.request_json(f"Patient/{patient}/$everything?_count=500")
        validators.check(everything, "$everything")
    vitals = Observation.where(struct={"patient": patients[0], "category": "vital-signs"}).perform(smart.server)
    if not vitals.entry:
        fail("no vital-signs Observation found by category")
    issue_23 = search_parameters(smart, validators, patients[0])
    issue_23.update(includes(smart, validators, patients[0]))

    print(
        json.dumps(
            {
                "patients": patients,
                "scope": smart.server.auth.state.get("scope", "system/*.read"),
                "validated": validators.count,
                "types": validators.types,
                "observation_pages": pages,
                "search_parameters": issue_23,
            }
        )
    )


SUBSETTED = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "SUBSETTED")


def effective_instant(observation):
    """An Observation's effective time (a Period's start) as an aware datetime, or None."""
    data = observation.as_json()
    text = data.get("effectiveDateTime") or data.get("effectivePeriod", {}).get("start")
    if text is None:
        return None
    text = {4: text + "-01-01", 7: text + "-01"}.get(len(text), text)
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def subsetted(resource):
    tags = (resource.meta.tag or []) if resource.meta else []
    return any((tag.system, tag.code) == SUBSETTED for tag in tags)


def search_parameters(smart, validators, patient):
    """Issue 23 through fhirclient: its FHIRSearch builds the query, its strict models parse
    every answer (a resource missing a mandatory element would raise), and it follows the
    `next` links itself. The raw answers go through all three validators too."""
    from fhirclient.models.bundle import Bundle
    from fhirclient.models.observation import Observation

    total = smart.server.request_json(f"Observation?patient={patient}&_summary=count")["total"]

    # _sort=-date, two a page, every page fetched by fhirclient's pagination.
    search = Observation.where(struct={"patient": patient, "_sort": "-date", "_count": "2"})
    newest_first = list(search.perform_resources_iter(smart.server))
    validators.check(smart.server.request_json(search.construct()), "_sort=-date")
    instants = [effective_instant(o) for o in newest_first]
    dated = [i for i in instants if i is not None]
    if len(newest_first) != total or len(dated) < 3:
        fail(f"_sort=-date paged {len(newest_first)} of {total} ({len(dated)} dated)")
    if instants != dated + [None] * (len(instants) - len(dated)) or dated != sorted(dated, reverse=True):
        fail(f"_sort=-date is not newest first with the undated last: {instants}")

    # _elements: the named elements and the mandatory ones, tagged SUBSETTED.
    search = Observation.where(struct={"patient": patient, "_elements": "effective,subject"})
    shown = list(search.perform_resources_iter(smart.server))
    validators.check(smart.server.request_json(search.construct()), "_elements")
    if len(shown) != total:
        fail(f"_elements found {len(shown)} of {total}")
    for observation in shown:
        if not subsetted(observation) or observation.status is None or observation.code is None:
            fail(f"_elements: {observation.as_json()}")
        if observation.valueQuantity is not None or observation.category is not None:
            fail(f"_elements kept what was not asked for: {observation.as_json()}")

    # _summary=true: the summary elements (category is not one), tagged SUBSETTED.
    search = Observation.where(struct={"patient": patient, "_summary": "true"})
    summaries = list(search.perform_resources_iter(smart.server))
    validators.check(smart.server.request_json(search.construct()), "_summary=true")
    if len(summaries) != total or any(o.category is not None or not subsetted(o) for o in summaries):
        fail("_summary=true: not the summary of each match")

    # The compartment, read with fhirclient's Bundle model: the same as the patient search.
    path = f"Patient/{patient}/Observation?_sort=-date"
    compartment = Bundle.read_from(path, smart.server)
    validators.check(smart.server.request_json(path), "compartment")
    ids = [entry.resource.id for entry in (compartment.entry or [])]
    if ids != [o.id for o in newest_first]:
        fail(f"Patient/[id]/Observation differs from Observation?patient=[id]: {ids}")
    return {"sorted": len(newest_first), "elements": len(shown), "compartment": len(ids)}


# BIP-340 Schnorr verification, from the specification's reference code (secp256k1, affine
# coordinates): slow and not constant-time, which is fine for checking public signatures.
SECP_P = 2**256 - 2**32 - 977
SECP_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP_G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)


def point_add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and a[1] != b[1]:
        return None
    if a == b:
        slope = 3 * a[0] * a[0] * pow(2 * a[1], SECP_P - 2, SECP_P) % SECP_P
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], SECP_P - 2, SECP_P) % SECP_P
    x = (slope * slope - a[0] - b[0]) % SECP_P
    return (x, (slope * (a[0] - x) - a[1]) % SECP_P)


def point_mul(point, scalar):
    result = None
    for bit in range(256):
        if (scalar >> bit) & 1:
            result = point_add(result, point)
        point = point_add(point, point)
    return result


def lift_x(x):
    if x >= SECP_P:
        return None
    y_squared = (pow(x, 3, SECP_P) + 7) % SECP_P
    y = pow(y_squared, (SECP_P + 1) // 4, SECP_P)
    if pow(y, 2, SECP_P) != y_squared:
        return None
    return (x, y if y % 2 == 0 else SECP_P - y)


def tagged_hash(tag, message):
    tag_hash = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(tag_hash + tag_hash + message).digest()


def schnorr_verify(message, public_key, signature):
    """BIP-340 verification of a 64-byte `signature` of the 32-byte `message` by the x-only
    `public_key`."""
    point = lift_x(int.from_bytes(public_key, "big"))
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if point is None or r >= SECP_P or s >= SECP_N:
        return False
    challenge = tagged_hash("BIP0340/challenge", signature[:32] + public_key + message)
    e = int.from_bytes(challenge, "big") % SECP_N
    nonce = point_add(point_mul(SECP_G, s), point_mul(point, SECP_N - e))
    return nonce is not None and nonce[1] % 2 == 0 and nonce[0] == r


AUTHOR_SIGNATURE = ("urn:iso-astm:E1762-95:2013", "1.2.840.10065.1.12.1.1")
PUBKEY_SYSTEM = "urn:nostr-ehr:nostr-pubkey"


def check_provenance(provenance, target):
    """A Provenance (fhirclient's model) of `target` ("Type/id/_history/n"): its author agent,
    and its signature, which must verify with BIP-340 against the author's key; a changed
    signature must not."""
    if [t.reference for t in provenance.target] != [target]:
        fail(f"Provenance {provenance.id} targets {[t.reference for t in provenance.target]}")
    author = provenance.agent[0]
    if author.type.coding[0].code != "author" or author.who.identifier.system != PUBKEY_SYSTEM:
        fail(f"Provenance {provenance.id}: no author agent")
    if author.onBehalfOf is None or author.onBehalfOf.identifier.system != PUBKEY_SYSTEM:
        fail(f"Provenance {provenance.id}: no practice the author acted for")
    signature = provenance.signature[0]
    if (signature.type[0].system, signature.type[0].code) != AUTHOR_SIGNATURE:
        fail(f"Provenance {provenance.id}: not an author's signature")
    event = json.loads(base64.b64decode(signature.data))
    if event["pubkey"] != author.who.identifier.value or event["pubkey"] != signature.who.identifier.value:
        fail(f"Provenance {provenance.id}: the signer is not the author")
    message = bytes.fromhex(event["id"])
    key = bytes.fromhex(event["pubkey"])
    sig = bytes.fromhex(event["sig"])
    if not schnorr_verify(message, key, sig):
        fail(f"Provenance {provenance.id}: the author's signature does not verify")
    changed = bytes([sig[0] ^ 1]) + sig[1:]
    if schnorr_verify(message, key, changed):
        fail("a changed signature verifies: the check is broken")


def includes(smart, validators, patient):
    """`_include` and `_revinclude` through fhirclient's FHIRSearch.include(): matches and
    included resources parsed by its strict models, pages followed by it, the raw answers
    validated, and each Provenance's signature verified."""
    from fhirclient.models.diagnosticreport import DiagnosticReport
    from fhirclient.models.observation import Observation
    from fhirclient.models.provenance import Provenance

    def by_mode(search, what):
        validators.check(smart.server.request_json(search.construct()), what)
        found = {"match": [], "include": []}
        for bundle in search.perform_iter(smart.server):
            for entry in bundle.entry or []:
                found[entry.search.mode].append(entry.resource)
        return found["match"], found["include"]

    search = Observation.where(struct={"patient": patient}).include("target", Provenance, reverse=True)
    if "_revinclude=Provenance:target" not in search.construct():
        fail(f"fhirclient built {search.construct()}")
    matches, provenances = by_mode(search, "_revinclude=Provenance:target")
    if not matches or len(provenances) != len(matches):
        fail(f"_revinclude: {len(provenances)} Provenances for {len(matches)} Observations")
    by_target = {p.target[0].reference: p for p in provenances if isinstance(p, Provenance)}
    for observation in matches:
        target = f"Observation/{observation.id}/_history/{observation.meta.versionId}"
        if target not in by_target:
            fail(f"no Provenance of {target}")
        check_provenance(by_target[target], target)

    search = Observation.where(struct={"patient": patient}).include("subject")
    subjects, patients = by_mode(search, "_include=Observation:subject")
    if len(subjects) != len(matches) or [p.id for p in patients] != [patient]:
        fail(f"_include=Observation:subject brought {[p.id for p in patients]}")

    search = DiagnosticReport.where(struct={"patient": patient}).include("result")
    reports, results = by_mode(search, "_include=DiagnosticReport:result")
    wanted = {r.reference.rsplit("/", 1)[-1] for report in reports for r in report.result or []}
    if not wanted or {o.id for o in results} != wanted:
        fail(f"_include=DiagnosticReport:result brought {[o.id for o in results]}, not {wanted}")
    return {"revinclude": len(provenances), "signatures": len(by_target), "included_results": len(results)}


def validate(args):
    validators = Validators(args.schema)
    for n, line in enumerate(pathlib.Path(args.file).read_text().splitlines()):
        if line.strip():
            validators.check(json.loads(line), f"line {n + 1}")
    print(json.dumps({"validated": validators.count, "types": validators.types}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    keygen_parser = commands.add_parser("keygen")
    keygen_parser.add_argument("dir")
    run_parser = commands.add_parser("run")
    for name in ["--base", "--client-id", "--dir", "--schema"]:
        run_parser.add_argument(name, required=True)
    run_parser.add_argument("--alg", choices=["RS384", "ES384"], required=True)
    validate_parser = commands.add_parser("validate")
    validate_parser.add_argument("file")
    validate_parser.add_argument("--schema", required=True)
    args = parser.parse_args()
    if args.command == "keygen":
        keygen(args.dir)
    elif args.command == "run":
        run(args)
    else:
        validate(args)


if __name__ == "__main__":
    main()
