"""What a failed TLS handshake means, in one line that names its cause and the setting to fix.

redis-py reports a handshake failure as a ConnectionError holding OpenSSL's words
("CERTIFICATE_VERIFY_FAILED", "EOF occurred in violation of protocol"); read here once, for
the command line, the admin router and the library's own messages alike.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cachectl.config import CacheConfig

_NOT_VALID_FOR = re.compile(r"not valid for '([^']*)'")
_VERIFY_REASON = re.compile(r"certificate verify failed: ([^(]*?)\s*\(")
#: OpenSSL's words when the server rejects the client's certificate.
_CLIENT_CERT_REFUSED = (
    "UNKNOWN_CA",
    "unknown ca",
    "BAD_CERTIFICATE",
    "bad certificate",
    "CERTIFICATE_UNKNOWN",
    "certificate unknown",
    "UNSUPPORTED_CERTIFICATE",
)
#: A TLS client talking to a port that does not speak TLS.
_NOT_TLS = ("WRONG_VERSION_NUMBER", "record layer failure", "packet length too long")


def explain(exc: BaseException, config: CacheConfig) -> str | None:
    """The cause of a failed TLS connection in words, or None when exc is no TLS failure."""
    text = str(exc)
    parsed = config.parsed_url
    if parsed is None or not parsed.tls:
        return None
    options = parsed.options
    if "CERTIFICATE_VERIFY_FAILED" in text:
        wrong_host = _NOT_VALID_FOR.search(text)
        if wrong_host or "mismatch" in text:
            host = wrong_host.group(1) if wrong_host else parsed.host
            return (
                f"TLS: the server's certificate is not valid for the host {host!r}: connect by "
                "a name the certificate lists, or set ssl_check_hostname=false"
            )
        reason = _VERIFY_REASON.search(text)
        why = f" ({reason.group(1)})" if reason else ""
        where = "ssl_ca_certs" if "ssl_ca_certs" in options else "ssl_ca_certs (none is set)"
        return (
            f"TLS: the server's certificate is not signed by a trusted CA{why}: {where} must "
            "name the CA that signed it"
        )
    client_cert = "ssl_certfile" in options
    if "CERTIFICATE_REQUIRED" in text or (
        "EOF occurred in violation of protocol" in text and not client_cert
    ):
        return (
            "TLS: the server requires a client certificate (mutual TLS) and none was given: "
            "set ssl_certfile and ssl_keyfile"
        )
    if any(word in text for word in _CLIENT_CERT_REFUSED) or "EOF occurred" in text:
        return (
            "TLS: the server refused the client certificate in ssl_certfile: it must be signed "
            "by a CA the server trusts (its tls-ca-cert-file)"
        )
    scheme = parsed.scheme.replace("rediss", "redis", 1)
    if any(word in text for word in _NOT_TLS):
        return f"TLS: the server does not speak TLS on this port: use {scheme}://"
    if "Timeout connecting" in text:
        # A plain server reads a ClientHello as the start of a command and waits for more.
        return (
            f"TLS: no handshake within {config.connect_timeout:g}s: the server is hung or slow, "
            f"or does not speak TLS on this port (then use {scheme}://)"
        )
    return None


def failure(exc: BaseException, config: CacheConfig) -> str:
    """A failure to reach the server in words: the TLS cause, else the error's type and text."""
    return explain(exc, config) or f"{type(exc).__name__}: {exc}"
