"""The control plane's PKI: a CA, the API server's serving certificate, client
certificates for each component and the service-account signing key pair.

ECDSA P-256 throughout: every component accepts it and generating keys is fast.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .nodeconfig import NODE_IP

#: First address of the service range; the API server's in-cluster Service gets it.
KUBERNETES_SERVICE_IP = "10.0.0.1"
VALIDITY = datetime.timedelta(days=2)
FRONT_PROXY_CLIENT = "front-proxy-client"
#: The API server's user towards kubelets (logs, exec, port-forward, pod proxy); a real
#: node binds it to the ClusterRole system:kubelet-api-admin.
KUBELET_CLIENT = "kube-apiserver-kubelet-client"


@dataclass(frozen=True)
class KeyPair:
    """PEM files of one certificate and its key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: KeyPair
    apiserver: KeyPair
    admin: KeyPair
    controller_manager: KeyPair
    scheduler: KeyPair
    #: The aggregation layer's CA and the API server's client certificate under it.
    front_proxy_ca: KeyPair
    front_proxy_client: KeyPair
    #: The API server's client certificate towards kubelets.
    kubelet_client: KeyPair
    service_account_key: Path
    service_account_pub: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        # The API server reads O= as the user's groups.
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _builder(
    subject: x509.Name, issuer: x509.Name, public: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        # Back-dated a little so small clock skews between processes never matter.
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _ca(
    folder: Path, stem: str, common_name: str
) -> tuple[KeyPair, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    pair = KeyPair(folder / f"{stem}.crt", folder / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair, key, cert


API_SERVER_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
#: The real node's address is the API server's too, for pods (nodeconfig.NODE_IP).
API_SERVER_IPS = ("127.0.0.1", KUBERNETES_SERVICE_IP, NODE_IP)


def _leaf(
    folder: Path,
    stem: str,
    subject: x509.Name,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    server: bool,
    dns_names: Sequence[str] = API_SERVER_NAMES,
    ips: Sequence[str] = API_SERVER_IPS,
) -> KeyPair:
    key = _key()
    builder = _builder(subject, ca_cert.subject, key.public_key()).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    if server:
        names: list[x509.GeneralName] = [x509.DNSName(dns) for dns in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        usage = ExtendedKeyUsageOID.SERVER_AUTH
    else:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH
    cert = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False).sign(
        ca_key, hashes.SHA256()
    )
    pair = KeyPair(folder / f"{stem}.crt", folder / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair


def issue(
    ca: KeyPair,
    folder: Path,
    stem: str,
    common_name: str,
    organization: str | None = None,
    *,
    server_names: Sequence[str] = (),
    server_ips: Sequence[str] = (),
) -> KeyPair:
    """A certificate signed by `ca` (read from its files): a client certificate for
    `common_name` in group `organization`, or a serving one when names or IPs are given
    (the real node's kubelet gets both kinds)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{ca.key} is not an ECDSA key")
    server = bool(server_names or server_ips)
    subject = _name(common_name, organization)
    return _leaf(
        folder,
        stem,
        subject,
        ca_key,
        ca_cert,
        server=server,
        dns_names=server_names,
        ips=server_ips,
    )


def generate(folder: Path) -> Pki:
    """Write every certificate and key into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key, ca_cert = _ca(folder, "ca", "kubernetes-ca")
    # A separate CA, as kubeadm does: without it the components log errors about a
    # missing request-header CA on every authentication config refresh.
    proxy_ca, proxy_key, proxy_cert = _ca(folder, "front-proxy-ca", "front-proxy-ca")

    def client(stem: str, user: str, group: str | None = None) -> KeyPair:
        return _leaf(folder, stem, _name(user, group), ca_key, ca_cert, server=False)

    sa_key = _key()
    sa_key_path = folder / "service-account.key"
    sa_pub_path = folder / "service-account.pub"
    _write_key(sa_key_path, sa_key)
    sa_pub_path.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return Pki(
        ca=ca,
        apiserver=_leaf(folder, "apiserver", _name("kube-apiserver"), ca_key, ca_cert, server=True),
        admin=client("admin", "kubernetes-admin", "system:masters"),
        # The bootstrap RBAC policy grants these two users what their components need.
        controller_manager=client("controller-manager", "system:kube-controller-manager"),
        scheduler=client("scheduler", "system:kube-scheduler"),
        front_proxy_ca=proxy_ca,
        front_proxy_client=_leaf(
            folder,
            "front-proxy-client",
            _name(FRONT_PROXY_CLIENT),
            proxy_key,
            proxy_cert,
            server=False,
        ),
        kubelet_client=client("apiserver-kubelet-client", KUBELET_CLIENT),
        service_account_key=sa_key_path,
        service_account_pub=sa_pub_path,
    )
