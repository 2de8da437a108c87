"""Rule matching cost per article: one compiled matcher beside a regex loop per rule.

Usage: python bench/match_bench.py [CORPUS] [--sizes 10,100,1000,10000] [--articles 120]
       [--baseline-articles 30] [--seed 1]
(CORPUS: the shared corpus folder; default $PRESSWATCH_CORPUS, else ../shared/corpus beside the
repository. Nothing of it is copied.)

Articles: the reference bodies (and titles) of corpus/articles (scrapinghub, Andy's dataset),
the KCNA and Rodong Sinmun items of corpus/north_korea, and a few generated Korean articles
(the corpus has no Korean text), shuffled. Rules: generated from a vocabulary of the corpus's
own mid-frequency words and word pairs (ranks 300-6000: names and topic words, as analysts
write), prefixes of them, and a list of Korean news words, in shapes such as
`("a b" OR c) AND (d OR e*)`, `"a b" NEAR/5 (c OR d)`, `title:a "b c"`, `a b NOT c`.

For each rule count it prints the microseconds per article of
- ours: `RuleMatcher.rule_ids` (Aho-Corasick prefilter, then only the rules set off),
- ours with snippets: `RuleMatcher.match` (the matched rules' snippets built too),
- baseline: per rule, each of its terms' regular expressions searched over the normalised
  title and text (memoised within the rule only), NEAR from the regexes' positions,
on the same articles (the baseline on the first --baseline-articles of them; ours the best of 3
runs), the ratio, the
matcher's build time, the matches per article, and whether both found the same rules.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from presswatch.config.query import Meta, Near, Term, evaluate, parse_query
from presswatch.crawler.rules.match import RuleMatcher, normalize, same_language, term_pattern

REPO = Path(__file__).resolve().parent.parent
KOREAN = (
    "북한 성폭력 성폭행 성추행 인권 여성 여성인권 김정은 조선중앙통신 로동신문 노동신문 대변인 보고서 탈북민 탈북자 "
    "국무위원장 미사일 발사 제재 유엔 안보리 통일부 외교부 국방부 합참 핵실험 정상회담 평양 서울 워싱턴 도발 "
    "인간쓰레기 휴먼라이츠워치 조선인권연구협회 보안원 교도관 단속 장마당 수용소 강제노동 인신매매 중국 국경 "
    "송환 처벌 증언 피해자 가해자 조사 발표 비난 규탄 담화 성명 위원장 노동당 전원회의 최고인민회의 경제 식량 "
    "지원 협력 군사 훈련 한미 연합 위성 정찰 순항 탄도 극초음속 무인기 해군 공군 육군 사령부 총참모부 "
    "미국 일본 러시아 유럽 대통령 총리 장관 국회 의원 선거 정부 정책 법안 개정 헌법 재판 검찰 경찰 법원 "
    "언론 기자 방송 신문 보도 취재 인터뷰 사진 영상 기록 자료 통계 분석 전문가 교수 연구원 연구소 단체 "
    "시민 사회 종교 교회 학교 학생 청년 노인 아동 가족 이산가족 상봉 금강산 개성공단 철도 도로 항만"
).split()
SHAPES = (
    '({p} OR {w}) AND ({w} OR {x})',
    '{p} NEAR/5 ({w} OR {w})',
    '{w} {w} NOT {w}',
    'title:{w} {p}',
    '({k} OR {k}) AND ({k} OR {w})',
    '{k} NEAR/3 {k}',
    '{x} {p}',
    '({w} OR {k}) {p} NOT title:{w}',
)


def corpus_folder(arg: str | None) -> Path:
    path = Path(arg or os.environ.get("PRESSWATCH_CORPUS") or REPO.parent / "shared" / "corpus")
    if not (path / "articles").is_dir():
        sys.exit(f"no corpus at {path} (give its path, or set PRESSWATCH_CORPUS)")
    return path


def load_articles(corpus: Path, rng: random.Random) -> list[tuple[str, str]]:
    """(title, text) of the corpus's articles and NK items, and generated Korean ones."""
    articles = []
    for name in ("scrapinghub_aeb", "andy_article_extraction_dataset"):
        for item in json.loads((corpus / "articles" / name / "ground-truth.json").read_text()).values():
            if item.get("articleBody"):
                articles.append((item.get("title") or "", item["articleBody"]))
    nk = corpus / "north_korea"
    for item in json.loads((nk / "kcna_stiles_2024" / "kcna_sample_400.json").read_text()):
        articles.append((item["headline"], item.get("story_text") or ""))
    for item in json.loads((nk / "rodong_sinmun_thogra_2021_2022" / "rodong_topnews_134.json").read_text()):
        articles.append((item["title"], "\n".join(item["paragraphs"])))
    syllables = [chr(0xAC00 + rng.randrange(11172)) for _ in range(400)]
    for _ in range(40):
        # Made-up words of common syllables, a few news words among them, particles attached.
        news = rng.sample(KOREAN, 12)
        words = [(rng.choice(news) if rng.random() < 0.08 else "".join(rng.choices(syllables, k=rng.randint(2, 3))))
                 + rng.choice(["", "", "은", "는", "이", "가", "을", "를", "의", "에"])
                 for _ in range(rng.randint(150, 500))]
        articles.append((" ".join(words[:8]), " ".join(words)))
    rng.shuffle(articles)
    return articles


