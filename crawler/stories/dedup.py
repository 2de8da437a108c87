"""Near duplicates: MinHash signatures of article texts, and the LSH buckets that find them.

An article reprinted by another outlet is rarely byte-identical: a new headline, a credit
line, a trimmed paragraph. Two texts are compared as sets of word shingles (runs of
`shingle` words after NFKC normalisation and case folding); MinHash estimates their
Jaccard similarity from `permutations` numbers each, and locality-sensitive hashing cuts
each signature into bands: two signatures that agree on a whole band share a bucket.

The signatures are datasketch's (2.x, scheme affine32), value for value, and the bands its
optimiser's, computed here with numpy alone: importing datasketch costs a process start
about 0.4 s of CPU (its package imports scipy.integrate and redis for its other LSH
variants), and a MinHash object per text adds to the hashing itself.
tests/test_stories.py checks both against datasketch.
The store keeps signatures and buckets, so a lookup is a few indexed queries however many
articles are stored, and the candidates it returns are confirmed by estimated similarity.

Two kinds of signature: `text`, of a full text (at least `MIN_TEXT_WORDS` words), and
`short`, of the headline and lead (unigrams and bigrams), for feed entries that carry no
more than a summary. Every article gets a `short` signature, so an entry with a summary can
join a story first seen as a full page.

Pure functions and values: no database, no network.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

# A full text shorter than this is compared by its headline and lead instead.
MIN_TEXT_WORDS = 40
# The headline and lead: enough words to tell two stories apart, few enough that a
# summary and a full page of the same story share most of them.
LEAD_WORDS = 40
# Below this many words, a headline and lead say too little to call anything a copy.
MIN_SHORT_WORDS = 8
# datasketch's permutation scheme (since 2.0) and the hash it applies to each shingle.
HASH_SCHEME = "affine32-sha1"

# The LSH index is laid out to find pairs from this similarity up, whatever the thresholds.
INDEX_SIMILARITY = {"text": 0.5, "short": 0.6}

_WORD = re.compile(r"\w+")
_KINDS = ("text", "short")


def words(text: str) -> list[str]:
    """The words of `text`, NFKC-normalised and case-folded; punctuation is dropped."""
    return list(_words(text))


@lru_cache(maxsize=8)
def _words(text: str) -> tuple[str, ...]:
    """`words`, kept for the last few texts: an article's title and text are read for both
    its signatures and its version hash, three times each otherwise (a tuple: shared)."""
    return tuple(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


@dataclass(frozen=True)
class Scheme:
    """How signatures are made and banded; two signatures compare only under one scheme."""

    permutations: int = 128
    seed: int = 1
    shingle: int = 3
    threshold: float = 0.5  # full texts
    short_threshold: float = 0.7  # headline and lead

    @property
    def label(self) -> str:
        """Everything that must match for two signatures (and their buckets) to be comparable."""
        return f"minhash/{HASH_SCHEME}/w{self.shingle}/p{self.permutations}/s{self.seed}/lsh1"

    @cached_property
    def _permutations(self) -> tuple[np.ndarray, np.ndarray]:
        """datasketch's affine permutations (a odd, b) for this count and seed."""
        gen = np.random.RandomState(self.seed)
        a = gen.randint(0, 1 << 31, self.permutations, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, self.permutations, dtype=np.uint32)
        return a, b

    def bands(self, kind: str) -> tuple[int, int]:
        """(bands, rows per band) of the kind's LSH index.

        They depend on the permutation count only, never on the configured thresholds, so
        changing a threshold leaves the stored index usable. They are set for a similarity
        below any sensible threshold (`INDEX_SIMILARITY`), with misses weighed far above
        extra candidates (datasketch's optimiser): candidates are confirmed by similarity.
        """
        return _bands(INDEX_SIMILARITY[kind], self.permutations)

    def signature(self, shingles: set[bytes]) -> np.ndarray:
        """The MinHash values of a set of shingles: each shingle's SHA-1 (first 4 bytes,
        little-endian), mixed (MurmurHash3's finaliser), through every permutation
        h -> a*h + b mod 2^32; the least value of each permutation."""
        if not shingles:
            return np.full(self.permutations, 0xFFFFFFFF, dtype=np.uint32)
        sha1 = hashlib.sha1
        hashed = np.frombuffer(b"".join([sha1(s).digest()[:4] for s in shingles]), dtype="<u4")
        a, b = self._permutations
        return (_mix(hashed.astype(np.uint32)).reshape(-1, 1) * a + b).min(axis=0)


