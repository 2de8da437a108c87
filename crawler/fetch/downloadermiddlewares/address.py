"""No requests to internal addresses: links taken from fetched content never reach the LAN.

Links in feeds, listings and sitemaps, and the redirects they lead to, are third-party
content. A request whose host is not the host of a configured source URL is refused when
that host is, or resolves to, an address that is not on the public internet (loopback,
private, link-local, multicast, reserved, shared), unless `crawl.allow_private_networks`
holds the address. Requests to a source's own host are not checked: a source on a LAN
host keeps working, links to its own pages included.

The check is made three times, so that a name answering a public address to one lookup
and an internal one to the next (DNS rebinding) does not slip through:
- before the request (`AddressGuardMiddleware`, ahead of robots.txt): an address written
  in the URL is refused outright, a name is resolved and each of its addresses checked;
- at the connection (`GuardedNameResolver`, wrapping the reactor's name resolver): the
  connection's own lookup drops internal addresses of hosts that are not trusted, so the
  crawl has nothing internal to connect to;
- on the response (`ConnectedAddressMiddleware`): the address actually connected to
  (`response.ip_address`) is checked once more before anything is read from it.

A refusal is an `AddressRefused` (a `PageRefused`): the spider's errback records the
reason on the run, and one WARNING line names the source. Which hosts are trusted and
which networks allowed is the runner's business (settings PRESSWATCH_TRUSTED_HOSTS and
PRESSWATCH_ALLOW_NETWORKS).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.request import getproxies

from scrapy.exceptions import CannotResolveHostError
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver
from zope.interface import implementer

from presswatch.crawler.fetch.downloadermiddlewares import AddressRefused, source_id_of

log = logging.getLogger("presswatch.crawl")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The kinds of address named in a refusal, in the order they are told apart (169.254.x.x
# is private too, but "link-local" says more).
_KINDS = ("loopback", "link_local", "multicast", "unspecified", "reserved", "private")


def bare_host(host: str) -> str:
    """A host as compared: lowercase, without a leading "www." or the brackets of IPv6."""
    return host.strip("[]").lower().removeprefix("www.")


def source_hosts(urls: Iterable[str | None]) -> frozenset[str]:
    """The bare hosts of configured source URLs: the hosts whose requests are trusted."""
    return frozenset(bare_host(host) for url in urls if url and (host := urlsplit(url).hostname))


def internal_kind(address: str) -> str | None:
    """What makes an address internal ("loopback", "private", ...), or None for a public one.

    An IPv4 address written as IPv6 (::ffff:10.0.0.5) is judged as the IPv4 address.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in _KINDS:
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "not public"


def ip_literal(host: str) -> str | None:
    """The host as an IP address when the URL names one, else None (a name)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which hosts are trusted (those of the sources' URLs) and which networks are allowed."""

    trusted_hosts: frozenset[str] = frozenset()
    allowed: tuple[IpNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings) -> AddressPolicy:
        trusted = {bare_host(h) for h in settings.getlist("PRESSWATCH_TRUSTED_HOSTS")}
        if settings.getbool("HTTPPROXY_ENABLED"):
            # Scrapy sends requests through the proxies of the environment (http_proxy,
            # https_proxy), often on an internal address: those are connected to, on purpose.
            trusted |= source_hosts(getproxies().values())
        return cls(frozenset(trusted), tuple(ipaddress.ip_network(n, strict=False)
                                             for n in settings.getlist("PRESSWATCH_ALLOW_NETWORKS")))

    def trusts(self, host: str) -> bool:
        return bare_host(host) in self.trusted_hosts

    def refusal(self, address: str) -> str | None:
        """Why a request may not go to `address` ("private", ...), or None when it may."""
        kind = internal_kind(address)
        if kind is None:
            return None
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        mapped = ip.ipv4_mapped if ip.version == 6 else None
        if any(ip in net or (mapped is not None and mapped in net) for net in self.allowed):
            return None
        return kind


def refused(request, host: str, address: str, kind: str, source_id: str | None) -> AddressRefused:
    """The refusal of `request`, logged once (WARNING, naming the source)."""
    where = host if host == address else f"{host} ({address})"
    what = f"{where} is an internal address ({kind})"
    log.warning("source=%s link refused: %s: %s", source_id or "-", what, request.url)
    return AddressRefused(f"refused: {what}, neither a source's host nor in crawl.allow_private_networks")


class AddressGuardMiddleware:
    """Before a request leaves (and before robots.txt is asked for): refuses a host that
    is, or resolves to, an internal address. Installs the guarded resolver on the reactor."""

    def __init__(self, crawler, policy: AddressPolicy):
        self.crawler = crawler
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler, AddressPolicy.from_settings(crawler.settings))

    async def process_request(self, request):
        # Imported here: importing the reactor installs one, and the asyncio reactor must come first.
        from twisted.internet import reactor

        # Installed (again) at each request: CrawlerProcess installs its own resolver when it
        # starts, after the middlewares were made; whoever replaces it, it is wrapped again.
        resolver = GuardedNameResolver.install(reactor, self.policy)
        url = urlparse_cached(request)
        host = url.hostname
        if not host or url.scheme not in ("http", "https") or self.policy.trusts(host):
            return None
        literal = ip_literal(host)
        timeout = request.meta.get("download_timeout") or self.crawler.settings.getfloat("DOWNLOAD_TIMEOUT")
        addresses = [literal] if literal else await resolver.lookup(host, url.port or 0, timeout)
        for address in addresses:
            if kind := self.policy.refusal(address):
                raise refused(request, host, address, kind, source_id_of(request, self.crawler))
        return None  # a name that does not resolve fails at the download, with its own reason


