"""A seeded population of users with stable homes, ISPs, browsers and Okta Verify devices.

Detections compare a sign-in with the user's history (home city, ASN, IP, device), so the
background must be *consistent*: each person always signs in from the same home IP, browser and
phones. The tables (real cities, real residential/hosting ASNs) also resolve an attacker's origin in
scenarios. IP addresses are realistic public-looking strings; nothing ever contacts them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from detector.sim.events import Actor, Agent, AppRef, Engine, NetOwner, Origin, Place, PushDevice, hex_token, okta_id
from detector.sim.events import chars as _chars


def _p(city: str, state: str | None, country: str, postal: str, lat: float, lon: float) -> Place:
    return Place(city, state, country, postal, lat, lon)


CITIES: dict[str, Place] = {
    p.city: p
    for p in (
        _p("New York", "New York", "United States", "10001", 40.7128, -74.0060),
        _p("San Francisco", "California", "United States", "94103", 37.7749, -122.4194),
        _p("Chicago", "Illinois", "United States", "60601", 41.8781, -87.6298),
        _p("Seattle", "Washington", "United States", "98101", 47.6062, -122.3321),
        _p("Austin", "Texas", "United States", "78701", 30.2672, -97.7431),
        _p("Boston", "Massachusetts", "United States", "02108", 42.3601, -71.0589),
        _p("Denver", "Colorado", "United States", "80202", 39.7392, -104.9903),
        _p("Atlanta", "Georgia", "United States", "30303", 33.7490, -84.3880),
        _p("Los Angeles", "California", "United States", "90012", 34.0522, -118.2437),
        _p("Miami", "Florida", "United States", "33130", 25.7617, -80.1918),
        _p("Toronto", "Ontario", "Canada", "M5H", 43.6532, -79.3832),
        _p("Vancouver", "British Columbia", "Canada", "V6B", 49.2827, -123.1207),
        _p("London", "England", "United Kingdom", "EC1A", 51.5074, -0.1278),
        _p("Manchester", "England", "United Kingdom", "M1", 53.4808, -2.2426),
        _p("Berlin", "Land Berlin", "Germany", "10115", 52.5200, 13.4050),
        _p("Munich", "Bavaria", "Germany", "80331", 48.1351, 11.5820),
        _p("Frankfurt", "Hesse", "Germany", "60311", 50.1109, 8.6821),
        _p("Paris", "Île-de-France", "France", "75001", 48.8566, 2.3522),
        _p("Amsterdam", "North Holland", "Netherlands", "1012", 52.3676, 4.9041),
        _p("Dublin", "Leinster", "Ireland", "D02", 53.3498, -6.2603),
        _p("Madrid", "Madrid", "Spain", "28013", 40.4168, -3.7038),
        _p("Stockholm", "Stockholm", "Sweden", "111 20", 59.3293, 18.0686),
        _p("Zurich", "Zurich", "Switzerland", "8001", 47.3769, 8.5417),
        _p("Bengaluru", "Karnataka", "India", "560001", 12.9716, 77.5946),
        _p("Singapore", None, "Singapore", "018989", 1.3521, 103.8198),
        _p("Tokyo", "Tokyo", "Japan", "100-0001", 35.6762, 139.6503),
        _p("Sydney", "New South Wales", "Australia", "2000", -33.8688, 151.2093),
        _p("Sao Paulo", "Sao Paulo", "Brazil", "01310", -23.5505, -46.6333),
        _p("Moscow", "Moscow", "Russia", "101000", 55.7558, 37.6173),
        _p("Lagos", "Lagos", "Nigeria", "100001", 6.5244, 3.3792),
        _p("Bucharest", "Bucuresti", "Romania", "010011", 44.4268, 26.1025),
        _p("Ho Chi Minh City", "Ho Chi Minh", "Vietnam", "700000", 10.8231, 106.6297),
    )
}

# Where most of the workforce lives (weights for home cities); the rest of CITIES is for travel/attackers.
HOME_WEIGHTS: dict[str, int] = {
    "New York": 8, "San Francisco": 7, "Chicago": 5, "Seattle": 4, "Austin": 4, "Boston": 4,
    "Denver": 3, "Atlanta": 3, "Los Angeles": 4, "Miami": 2, "Toronto": 3, "Vancouver": 2,
    "London": 5, "Manchester": 2, "Berlin": 3, "Munich": 2, "Frankfurt": 1, "Paris": 2,
    "Amsterdam": 2, "Dublin": 2, "Madrid": 1, "Stockholm": 1, "Zurich": 1, "Bengaluru": 3,
    "Singapore": 1, "Tokyo": 1, "Sydney": 1,
}  # fmt: skip


@dataclass(frozen=True)
class Network:
    """An ASN with the country it serves and some of its public prefixes (to draw IPs from)."""

    owner: NetOwner
    country: str
    prefixes: tuple[str, ...]
    kind: str = "residential"  # residential | hosting


def _n(
    asn: int,
    org: str,
    isp: str,
    domain: str,
    country: str,
    prefixes: str,
    kind: str = "residential",
    proxy: bool = False,
) -> Network:
    return Network(NetOwner(asn, org, isp, domain, proxy), country, tuple(prefixes.split()), kind)


# fmt: off
NETWORKS: dict[int, Network] = {
    n.owner.asn: n
    for n in (
        _n(7922, "comcast cable communications, llc", "comcast cable communications llc", "comcast.net",
           "United States", "73.15 73.162 98.207 24.6 76.104"),
        _n(7018, "at&t corp.", "att services inc", "sbcglobal.net", "United States", "99.12 107.77 108.210"),
        _n(701, "verizon business", "verizon", "verizon.net", "United States", "72.69 108.35 71.191"),
        _n(20115, "charter communications", "charter communications inc", "spectrum.com",
           "United States", "24.160 66.190 97.84"),
        _n(22773, "cox communications inc.", "cox communications inc.", "cox.net", "United States",
           "68.2 70.173 98.164"),
        _n(812, "rogers communications canada inc.", "rogers communications canada inc.", "rogers.com",
           "Canada", "99.230 174.112 72.141"),
        _n(6327, "shaw communications inc.", "shaw communications inc.", "shawcable.net", "Canada",
           "24.85 70.66 174.7"),
        _n(2856, "british telecommunications plc", "bt public internet service", "btcentralplus.com",
           "United Kingdom", "86.140 81.154 109.147"),
        _n(5089, "virgin media limited", "virgin media", "virginm.net", "United Kingdom", "82.24 86.18 92.238"),
        _n(3320, "deutsche telekom ag", "deutsche telekom ag", "t-ipconnect.de", "Germany",
           "79.192 87.123 91.40 93.207"),
        _n(3209, "vodafone gmbh", "vodafone gmbh", "vodafone.de", "Germany", "88.64 94.134 178.200"),
        _n(3215, "orange s.a.", "orange", "orange.fr", "France", "90.3 86.245 92.184"),
        _n(12322, "free sas", "free sas", "proxad.net", "France", "82.64 78.192 88.170"),
        _n(1136, "kpn b.v.", "kpn b.v.", "kpn.net", "Netherlands", "77.160 84.84 145.53"),
        _n(5466, "eircom limited", "eir", "eircom.net", "Ireland", "86.40 79.97 159.134"),
        _n(3352, "telefonica de espana s.a.u.", "telefonica de espana", "rima-tde.net", "Spain",
           "83.32 88.12 80.28"),
        _n(3301, "telia company ab", "telia company ab", "telia.com", "Sweden", "78.67 81.224 90.224"),
        _n(3303, "bluewin is an lir and isp in switzerland.", "swisscom (schweiz) ag", "swisscom.ch",
           "Switzerland", "85.0 178.197 83.76"),
        _n(24560, "bharti airtel ltd.", "bharti airtel ltd.", "airtel.in", "India", "122.171 182.68 106.51"),
        _n(9506, "singtel fibre broadband", "singnet pte ltd", "singnet.com.sg", "Singapore", "116.86 118.200"),
        _n(2516, "kddi corporation", "kddi corporation", "kddi.com", "Japan", "106.130 111.239 182.169"),
        _n(1221, "telstra corporation ltd", "telstra internet", "bigpond.net.au", "Australia",
           "101.160 120.144 124.168"),
        _n(28573, "claro nxt telecomunicacoes ltda", "claro s.a.", "claro.com.br", "Brazil", "177.33 189.4"),
        _n(8359, "mts pjsc", "mts pjsc", "mts.ru", "Russia", "95.24 213.87 188.32"),
        _n(29465, "mtn nigeria communication limited", "mtn nigeria", "mtnnigeria.net", "Nigeria",
           "102.89 105.112"),
        _n(8708, "rcs & rds sa", "rcs & rds residential", "rcs-rds.ro", "Romania", "86.120 89.136 5.12"),
        _n(7552, "viettel group", "viettel corporation", "viettel.vn", "Vietnam", "113.185 27.72"),
        _n(14061, "digitalocean, llc", "digitalocean, llc", "digitalocean.com", "United States",
           "159.89 167.99 138.68", "hosting"),
        _n(16509, "amazon.com, inc.", "amazon.com inc.", "amazonaws.com", "United States",
           "3.91 18.204 52.14", "hosting"),
        _n(396982, "google llc", "google cloud", "googleusercontent.com", "United States", "34.86 35.203",
           "hosting"),
        _n(9009, "m247 europe srl", "m247 ltd", "m247.com", "Romania", "185.156 193.27 89.46", "hosting",
           proxy=True),
        _n(60068, "datacamp limited", "cdn77.com", "cdn77.com", "United Kingdom", "89.187 212.102 195.181",
           "hosting", proxy=True),
    )
}
# fmt: on

BROWSERS: tuple[Agent, ...] = (
    Agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36", "Windows 10", "CHROME"),
    Agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36", "Mac OS X", "CHROME"),
    Agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4.1 Safari/605.1.15", "Mac OS X", "SAFARI"),
    Agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", "Windows 10",
          "FIREFOX"),
    Agent("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Linux", "FIREFOX"),
    Agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80", "Windows 10", "EDGE"),
)  # fmt: skip

_PHONES: tuple[tuple[str, str, str, str], ...] = (
    # (display name, platform, OS version, model)
    ("iPhone 15", "IOS", "17.4.1", "Apple/iPhone15,4"),
    ("iPhone 14 Pro", "IOS", "17.3.1", "Apple/iPhone15,2"),
    ("iPhone 13", "IOS", "16.7.7", "Apple/iPhone14,5"),
    ("Galaxy S23", "ANDROID", "14", "samsung/SM-S911B"),
    ("Pixel 8", "ANDROID", "14", "Google/Pixel 8"),
    ("iPad Air", "IOS", "17.4.1", "Apple/iPad13,16"),
)

APPS: tuple[AppRef, ...] = (
    AppRef("0oaOhbVrpoiVgRV5IfLB", "salesforce", "Salesforce.com"),
    AppRef("0oacbfnoGMbJmTPSIAoC", "slack", "Slack"),
    AppRef("0oaLrZ3aWZkSBvrjn9Wv", "google", "Google Workspace"),
    AppRef("0oagfygw2wMqZcUDIh7y", "zoomus", "Zoom", "SAML_2_0"),
    AppRef("0oafJs1ON43xKmTecQoX", "githubcloud", "GitHub Enterprise Cloud"),
    AppRef("0oasf2o3gyrDO1xkxwnQ", "atlassian", "Atlassian Cloud", "OPENID_CONNECT"),
    AppRef("0oarS7RPeMOkIUpkDyr7", "workday", "Workday"),
    AppRef("0oaOSJoRu1XXdo0cZuzr", "boxnet", "Box"),
    AppRef("0oaen68K4TunPFz46PDj", "amazon_aws_sso", "AWS IAM Identity Center"),
    AppRef("0oaqipVJIqVLB5LzxoiG", "servicenow_ud", "ServiceNow"),
)

# fmt: off
_FIRST: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Priya", "Wei", "Hiroshi", "Sofia", "Lukas", "Emma", "Noah", "Olivia", "Mateo", "Aisha", "Omar",
    "Chloe", "Liam", "Anna", "Yuki", "Chen", "Arjun", "Fatima", "Lars", "Ingrid", "Diego", "Camila",
)
# fmt: on
# fmt: off
_LAST: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Clark", "Lewis", "Patel", "Nguyen", "Kim",
    "Schmidt", "Muller", "Rossi", "Dubois", "Tanaka", "Silva", "Okafor", "Larsen", "Novak",
    "Kowalski", "Singh", "Cohen",
)
# fmt: on


class OrgLike(Protocol):
    """The part of `SimOrg` a population needs (kept structural so tests can pass a fake)."""

    def add_user(
        self,
        *,
        login: str,
        first_name: str,
        last_name: str,
        status: str = ...,
        groups: list[str] | None = ...,
        user_id: str | None = ...,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class NamedUser:
    """A user a scenario refers to by login (the victim); the rest of the population is random."""

    login: str
    first_name: str
    last_name: str
    home: str | None = None  # city name in CITIES
    devices: int | None = None  # Okta Verify devices, 1..3
    id: str | None = None  # pin the user id (e.g. raw events in a scenario refer to it)


@dataclass(frozen=True)
class Person:
    """One user and everything stable about how they sign in."""

    id: str
    login: str
    first_name: str
    last_name: str
    home: Place
    network: Network
    home_ip: str
    browser: Agent
    fingerprint: str
    dt_hash: str
    devices: tuple[PushDevice, ...]
    apps: tuple[AppRef, ...]
    groups: tuple[str, ...] = ("Everyone",)

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.login, f"{self.first_name} {self.last_name}")

    def home_origin(self) -> Origin:
        """The user's laptop browser at home."""
        return Origin(self.home_ip, self.home, self.network.owner, self.browser, self.fingerprint, self.dt_hash)

    def phone_origin(self, device: PushDevice) -> Origin:
        """Okta Verify on `device`, on the home Wi-Fi: the responder of a push."""
        return Origin(self.home_ip, self.home, self.network.owner, device.agent)