def _mix(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, as datasketch applies it before its permutations
    (arrays of uint32 wrap around: the arithmetic is mod 2^32)."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


@dataclass(frozen=True)
class Signature:
    """One signature of an article, ready to be stored and looked up."""

    kind: str  # "text" or "short"
    values: np.ndarray  # uint32, one per permutation
    buckets: tuple[int, ...]  # one signed 64-bit bucket key per band

    def to_bytes(self) -> bytes:
        return self.values.astype("<u4").tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4")


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the two sets the signatures were made from."""
    if len(a) != len(b):
        raise ValueError("signatures of different lengths are not comparable")
    return float(np.count_nonzero(a == b)) / len(a)


def text_shingles(text: str, size: int) -> set[bytes]:
    """Runs of `size` words of a text; an empty set when it is too short to compare."""
    found = _words(text)
    if len(found) < MIN_TEXT_WORDS:
        return set()
    # zip of the shifted word lists: each run of `size` words, without a slice per run.
    return {" ".join(run).encode() for run in zip(*(found[i:] for i in range(size)))}


def short_shingles(title: str, text: str) -> set[bytes]:
    """Words and word pairs of the headline and the lead; empty when there are too few."""
    found = (_words(title) + _words(text))[:LEAD_WORDS]
    if len(found) < MIN_SHORT_WORDS:
        return set()
    pairs = {f"{a} {b}" for a, b in zip(found, found[1:], strict=False)}
    return {w.encode() for w in set(found) | pairs}


def signatures(scheme: Scheme, title: str, text: str) -> list[Signature]:
    """The signatures of an article: `text` when it is long enough, and `short`."""
    made = []
    for kind, shingles in (("text", text_shingles(text, scheme.shingle)),
                           ("short", short_shingles(title, text))):
        if shingles:
            values = scheme.signature(shingles)
            made.append(Signature(kind, values, buckets(scheme, kind, values)))
    return made


def buckets(scheme: Scheme, kind: str, values: np.ndarray) -> tuple[int, ...]:
    """One bucket key per band: a 64-bit hash of the scheme, the kind, the band and its values."""
    bands, rows = scheme.bands(kind)
    prefix = f"{scheme.label}/{kind}/".encode()
    raw = values.astype("<u4").tobytes()
    width, blake2b, from_bytes = rows * 4, hashlib.blake2b, int.from_bytes
    return tuple(from_bytes(blake2b(prefix + band.to_bytes(2, "little") + raw[band * width:(band + 1) * width],
                                    digest_size=8).digest(), "little", signed=True)
                 for band in range(bands))


_BAND_CACHE: dict[tuple[float, int], tuple[int, int]] = {}


def _bands(threshold: float, permutations: int) -> tuple[int, int]:
    key = (threshold, permutations)
    if key not in _BAND_CACHE:
        _BAND_CACHE[key] = optimal_bands(threshold, permutations, 0.1, 0.9)
    return _BAND_CACHE[key]


def optimal_bands(threshold: float, permutations: int, fp_weight: float, fn_weight: float) -> tuple[int, int]:
    """datasketch's `_optimal_param`: the (bands, rows) whose weighted probabilities of a
    false positive (below `threshold`) and a false negative (above it) are least.

    The probability that two sets of similarity s share a bucket, 1 - (1 - s^r)^b, is a
    polynomial of degree r*b <= permutations, so Gauss-Legendre quadrature with
    permutations // 2 + 1 points integrates it exactly (scipy's adaptive `quad`, which
    datasketch uses, agrees to its tolerance)."""
    nodes, weights = np.polynomial.legendre.leggauss(permutations // 2 + 1)

    def integral(rows: int, bands: int, low: float, high: float, shared: bool) -> float:
        s = (high - low) / 2 * nodes + (high + low) / 2
        missed = (1 - s ** float(rows)) ** float(bands)
        return (high - low) / 2 * float(np.dot(weights, 1 - missed if shared else missed))

    least, best = float("inf"), (0, 0)
    for bands in range(1, permutations + 1):
        for rows in range(1, permutations // bands + 1):
            error = (integral(rows, bands, 0.0, threshold, True) * fp_weight
                     + integral(rows, bands, threshold, 1.0, False) * fn_weight)
            if error < least:
                least, best = error, (bands, rows)
    return best


def threshold_of(scheme: Scheme, kind: str) -> float:
    if kind not in _KINDS:
        raise ValueError(f"unknown signature kind {kind!r}")
    return scheme.threshold if kind == "text" else scheme.short_threshold


def version_hash(title: str, text: str) -> str:
    """A hash of an article's title and text that a change of spacing or case leaves alone:
    when it changes, the article has a new revision."""
    normal = " ".join(_words(title)) + "\n" + " ".join(_words(text))
    return hashlib.sha256(normal.encode()).hexdigest()
