"""An independent check of SigV4 presigned URLs, written from the AWS specification.

It shares no code with botocore's signer, so a token that passes here was signed correctly,
not merely shaped like a signed URL: a different secret, cluster header, host or expiry fails.
The test ground's EKS token webhook (``eks_authenticator.py``) verifies tokens with it, and the
token tests check the collection's signer against it.
https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
"""

import hashlib
import hmac
from urllib.parse import parse_qsl, quote, urlsplit


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _enc(s):
    return quote(s, safe="-_.~")


def expected_signature(url, headers, secret_key, method="GET"):
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    query = dict(params)
    signed = query["X-Amz-SignedHeaders"].split(";")
    all_headers = dict((k.lower(), v.strip()) for k, v in headers.items())
    all_headers.setdefault("host", parts.netloc)
    canonical_query = "&".join(
        "%s=%s" % (_enc(k), _enc(v)) for k, v in sorted(params) if k != "X-Amz-Signature"
    )
    canonical_request = "\n".join([
        method,
        parts.path or "/",
        canonical_query,
        "".join("%s:%s\n" % (h, all_headers[h]) for h in signed),
        ";".join(signed),
        hashlib.sha256(b"").hexdigest(),
    ])
    access_key, date, region, service, terminal = query["X-Amz-Credential"].split("/")
    scope = "/".join([date, region, service, terminal])
    to_sign = "\n".join([
        "AWS4-HMAC-SHA256", query["X-Amz-Date"], scope,
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), date)
    for part in (region, service, terminal):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def signature_valid(url, headers, secret_key):
    got = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    return hmac.compare_digest(got, expected_signature(url, headers, secret_key))