class ConnectedAddressMiddleware:
    """Next to the download handler: checks the address a response came from, and names
    the reason when the guarded resolver left a connection nothing to connect to."""

    def __init__(self, crawler, policy: AddressPolicy):
        self.crawler = crawler
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler, AddressPolicy.from_settings(crawler.settings))

    def process_response(self, request, response):
        host = urlparse_cached(request).hostname
        address = response.ip_address
        # Through a proxy, the address is the proxy's; the host was checked before the request.
        if address is None or not host or self.policy.trusts(host) or request.meta.get("proxy"):
            return response
        if kind := self.policy.refusal(str(address)):
            raise refused(request, host, str(address), kind, source_id_of(request, self.crawler))
        return response

    def process_exception(self, request, exception):
        if not isinstance(exception, (CannotResolveHostError, DNSLookupError)):
            return None
        # Imported here: importing the reactor installs one, and the asyncio reactor must come first.
        from twisted.internet import reactor

        host = urlparse_cached(request).hostname or ""
        resolver = reactor.nameResolver
        dropped = resolver.dropped.pop(host, None) if isinstance(resolver, GuardedNameResolver) else None
        if dropped is None:
            return None
        address, kind = dropped
        raise refused(request, host, address, kind, source_id_of(request, self.crawler))


@implementer(IHostnameResolver)
class GuardedNameResolver:
    """The reactor's name resolver, minus the internal addresses of hosts not trusted.

    Every connection Scrapy makes looks its host up through the reactor's resolver; this
    one passes on only the addresses the policy allows, so whatever a name answers at
    that moment, nothing internal is connected to. One policy per process (its config's):
    installing again replaces it. `dropped` keeps, per host, the last address dropped, for
    the reason of the refusal.
    """

    def __init__(self, inner, policy: AddressPolicy):
        self.inner = inner
        self.policy = policy
        self.dropped: dict[str, tuple[str, str]] = {}

    @classmethod
    def install(cls, reactor, policy: AddressPolicy) -> GuardedNameResolver:
        current = reactor.nameResolver
        if isinstance(current, cls):
            current.policy = policy
            return current
        guarded = cls(current, policy)
        reactor.installNameResolver(guarded)
        return guarded

    def resolveHostName(self, resolutionReceiver, hostName, portNumber=0,  # noqa: N802, N803 (Twisted's names)
                        addressTypes=None, transportSemantics="TCP"):
        receiver = resolutionReceiver
        if not self.policy.trusts(hostName):
            receiver = _Filtering(resolutionReceiver, hostName, self)
        return self.inner.resolveHostName(receiver, hostName, portNumber, addressTypes, transportSemantics)

    async def lookup(self, host: str, port: int = 0, timeout: float = 30.0) -> list[str]:
        """Every address `host` resolves to now; none when it does not resolve in `timeout`
        seconds (the connection's own lookup is guarded all the same)."""
        # Imported here: importing the reactor installs one, and the asyncio reactor must come first.
        from twisted.internet import reactor

        found: list[str] = []
        done: Deferred[list[str]] = Deferred()
        done.addTimeout(timeout, reactor)
        self.inner.resolveHostName(_Collecting(found, done), host, port)
        try:
            return await maybe_deferred_to_future(done)
        except (DNSLookupError, defer.TimeoutError):
            return []


@implementer(IResolutionReceiver)
class _Filtering:
    def __init__(self, receiver, host: str, resolver: GuardedNameResolver):
        self.receiver = receiver
        self.host = host
        self.resolver = resolver
        resolver.dropped.pop(host, None)  # this lookup's answer is the one that counts

    def resolutionBegan(self, resolutionInProgress):  # noqa: N802, N803
        self.receiver.resolutionBegan(resolutionInProgress)

    def addressResolved(self, address):  # noqa: N802
        kind = self.resolver.policy.refusal(address.host)
        if kind is None:
            self.receiver.addressResolved(address)
        else:
            self.resolver.dropped[self.host] = (address.host, kind)

    def resolutionComplete(self):  # noqa: N802
        self.receiver.resolutionComplete()


@implementer(IResolutionReceiver)
class _Collecting:
    def __init__(self, found: list[str], done: Deferred):
        self.found = found
        self.done = done

    def resolutionBegan(self, resolutionInProgress):  # noqa: N802, N803
        pass

    def addressResolved(self, address):  # noqa: N802
        self.found.append(address.host)

    def resolutionComplete(self):  # noqa: N802
        if not self.done.called:  # (not timed out already)
            self.done.callback(self.found)
