"""The mission rules on real North Korean state media, and on the bundled 2018 replay.

Usage: python bench/rules_eval.py [CORPUS] [--config FILE] [--show 40]
(CORPUS: the shared corpus folder; default $PRESSWATCH_CORPUS, else ../shared/corpus beside the
repository; FILE: a presswatch config, default the shipped mission config. Nothing is copied.)

Items: the 400 KCNA records of corpus/north_korea/kcna_stiles_2024 (source kcna; one story is
often listed under several menus: such twins, same headline and date, count as one story) and
the 134 Rodong Sinmun front-page articles of rodong_sinmun_thogra_2021_2022 (source
rodong-sinmun), all English; then the made-up November 2018 replay bundled with `presswatch demo`
(HRW's report, its coverage in English and Korean, KCNA's rebuttal), extracted by the product.

It prints, per rule: how many stories (and records) it matches, and which (date, source,
headline, the terms found). Then, for reading, the stories on the mission's subjects, sorted by
subject (human rights: "human rights" in the headline or at least 3 times in the text; sexual
violence: sexual violence/abuse/assault/harassment, rape, sex slaves; women: "women" at least
3 times), each with the rules that matched it or "-", and every matched story outside those
subjects. What is a misfire and what a miss is for a person to judge from these lists; the
findings are in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from presswatch.config import load_config
from presswatch.crawler.parse.extract import extract_page
from presswatch.crawler.parse.feeds import parse_feed
from presswatch.crawler.rules.match import RuleMatcher

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "scheduler" / "demo"
DEMO_FILES = {  # the replay's article pages and feeds, with the source they stand for
    "hrw-you-cry-at-night.html": "hrw", "hrw-violence-at-work.html": "hrw", "hrw-rss.xml": "hrw",
    "wire-feed-1.xml": "wire", "wire-feed-2.xml": "wire", "hanbit-rss-1.xml": "hanbit",
    "hanbit-rss-2.xml": "hanbit", "kcna-statement.html": "kcna", "kcna-rodong-commentary.html": "kcna",
    "kcna-textile-mill.html": "kcna", "kcna-greenhouse.html": "kcna",
}
SUBJECTS = {
    "human rights": lambda title, text: "human rights" in title.lower() or text.lower().count("human rights") >= 3,
    "sexual violence": lambda title, text: re.search(
        r"sexual (violence|abuse|assault|harassment)|\brap(e|ed|ing)\b|sex slave", f"{title} {text}", re.I),
    "women": lambda title, text: f"{title} {text}".lower().count("women") >= 3,
}


@dataclass
class Story:
    source: str
    date: str
    title: str
    text: str
    records: int = 1
    language: str = "en"


def corpus_folder(arg: str | None) -> Path:
    path = Path(arg or os.environ.get("PRESSWATCH_CORPUS") or REPO.parent / "shared" / "corpus")
    folder = path / "north_korea" if (path / "north_korea").is_dir() else path
    if not (folder / "kcna_stiles_2024").is_dir():
        sys.exit(f"no north_korea corpus at {path} (give its path, or set PRESSWATCH_CORPUS)")
    return folder


def load_stories(folder: Path) -> list[Story]:
    """KCNA records folded by (date, headline), then the Rodong Sinmun articles."""
    stories: dict[tuple[str, str], Story] = {}
    for item in json.loads((folder / "kcna_stiles_2024" / "kcna_sample_400.json").read_text()):
        headline = " ".join(item["headline"].split()[:20])
        key = (item["date_str"], headline)
        if key in stories:
            stories[key].records += 1
        else:
            stories[key] = Story("kcna", item["date_str"], headline, item.get("story_text") or "")
    rodong = json.loads((folder / "rodong_sinmun_thogra_2021_2022" / "rodong_topnews_134.json").read_text())
    return list(stories.values()) + [
        Story("rodong-sinmun", item["newsID_date"], item["title"], "\n".join(item["paragraphs"])) for item in rodong]


def replay_stories() -> list[Story]:
    """The made-up 2018 replay's articles, as the product extracts them."""
    out, seen = [], set()
    for name, source in DEMO_FILES.items():
        body = (DEMO / name).read_bytes().replace(b"{base}", b"http://127.0.0.1:8000")
        url = f"http://127.0.0.1:8000/{source}/{name}"
        if name.endswith(".xml"):
            entries = [(e.title, e.summary, e.language) for e in parse_feed(body, url).entries]
        else:
            page = extract_page(body, url)
            entries = [(page.title or "", page.text, page.language)]
        for title, text, language in entries:
            if (title, text) not in seen:
                seen.add((title, text))
                out.append(Story(source, "2018-11", title, text, language=language or "en"))
    return out


def report(title: str, stories: list[Story], matcher: RuleMatcher, rule_ids: list[str], show: int) -> None:
    found = {id(s): matcher.match(s.title, s.text, source=s.source, language=s.language, outlets=1)
             for s in stories}
    print(f"\n== {title}: {len(stories)} stories ({sum(s.records for s in stories)} records)")
    by_rule = defaultdict(list)
    for story in stories:
        for match in found[id(story)]:
            by_rule[match.rule_id].append((story, match))
    for rule_id in rule_ids:
        hits = by_rule[rule_id]
        print(f"\n{rule_id}: {len(hits)} stories ({sum(s.records for s, _ in hits)} records)")
        for story, match in hits[:show]:
            print(f"  {story.date} {story.source:<13} {story.title[:70]:<70} [{', '.join(match.terms)}]")
        if len(hits) > show:
            print(f"  ... {len(hits) - show} more")
    print("\nstories on the mission's subjects, and the rules that matched them:")
    on_subject = set()
    for subject, test in SUBJECTS.items():
        members = [s for s in stories if test(s.title, s.text)]
        on_subject.update(map(id, members))
        print(f"  {subject}: {len(members)}")
        for story in members:
            rules = ",".join(m.rule_id for m in found[id(story)]) or "-"
            print(f"    {story.date} {story.source:<13} {story.title[:64]:<64} {rules}")
    off = [s for s in stories if found[id(s)] and id(s) not in on_subject]
    print(f"  matched, on none of these subjects: {len(off)}")
    for story in off[:show]:
        rules = ",".join(m.rule_id for m in found[id(story)])
        print(f"    {story.date} {story.source:<13} {story.title[:64]:<64} {rules}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?")
    parser.add_argument("--config", type=Path, help="a presswatch config (default: the shipped mission config)")
    parser.add_argument("--show", type=int, default=40, help="matches listed per rule at most")
    args = parser.parse_args()
    config = load_config(args.config, {})
    rules = config.enabled_rules
    matcher = RuleMatcher(rules)
    rule_ids = [rule.id for rule in rules]
    print(f"rules: {', '.join(rule_ids)} (from {args.config or 'the shipped mission config'})")
    report("KCNA 2024 and Rodong Sinmun 2021-22 (real)", load_stories(corpus_folder(args.corpus)),
           matcher, rule_ids, args.show)
    report("November 2018 replay (made up, scheduler/demo)", replay_stories(), matcher, rule_ids, args.show)


if __name__ == "__main__":
    main()
