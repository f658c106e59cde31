"""TLS verification for Scrapy's own downloads (robots.txt, unrendered pages).

The recording proxy verifies the sites the browser talks to (`EVIDENCE_TLS_VERIFY`,
`EVIDENCE_TLS_CA_FILE`); this context factory (`DOWNLOADER_CLIENTCONTEXTFACTORY`) gives
Scrapy's downloader the same rule and the same trusted CAs: the system's, plus the PEM file.
"""

from __future__ import annotations

from typing import Any

from OpenSSL import SSL
from scrapy.core.downloader.contextfactory import _ScrapyClientContextFactory
from twisted.internet._sslverify import IOpenSSLTrustRoot  # Twisted's interface, long stable
from twisted.internet.ssl import optionsForClientTLS
from zope.interface import implementer


@implementer(IOpenSSLTrustRoot)
class _SystemAndFile:
    """The platform's trusted CAs plus those of `ca_file`."""

    def __init__(self, ca_file: str | None) -> None:
        self.ca_file = ca_file

    def _addCACertsToContext(self, context: SSL.Context) -> None:
        context.set_default_verify_paths()
        if self.ca_file:
            context.load_verify_locations(self.ca_file)


class EvidenceContextFactory(_ScrapyClientContextFactory):
    """Scrapy's context factory, verifying certificates unless `EVIDENCE_TLS_VERIFY` is off."""

    def __init__(self, *args: Any, ca_file: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trust_root = _SystemAndFile(ca_file)

    @classmethod
    def from_crawler(cls, crawler: Any, method: int | None = SSL.SSLv23_METHOD,  # noqa: S503
                     *args: Any, **kwargs: Any) -> EvidenceContextFactory:
        settings = crawler.settings
        verify = settings.getbool("EVIDENCE_TLS_VERIFY", True)
        factory = super().from_crawler(crawler, method, *args,
                                       ca_file=settings.get("EVIDENCE_TLS_CA_FILE") or None,
                                       **kwargs)
        factory._verify_certificates = verify
        return factory

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        if not self._verify_certificates:
            return super().creatorForNetloc(hostname, port)
        trust: Any = self.trust_root
        return optionsForClientTLS(hostname=hostname.decode("ascii"), trustRoot=trust,
                                   extraCertificateOptions=self._get_cert_options_kwargs())
