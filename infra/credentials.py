"""Credentials of the platform servers, made on their first start and kept outside the
repository: RUN/secrets (mode 0700) holds credentials.env (mode 0600) with one password per
principal, Trino's hashed password file, group file and TLS certificate.

Principals, one per job (least privilege):

    PostgreSQL  dataplat_admin (superuser, the platform script only), lakehouse (owns the
                Iceberg catalog database; not a superuser)
    Trino       admin; transform (dbt: reads raw, writes staging/intermediate/marts/monitoring); api
                (reads marts); maintenance (table procedures on raw and audit); analysts
                analyst_marketing and analyst_finance (groups marketing, finance: read
                staging and marts)
    Kafka       admin (creates and deletes topics); loader (reads the contract topics and
                its group); producer (writes the contract topics; `dataplat publish`);
                debezium (Kafka Connect's worker: writes the shop.* topics)
    MariaDB     shop_app (the shop's application: reads and writes the shop tables; `dataplat
                simulate-shop`); debezium (reads the binlog and the tables; the connector).
                root logs in only through the server's private socket, as the OS user that
                started it (the platform script)
    Connect     admin (Kafka Connect's REST API, HTTP basic authentication)
"""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

TRINO_USERS = ("admin", "transform", "api", "maintenance", "analyst_marketing", "analyst_finance")
TRINO_GROUPS = {"analysts": ("analyst_marketing", "analyst_finance"),
                "marketing": ("analyst_marketing",), "finance": ("analyst_finance",)}  # fmt: skip
KAFKA_USERS = ("admin", "loader", "producer", "debezium")
MARIADB_USERS = ("shop_app", "debezium")
PBKDF2_ITERATIONS = 10_000


def write_private(path: Path, content: str | bytes) -> None:
    """Writes a file only its owner can read (mode 0600 from its creation on)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb" if isinstance(content, bytes) else "w") as out:
        out.write(content)
    path.chmod(0o600)


def _variable(kind: str, user: str) -> str:
    return f"DATAPLAT_{kind}_{user.upper()}_PASSWORD"


class Credentials:
    """The passwords of every principal, created once and read back on every start."""

    def __init__(self, run: Path):
        self.directory = run / "secrets"
        self.file = self.directory / "credentials.env"
        self.values: dict[str, str] = {}

    def ensure(self) -> bool:
        """Reads the credentials, creating any missing one; True when the file was created."""
        created = not self.file.exists()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        if not created:
            for line in self.file.read_text().splitlines():
                name, _, value = line.partition("=")
                if name and not name.startswith("#"):
                    self.values[name] = value
        wanted = [_variable("PG", "dataplat_admin"), _variable("PG", "lakehouse")]
        wanted += [_variable("TRINO", u) for u in TRINO_USERS]
        wanted += [_variable("KAFKA", u) for u in KAFKA_USERS]
        wanted += [_variable("MARIADB", u) for u in MARIADB_USERS]
        wanted += [_variable("CONNECT", "admin")]
        wanted += ["DATAPLAT_TRINO_SHARED_SECRET"]
        missing = [name for name in wanted if name not in self.values]
        for name in missing:
            self.values[name] = secrets.token_urlsafe(24)
        if missing:
            lines = [f"{k}={v}\n" for k, v in self.values.items()]
            header = "# Platform credentials: made by infra/platform.py; keep private.\n"
            write_private(self.file, header + "".join(lines))
        self.file.chmod(0o600)
        return created

    def all(self) -> dict[str, str]:
        if not self.values:
            self.ensure()
        return self.values

    def password(self, kind: str, user: str) -> str:
        return self.all()[_variable(kind, user)]

    @property
    def trino_shared_secret(self) -> str:
        return self.all()["DATAPLAT_TRINO_SHARED_SECRET"]


def pbkdf2_entry(user: str, password: str, salt: bytes | None = None) -> str:
    """A line of Trino's password file: user:iterations:salt:hash (lowercase hex)."""
    salt = salt or secrets.token_bytes(16)
    # Trino 476 verifies PBKDF2WithHmacSHA1 (its EncryptionUtil), with the hash length given.
    digest = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, PBKDF2_ITERATIONS, 64)
    return f"{user}:{PBKDF2_ITERATIONS}:{salt.hex()}:{digest.hex()}"


def trino_file_paths(credentials: Credentials) -> dict[str, Path]:
    """Where Trino's password file, group file, keystore and (for clients) CA certificate are."""
    trino = credentials.directory / "trino"
    return {"passwords": trino / "password.db", "groups": trino / "group.txt",
            "keystore": trino / "trino.pem", "certificate": trino / "trino-ca.pem"}  # fmt: skip


def write_trino_files(credentials: Credentials) -> dict[str, Path]:
    """The password file, the group file and a TLS certificate for 127.0.0.1/localhost
    (key and certificate chain in one PEM for Trino; the CA certificate for clients); the
    certificate is kept once made."""
    credentials.all()  # made first: the folder and the passwords
    paths = trino_file_paths(credentials)
    paths["passwords"].parent.mkdir(exist_ok=True)
    paths["passwords"].parent.chmod(0o700)
    paths["passwords"].write_text(
        "".join(pbkdf2_entry(u, credentials.password("TRINO", u)) + "\n" for u in TRINO_USERS)
    )
    paths["groups"].write_text(
        "".join(f"{g}:{','.join(users)}\n" for g, users in TRINO_GROUPS.items())
    )
    if not paths["keystore"].exists():
        key_pem, server_pem, ca_pem = _self_signed_certificate()
        write_private(paths["keystore"], key_pem + server_pem + ca_pem)
        paths["certificate"].write_bytes(ca_pem)
    for name in ("passwords", "groups", "keystore"):
        paths[name].chmod(0o600)
    paths["certificate"].chmod(0o644)
    return paths


def _self_signed_certificate() -> tuple[bytes, bytes, bytes]:
    """A private CA and a server certificate it signs for loopback names (clients verify
    strictly against the CA: a self-signed leaf is refused by urllib3's strict checks)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dataplat platform local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=True, crl_sign=True, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    names = [x509.DNSName("localhost"), x509.DNSName("trino"),
             x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]  # fmt: skip
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem = serialization.Encoding.PEM
    return key_pem, server.public_bytes(pem), ca.public_bytes(pem)