def random_ip(rng: random.Random, network: Network) -> str:
    """A host address inside one of the network's prefixes (never .0 / .255)."""
    parts = rng.choice(network.prefixes).split(".")
    while len(parts) < 3:
        parts.append(str(rng.randint(0, 255)))
    parts.append(str(rng.randint(1, 254)))
    return ".".join(parts)


def residential_networks(country: str) -> list[Network]:
    return [n for n in NETWORKS.values() if n.country == country and n.kind == "residential"]


def make_origin(
    rng: random.Random,
    *,
    city: str,
    ip: str | None = None,
    asn: int | None = None,
    agent: Agent | None = None,
    proxy: bool | None = None,
    threat_suspected: bool = False,
) -> Origin:
    """An origin somewhere in CITIES (fresh browser cookies), e.g. an attacker's or a traveller's."""
    place = CITIES[city]
    if asn is not None:
        net = NETWORKS[asn]
    else:
        choices = residential_networks(place.country) or [NETWORKS[14061]]
        net = rng.choice(choices)
    owner = net.owner if proxy is None else replace(net.owner, is_proxy=proxy)
    return Origin(
        ip=ip or random_ip(rng, net),
        place=place,
        net=owner,
        agent=agent or rng.choice(BROWSERS),
        fingerprint=hex_token(rng, 32),
        dt_hash=hex_token(rng, 64),
        threat_suspected=threat_suspected,
    )


