"""A SMART Health Links receiver written from the specification (HL7 SMART Health Cards and
Links IG, STU1, "SMART Health Links"), not from this project's code: it shares nothing with the
portal's viewer or ehr-client. JWE decryption is jwcrypto's.

Usage: shl_client.py <link> <recipient> [--passcode P] [--embedded-length-max N]

Steps, as the specification gives them:
1. Strip anything before "shlink:/" (a viewer URL prefix), base64url-decode the rest, parse the
   JSON payload: url, key (43 base64url characters), exp, flag, label, v.
2. If exp has passed, stop (the link is expired).
3. POST {"recipient", "passcode" (flag P), "embeddedLengthMax"} as JSON to url.
4. 401 carries {"remainingAttempts"}; 404 means the link is no longer active.
5. For each file: "embedded" is a compact JWE; otherwise GET "location" for it.
6. Decrypt each JWE with the key (alg "dir", enc "A256GCM"), parse the FHIR JSON.

Prints one line of JSON: {"status": HTTP status of the manifest request, "remainingAttempts",
"manifestStatus", "files": [{"contentType", "how": "embedded"|"location", "resource": ...}],
"label", "flag"}, or {"error": ...} for anything that breaks the protocol.
"""

import argparse
import base64
import json
import sys
import time
import urllib.error
import urllib.request

from jwcrypto import jwe, jwk


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_link(link):
    start = link.find("shlink:/")
    if start < 0:
        raise ValueError("not a SMART Health Link")
    payload = json.loads(b64url_decode(link[start + len("shlink:/"):]))
    if len(payload["key"]) != 43:
        raise ValueError("the key is not 43 characters")
    return payload


def post_json(url, body):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, None


def get_text(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.headers.get("Content-Type"), response.read().decode()


def decrypt(key, compact):
    token = jwe.JWE()
    token.deserialize(compact, key=jwk.JWK(kty="oct", k=key))
    header = token.jose_header
    if header.get("alg") != "dir" or header.get("enc") != "A256GCM":
        raise ValueError("the file is not alg dir / enc A256GCM")
    return header.get("cty"), json.loads(token.payload)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("link")
    parser.add_argument("recipient")
    parser.add_argument("--passcode")
    parser.add_argument("--embedded-length-max", type=int)
    args = parser.parse_args()

    payload = parse_link(args.link)
    result = {"label": payload.get("label"), "flag": payload.get("flag", "")}
    if "exp" in payload and payload["exp"] < time.time():
        result["expired"] = True
        print(json.dumps(result))
        return
    if "U" in result["flag"]:
        raise ValueError("U links are not used by this test")
    body = {"recipient": args.recipient}
    if "P" in result["flag"] and args.passcode is not None:
        body["passcode"] = args.passcode
    if args.embedded_length_max is not None:
        body["embeddedLengthMax"] = args.embedded_length_max
    status, manifest = post_json(payload["url"], body)
    result["status"] = status
    if status == 401:
        result["remainingAttempts"] = manifest["remainingAttempts"]
    if status != 200:
        print(json.dumps(result))
        return
    result["manifestStatus"] = manifest.get("status")
    files = []
    for entry in manifest["files"]:
        if "embedded" in entry:
            compact, how = entry["embedded"], "embedded"
        else:
            content_type, compact = get_text(entry["location"])
            if content_type != "application/jose":
                raise ValueError(f"a location answered {content_type}")
            how = "location"
        cty, resource = decrypt(payload["key"], compact)
        files.append({"contentType": entry["contentType"], "cty": cty, "how": how,
                      "resource": resource})
    result["files"] = files
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # every failure is reported as the protocol's
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
        sys.exit(1)
