"""A throwaway PKI for one test-ground cluster: CA, serving certs, admin client, SA keys."""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key():
    # P-256 keys are generated in microseconds; RSA would cost ~100 ms each.
    return ec.generate_private_key(ec.SECP256R1())


def _write(path, data, mode=0o600):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def _pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn, org=None):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _cert(subject, key, issuer, issuer_key, *, ca=False, sans=(), usages=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if sans:
        names = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory, service_ip="10.96.0.1"):
    """Write the cluster's PKI into ``directory``; return a dict of file paths."""
    os.makedirs(directory, exist_ok=True)
    ca_key = _key()
    ca_name = _name("testground-ca")
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    paths = {"ca_crt": os.path.join(directory, "ca.crt"), "ca_key": os.path.join(directory, "ca.key")}
    _write(paths["ca_crt"], ca.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths["ca_key"], _pem_key(ca_key))

    def issue(stem, subject, sans=(), usages=()):
        key = _key()
        cert = _cert(subject, key, ca_name, ca_key, sans=sans, usages=usages)
        paths[stem + "_crt"] = os.path.join(directory, stem + ".crt")
        paths[stem + "_key"] = os.path.join(directory, stem + ".key")
        _write(paths[stem + "_crt"], cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(paths[stem + "_key"], _pem_key(key))

    serving = [ExtendedKeyUsageOID.SERVER_AUTH]
    client = [ExtendedKeyUsageOID.CLIENT_AUTH]
    issue(
        "apiserver",
        _name("kube-apiserver"),
        sans=("127.0.0.1", "localhost", service_ip, "kubernetes", "kubernetes.default",
              "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"),
        usages=serving,
    )
    issue("kubelet", _name("kwok-kubelet"), sans=("127.0.0.1", "localhost"), usages=serving)
    # The admission webhook the apiserver calls on loopback (testground/admission.py).
    issue("admission", _name("testground-admission"), sans=("127.0.0.1",), usages=serving)
    # The EKS token webhook the apiserver asks about bearer tokens (testground/eks_authenticator.py).
    issue("eks-authenticator", _name("testground-eks-authenticator"), sans=("127.0.0.1",), usages=serving)
    issue("admin", _name("testground-admin", "system:masters"), usages=client)
    # The apiserver talks to kwok's kubelet-like server as a client.
    issue("apiserver-kubelet-client", _name("kube-apiserver-kubelet-client", "system:masters"), usages=client)

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    paths["sa_key"] = os.path.join(directory, "sa.key")
    paths["sa_pub"] = os.path.join(directory, "sa.pub")
    _write(paths["sa_key"], sa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    _write(paths["sa_pub"], sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    return paths


def make_serving_pair(directory, cn, sans=("127.0.0.1", "localhost")):
    """A CA of its own and one serving certificate it signed, for a test server speaking TLS.

    Returns ``{ca_crt, crt, key}`` paths. A CA apart from the cluster's, so that a test can tell
    "verified against this CA" from "verified against any CA the test ground has".
    """
    os.makedirs(directory, exist_ok=True)
    ca_key = _key()
    ca_name = _name(cn + "-ca")
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    key = _key()
    cert = _cert(_name(cn), key, ca_name, ca_key, sans=sans, usages=[ExtendedKeyUsageOID.SERVER_AUTH])
    paths = {"ca_crt": os.path.join(directory, cn + "-ca.crt"), "crt": os.path.join(directory, cn + ".crt"),
             "key": os.path.join(directory, cn + ".key")}
    _write(paths["ca_crt"], ca.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths["crt"], cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths["key"], _pem_key(key))
    return paths