def _push_device(rng: random.Random, phone: tuple[str, str, str, str]) -> PushDevice:
    name, platform, osv, model = phone
    if platform == "IOS":
        raw = (
            f"{_chars(rng, 10).upper()}.com.okta.mobile/9.21.0 OktaVerify/9.21.0 iOS/{osv} {model} "
            f"{_chars(rng, 8, '0123456789ABCDEF')}-{_chars(rng, 4, '0123456789ABCDEF')}"
        )
        agent = Agent(raw, "iOS", "UNKNOWN", "Mobile")
    else:
        raw = f"com.okta.android.auth/9.20.0 DeviceSDK/0.19.0 Android/{osv} {model}"
        agent = Agent(raw, "Android", "UNKNOWN", "Mobile")
    return PushDevice(okta_id(rng, "guo"), okta_id(rng, "opf"), name, platform, agent)


@dataclass
class Population:
    """The users of one simulated org; deterministic given the RNG passed to `build`."""

    people: list[Person]
    engine: Engine = "oie"
    domain: str = "acme.com"
    _by_login: dict[str, Person] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_login = {p.login: p for p in self.people}

    @classmethod
    def build(
        cls,
        rng: random.Random,
        size: int,
        *,
        engine: Engine = "oie",
        domain: str = "acme.com",
        named: Sequence[NamedUser] = (),
    ) -> Population:
        """`size` people in total; the `named` ones first (fixed logins), the rest drawn from `rng`."""
        homes = list(HOME_WEIGHTS)
        weights = [HOME_WEIGHTS[c] for c in homes]
        people: list[Person] = []
        logins: set[str] = set()
        for nu in named:
            person = _person(rng, nu.login, nu.first_name, nu.last_name, nu.home, nu.devices, homes, weights)
            people.append(replace(person, id=nu.id) if nu.id else person)
            logins.add(nu.login.lower())
        while len(people) < size:
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            login = f"{first}.{last}@{domain}".lower()
            n = 2
            while login in logins:
                login = f"{first}.{last}{n}@{domain}".lower()
                n += 1
            logins.add(login)
            people.append(_person(rng, login, first, last, None, None, homes, weights))
        return cls(people, engine, domain)

    def __len__(self) -> int:
        return len(self.people)

    def __iter__(self) -> Iterator[Person]:
        return iter(self.people)

    def by_login(self, login: str) -> Person:
        try:
            return self._by_login[login]
        except KeyError:
            raise KeyError(f"no user {login!r} in the population") from None

    def register(self, org: OrgLike) -> None:
        """Create every person in the org (`SimOrg.add_user`), keeping the population's user ids."""
        for i, p in enumerate(self.people):
            user = org.add_user(
                login=p.login,
                first_name=p.first_name,
                last_name=p.last_name,
                status="ACTIVE",
                groups=list(p.groups),
                user_id=p.id,
            )
            uid = user.get("id", p.id) if isinstance(user, dict) else p.id
            if uid != p.id:  # the org chose its own id: follow it
                self.people[i] = replace(p, id=uid)
        self.__post_init__()

    def pick(self, rng: random.Random, k: int, exclude: Iterable[str] = ()) -> list[Person]:
        """`k` distinct people (not in `exclude` logins), e.g. password-spray targets."""
        skip = set(exclude)
        pool = [p for p in self.people if p.login not in skip]
        return rng.sample(pool, min(k, len(pool)))


def _person(
    rng: random.Random,
    login: str,
    first: str,
    last: str,
    home: str | None,
    n_devices: int | None,
    homes: list[str],
    weights: list[int],
) -> Person:
    place = CITIES[home] if home else CITIES[rng.choices(homes, weights)[0]]
    net = rng.choice(residential_networks(place.country))
    n_dev = n_devices or rng.choice((1, 1, 2))
    phones = rng.sample(_PHONES, n_dev)
    return Person(
        id=okta_id(rng, "00u"),
        login=login,
        first_name=first,
        last_name=last,
        home=place,
        network=net,
        home_ip=random_ip(rng, net),
        browser=rng.choice(BROWSERS),
        fingerprint=hex_token(rng, 32),
        dt_hash=hex_token(rng, 64),
        devices=tuple(_push_device(rng, ph) for ph in phones),
        apps=tuple(rng.sample(APPS, rng.randint(3, 6))),
    )