def vocabulary(articles: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Mid-frequency words, and word pairs of them, from the articles themselves."""
    counts, pairs = Counter(), Counter()
    for _, text in articles:
        words = re.findall(r"[A-Za-z][A-Za-z'\-]+[A-Za-z]", text)
        counts.update(words)
        pairs.update(zip(words, words[1:]))
    ranked = [w for w, _ in counts.most_common(6000)][300:]
    keep = set(ranked)
    phrases = [f"{a} {b}" for (a, b), n in pairs.most_common(40000) if a in keep and b in keep and n >= 2]
    return ranked, phrases[:8000]


def make_rules(count: int, words: list[str], phrases: list[str], rng: random.Random) -> list[SimpleNamespace]:
    def fill(shape: str) -> str:
        return re.sub(r"\{(\w)\}", lambda m: {
            "w": lambda: rng.choice(words),
            "p": lambda: f'"{rng.choice(phrases)}"',
            "x": lambda: rng.choice([w for w in words if len(w) > 6][:3000])[:rng.randint(5, 6)] + "*",
            "k": lambda: rng.choice(KOREAN),
        }[m[1]](), shape)

    rules = []
    while len(rules) < count:
        query = fill(rng.choice(SHAPES))
        try:
            parse_query(query)
        except ValueError:
            continue
        rules.append(SimpleNamespace(id=f"r{len(rules)}", query=query))
    return rules


class RegexPerRule:
    """The baseline: every rule searched on its own, one regular expression per term."""

    def __init__(self, rules):
        self.rules = [(rule.id, parse_query(rule.query)) for rule in rules]
        self.patterns = {t: term_pattern(t.text) for _, node in self.rules for t in _terms(node)}

    def rule_ids(self, title: str, text: str, source=None, language=None) -> list[str]:
        fields = {"title": normalize(title), "text": normalize(text)}
        found = []
        for rule_id, node in self.rules:
            seen: dict[tuple, bool] = {}

            def present(term, seen=seen):
                names = (term.field,) if term.field else ("title", "text")
                key = (term.text, names)
                if key not in seen:
                    seen[key] = any(self.patterns[term].search(fields[n]) for n in names)
                return seen[key]

            def near(node):
                return _near(node, fields, self.patterns)

            def meta(node):
                return source == node.value if node.field == "source" else same_language(language, node.value)

            if evaluate(node, present, near, meta):
                found.append(rule_id)
        return found


def _terms(node) -> list[Term]:
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Meta):
        return []
    if isinstance(node, Near):
        return _terms(node.left) + _terms(node.right)
    children = [node.item] if hasattr(node, "item") else node.items
    return [t for child in children for t in _terms(child)]


def _near(node: Near, fields: dict[str, str], patterns) -> bool:
    left, right = _terms(node.left), _terms(node.right)
    names = (left[0].field,) if left[0].field else ("title", "text")
    for name in names:
        value = fields[name]

        def spans(terms, value=value):
            out = []
            for term in terms:
                for m in patterns[term].finditer(value):
                    first = len(re.findall(r"[\s\-]+", value[:m.start()]))
                    out.append((first, first + len(re.findall(r"[\s\-]+", value[m.start():m.end()]))))
            return out

        rights = spans(right)
        for a in spans(left):
            for b in rights:
                gap = b[0] - a[1] if a[1] < b[0] else a[0] - b[1] if b[1] < a[0] else 0
                if a != b and gap <= node.distance:
                    return True
    return False


def per_article(function, articles, repeat: int = 1) -> tuple[float, list[list[str]]]:
    """Microseconds per article (the best of `repeat` runs: the machine is shared), and the results."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        results = [function(title, text) for title, text in articles]
        best = min(best, time.perf_counter() - start)
    return best / len(articles) * 1e6, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?")
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--articles", type=int, default=120)
    parser.add_argument("--baseline-articles", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    articles = load_articles(corpus_folder(args.corpus), rng)
    words, phrases = vocabulary(articles)
    sample = articles[:args.articles]
    base_sample = sample[:args.baseline_articles]
    mean_chars = sum(len(t) + len(x) for t, x in sample) // len(sample)
    print(f"rule matching, {len(sample)} articles (mean {mean_chars} chars; baseline on the first "
          f"{len(base_sample)}), vocabulary {len(words)} words + {len(phrases)} pairs + {len(KOREAN)} Korean; "
          f"Python {platform.python_version()}, {platform.machine()}, nproc {os.cpu_count()}")
    print(f"{'rules':>6} {'build s':>8} {'ours us':>9} {'+snippets':>10} {'baseline us':>12} {'ratio':>7} "
          f"{'matches/art':>12} {'same':>5}")
    first = None
    for size in (int(s) for s in args.sizes.split(",")):
        rules = make_rules(size, words, phrases, random.Random(args.seed + size))
        start = time.perf_counter()
        matcher = RuleMatcher(rules)
        build = time.perf_counter() - start
        per_article(matcher.rule_ids, sample[:5])  # warm caches
        ours, found = per_article(matcher.rule_ids, sample, repeat=3)
        snippets, _ = per_article(matcher.match, sample, repeat=3)
        ours_base, found_base = per_article(matcher.rule_ids, base_sample, repeat=3)
        baseline, expected = per_article(RegexPerRule(rules).rule_ids, base_sample)
        same = "yes" if found_base == expected else "NO"
        matches = sum(map(len, found)) / len(found)
        first = first or ours
        print(f"{size:>6} {build:>8.2f} {ours:>9.0f} {snippets:>10.0f} {baseline:>12.0f} "
              f"{baseline / ours_base:>6.0f}x {matches:>12.2f} {same:>5}")
    print(f"ours grows {ours / first:.1f}x from {args.sizes.split(',')[0]} to {args.sizes.split(',')[-1]} rules "
          f"(the ratio column compares ours and the baseline on the baseline's articles)")


if __name__ == "__main__":
    main()
