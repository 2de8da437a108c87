"""Reactions: links found and wrong links, on the 2018 exchange and on the state media's
statements against unrelated events.

    .venv/bin/python bench/reactions_eval.py [CORPUS]     (or CORPUS=...; default ../shared/corpus)

(a) The 2018 exchange: background stories of the same days (tests/events_coverage.py) and
    other news (the corpus's cross_language/korean_english_news_park2016, windows of five
    lines in English and in Korean, from sources of no side), the report's coverage in
    English and Korean, then the state media's side (tests/reactions_coverage.py): KCNA's
    rebuttal, Rodong Sinmun's in Korean (both should answer the report's event), KCNA's
    statements on a UN report, an EU resolution and a US envoy (none should), and
    Yonhap's coverage of the rebuttal (no side: never linked, shown for where it went).
(b) The same events, then every distinct item of the corpus's north_korea/kcna_stiles_2024
    (KCNA, 2024) and north_korea/rodong_sinmun_thogra_2021_2022 as stories of a source
    tagged state-media: none of them answers anything here, so every link is wrong.

Each story goes through the real ingest (the default config's rules, a broad North Korea
rule, `events.scope: all` so every story is an event); for each matched story of a tagged
source the evidence against every candidate event is taken once, at its arrival, and the
thresholds are then tried on it. A story that joined an event of another side is taken out
of it, as a link would (so later statements still meet the report's event unmixed).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from types import SimpleNamespace
from datetime import UTC, datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from events_coverage import WRITE_UPS  # noqa: E402
from reactions_coverage import REBUTTAL_COVERAGE, STATE_MEDIA  # noqa: E402
from presswatch.config import Config, Rule, Source  # noqa: E402
from presswatch.config.loader import default_config_text  # noqa: E402
from presswatch.config.schema import Events, Reactions  # noqa: E402
from presswatch.crawler.store.database import Store  # noqa: E402
from presswatch.crawler.stories.ingest import Candidate, Ingest  # noqa: E402
from presswatch.crawler.stories.events import from_blob  # noqa: E402
from presswatch.crawler.stories.reactions import Linking, choose_answer  # noqa: E402

T0 = datetime(2018, 11, 1, 9, tzinfo=UTC)
HRW = ("reuters", "voa", "yonhap-ko", "dailynk")
BACKGROUND = ("missile", "railway", "kaesong", "un-rapporteur")
ANSWERS = ("kcna-rebuttal", "rodong-ko-rebuttal")
WINDOW_LINES = 5
GRID = [  # (min_names, min_cosine, strong_names, strong_cosine)
    (1, 0.2, 2, 0.4), (1, 0.3, 2, 0.4), (1, 0.3, 3, 0.4), (1, 0.4, 3, 0.4), (1, 0.3, 3, 0.5),
    (2, 0.3, 3, 0.4), (2, 0.2, 2, 0.3),
]
DEFAULTS = Reactions()
TITLES: dict[int, str] = {}  # event titles of both replays, (b)'s ids shifted by OFFSET
OFFSET = 1_000_000


def corpus_path() -> Path:
    given = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CORPUS")
    return Path(given) if given else (REPO / ".." / "shared" / "corpus").resolve()


def rules() -> tuple[Rule, ...]:
    default = [Rule(**r) for r in yaml.safe_load(default_config_text())["rules"]]
    broad = Rule(id="nk", query='"North Korea" OR "North Korean" OR DPRK OR Pyongyang OR 북한 OR 北')
    return (*default, broad)


def park_windows(corpus: Path) -> list[tuple[str, str, str, str]]:
    """(source, language, title, text): windows of WINDOW_LINES lines, English and Korean."""
    folder = corpus / "cross_language" / "korean_english_news_park2016"
    found = []
    for language, name in (("en", "korean-english-park.dev.en"), ("ko", "korean-english-park.dev.ko")):
        lines = (folder / name).read_text(encoding="utf-8").splitlines()
        for n in range(0, len(lines) - WINDOW_LINES + 1, WINDOW_LINES):
            text = " ".join(lines[n:n + WINDOW_LINES])
            found.append((f"park-{language}", language, " ".join(text.split()[:12]), text))
    return found


def state_samples(corpus: Path) -> list[tuple[str, str, str, str]]:
    """(source, language, title, text) of every distinct KCNA and Rodong Sinmun item."""
    kcna = json.loads((corpus / "north_korea" / "kcna_stiles_2024" / "kcna_sample_400.json").read_text())
    rodong = json.loads((corpus / "north_korea" / "rodong_sinmun_thogra_2021_2022" / "rodong_topnews_134.json")
                        .read_text())
    items = [("kcna-2024", "en", x["headline"], x["story_text"]) for x in kcna]
    items += [("rodong-2021", "en", x["title"], "\n".join(x["paragraphs"])) for x in rodong]
    return list({(title, text): (source, language, title, text) for source, language, title, text in items}.values())


class Replay:
    """A store, the ingest (reactions off: evidence is taken here) and a permissive Linking."""

    def __init__(self, folder: Path, tagged: set[str], keys: list[str]):
        self.sources = {key: Source(id=key, kind="feed", url=f"https://{key}.example/feed",
                                    tags=["state-media"] if key in tagged else []) for key in keys}
        config = Config(sources=tuple(self.sources.values()), rules=rules(), events=Events(scope="all"))
        self.store = Store(str(folder / f"{len(list(folder.iterdir()))}.db"))
        self.store.sync_sources([(s.id, s.kind, s.url, s.name) for s in config.sources])
        self.ingest = Ingest.from_config(self.store, config.rules, config.sources, events=config.events,
                                         reactions=Reactions(enabled=False))
        loose = Reactions(min_cosine=0.05, strong_cosine=0.05)  # every candidate worth trying
        self.linking = Linking(self.store, loose, self.ingest.linking.source_tags,
                               {r.id: r.reacts_to for r in config.rules})
        self.count = 0
        self.costs: list[float] = []  # seconds of deciding per matched story of a tagged source

    def arrive(self, source: str, language: str, title: str, text: str):
        self.count += 1
        return self.ingest.ingest(Candidate(source_id=source, url=f"https://{source}.example/{self.count}",
                                            title=title, text=text, extracted_from="page", published=T0,
                                            language=language))

    def evidence(self, result, title: str, text: str, source: str, language: str) -> list:
        """The evidence against each candidate, taken as the writer would at its arrival."""
        matches = self.ingest.matcher.match(title, text, source=source, language=language)
        if not matches or result.story_id is None or not self.store.has_story_vector(result.story_id):
            return []
        article = SimpleNamespace(source_id=source, headline=title, text=text)
        vector = from_blob(self.store.story_vector(result.story_id))
        tags = self.linking.source_tags[source]
        started = time.perf_counter()
        found = self.linking._evidence(result.story_id, vector, tags, result.event_id, article, matches, None)
        self.costs.append(time.perf_counter() - started)
        if any(e.event_id == result.event_id for e in found):  # it joined another side's event:
            with self.store.transaction():                    # out, as a link would take it
                self.linking._take_out(result.story_id, result.event_id, vector)
        return found


def setup(replay: Replay, corpus: Path) -> int:
    """Background, other news and the report's coverage; returns the report's event."""
    for source, language, title, text in park_windows(corpus):
        replay.arrive(source, language, title, text)
    for key in BACKGROUND:
        w = WRITE_UPS[key]
        replay.arrive(key, w.language, w.title, w.text)
    events = {replay.arrive(key, WRITE_UPS[key].language, WRITE_UPS[key].title, WRITE_UPS[key].text).event_id
              for key in HRW}
    assert len(events) == 1, events
    return events.pop()


def judge(cases: list[tuple[str, int | None, list]], settings: Reactions) -> tuple[int, int, int]:
    """(links found, links expected, wrong links) under `settings`."""
    found = wrong = 0
    for _, expected, evidence in cases:
        answer = choose_answer(settings, evidence)
        if answer is not None and answer.event_id == expected:
            found += 1
        elif answer is not None:
            wrong += 1
    return found, sum(1 for _, e, _ in cases if e is not None), wrong


def exchange(folder: Path, corpus: Path) -> tuple[list, int]:
    keys = ["park-en", "park-ko", *WRITE_UPS, *STATE_MEDIA, *REBUTTAL_COVERAGE]
    replay = Replay(folder, set(STATE_MEDIA), keys)
    hrw = setup(replay, corpus)
    cases = []
    for key, w in {**STATE_MEDIA, **REBUTTAL_COVERAGE}.items():
        result = replay.arrive(key, w.language, w.title, w.text)
        if key in STATE_MEDIA:
            evidence = replay.evidence(result, w.title, w.text, key, w.language)
            cases.append((key, hrw if key in ANSWERS else None, evidence))
        else:
            print(f"  {key} (no side): event {result.event_id}"
                  f"{' (the report event)' if result.event_id == hrw else ''}")
    TITLES.update({e["id"]: e["title"] for e in replay.store.events(limit=100000)})
    replay.store.close()
    return cases, hrw


def statements(folder: Path, corpus: Path) -> tuple[list, int]:
    keys = ["park-en", "park-ko", *WRITE_UPS, "kcna-2024", "rodong-2021"]
    replay = Replay(folder, {"kcna-2024", "rodong-2021"}, keys)
    setup(replay, corpus)
    cases, seen = [], 0
    for source, language, title, text in state_samples(corpus):
        seen += 1
        evidence = replay.evidence(replay.arrive(source, language, title, text), title, text, source, language)
        if evidence:
            cases.append((f"{source}: {title[:60]}", None, evidence))
    TITLES.update({e["id"] + OFFSET: e["title"] for e in replay.store.events(limit=100000)})
    costs = sorted(replay.costs)
    print(f"  deciding a link (reads and names, the embedding aside): median {costs[len(costs) // 2] * 1000:.1f} ms, "
          f"max {costs[-1] * 1000:.1f} ms a story, over {replay.store.event_counts()['events']} events")
    replay.store.close()
    return [(key, expected, [replace(e, event_id=e.event_id + OFFSET) for e in evidence])
            for key, expected, evidence in cases], seen


def main() -> None:
    corpus = corpus_path()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("(a) the 2018 exchange")
        exchange_cases, hrw = exchange(folder, corpus)
        for key, expected, evidence in exchange_cases:
            best = max(evidence, key=lambda e: (e.event_id == hrw, e.shared, e.cosine), default=None)
            if best is not None and best.event_id == hrw:
                print(f"  {key}: vs the report's event cosine {best.cosine:.3f}, its names {list(best.names)}, "
                      f"echoed {list(best.echoes)}, reacts_to {best.rule_id or '-'}")
            else:
                print(f"  {key}: the report's event not a candidate (other side, cosine floor)")
        print("(b) the state media's statements against unrelated events")
        statement_cases, seen = statements(folder, corpus)
    print(f"  {seen} distinct KCNA (2024) and Rodong Sinmun (2021-22) items, {len(statement_cases)} matched "
          f"a rule and met at least one candidate event")
    print()
    print("| reacts_to: names, cosine | without: names, cosine | (a) links found | (a) wrong links "
          "| (b) wrong links |")
    print("|---|---|---|---|---|")
    for min_names, min_cosine, strong_names, strong_cosine in GRID:
        settings = replace_settings(min_names, min_cosine, strong_names, strong_cosine)
        found, expected, wrong = judge(exchange_cases, settings)
        _, _, wrong_b = judge(statement_cases, settings)
        mark = " (default)" if settings == DEFAULTS else ""
        print(f"| {min_names}, {min_cosine:.1f}{mark} | {strong_names}, {strong_cosine:.1f} | {found}/{expected} | "
              f"{wrong}/{len(exchange_cases) - expected} | {wrong_b}/{len(statement_cases)} |")
    show_wrong("(a) wrong links with strong_names 2", exchange_cases, replace_settings(1, 0.3, 2, 0.4), TITLES)
    show_wrong("(b) wrong links at the defaults", statement_cases, DEFAULTS, TITLES)
    print(f"\n({time.perf_counter() - started:.0f} s)")


def show_wrong(label: str, cases: list, settings: Reactions, titles: dict[int, str]) -> None:
    print(f"\n{label}:")
    for key, expected, evidence in cases:
        answer = choose_answer(settings, evidence)
        if answer is not None and answer.event_id != expected:
            print(f"  {key} -> {titles.get(answer.event_id, f'event {answer.event_id}')[:60]!r}: cosine "
                  f"{answer.cosine:.3f}, names {list(answer.names)}, reacts_to {answer.rule_id or '-'}")


def replace_settings(min_names: int, min_cosine: float, strong_names: int, strong_cosine: float) -> Reactions:
    return DEFAULTS.model_copy(update={"min_names": min_names, "min_cosine": min_cosine,
                                       "strong_names": strong_names, "strong_cosine": strong_cosine})


if __name__ == "__main__":
    main()
