"""Write-ups of the November 2018 coverage for the events tests, written for these tests.

Each outlet writes its own article of one happening (so they share few shingles and are
different stories), in English and Korean, in the manner of the real coverage listed in
the corpus's north_korea/REFERENCE_PAGES.md (URLs only: Reuters via AOL, VOA, Daily NK,
Yonhap) and of the bundled demo replay (scheduler/demo/); background stories of
the same days about North Korea are other happenings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WriteUp:
    url: str
    language: str
    title: str
    text: str


WRITE_UPS = {
    'reuters': WriteUp(
        'https://www.aol.com/article/news/2018/11/01/north-korean-officials-sexually-abuse-women-with-impunity-hrw/23576215/',
        'en',
        'North Korean officials sexually abuse women with impunity - HRW',
        (
            'SEOUL (Reuters) - North Korean women are routinely subjected to sexual abuse by officials who go'
            ' unpunished, Human Rights Watch said in a report released on Thursday, citing interviews with '
            'women who fled the country. The New York-based group said police officers, prison guards, market'
            ' inspectors and soldiers demanded sex from women who depend on trading in informal markets to '
            'feed their families. None of the women interviewed had reported the abuse, the report said, '
            "because they feared reprisals and did not expect the authorities to act. North Korea's mission "
            'to the United Nations did not respond to a request for comment.'
        ),
    ),
    'voa': WriteUp(
        'https://www.voanews.com/a/rights-group-sexual-abuse-of-women-rampant-in-north-korea/4638383.html',
        'en',
        'Rights Group: Sexual Violence Against Women Rampant in North Korea',
        (
            'Sexual violence by officials against women in North Korea is so common that many victims see it '
            'as part of ordinary life, Human Rights Watch says in a new report. The 86-page report, "You Cry '
            'at Night but Don\'t Know Why," is based on interviews with 54 North Koreans who left the country '
            'after Kim Jong Un took power in 2011, and eight former officials. Women told the researchers '
            'that guards at detention facilities and market officials coerced them into sex, and that they '
            'had nowhere to turn for help.'
        ),
    ),
    'yonhap-ko': WriteUp(
        'https://www.yna.co.kr/view/AKR20181101004500072',
        'ko',
        '휴먼라이츠워치 "北 여성들, 관리들에게 일상적 성폭력 당해"',
        (
            '(서울=연합뉴스) 국제 인권단체 휴먼라이츠워치(HRW)는 1일 북한 여성들이 경찰과 교도관, 시장 단속원, 군인 등 관리들로부터 일상적으로 성폭력을 당하고 있으며 가해자들은'
            ' 처벌받지 않는다는 내용의 보고서를 발표했다. "밤에 이유도 모른 채 눈물을 흘린다"는 제목의 보고서는 김정은 집권 이후인 2011년 이후 탈북한 54명과 전직 관리 8명을'
            ' 인터뷰한 내용을 토대로 작성됐다. 보고서에 따르면 장마당에서 장사하는 여성들은 단속을 피하려고 성관계를 강요당했으며, 피해를 신고한 여성은 한 명도 없었다.'
        ),
    ),
    'missile': WriteUp(
        'https://www.nknews.org/2018/11/north-korea-threatens-to-restart-nuclear-programme/',
        'en',
        'North Korea threatens to resume nuclear development if sanctions stay',
        (
            'North Korea warned on Friday it could revive its policy of building up nuclear weapons if the '
            'United States does not lift economic sanctions, a statement carried by state media said. The '
            "statement, attributed to the foreign ministry's institute for American studies, said the policy "
            'of simultaneously pushing the economy and nuclear forces could be restored. The warning came as '
            'talks between Pyongyang and Washington stalled ahead of a planned meeting between Secretary of '
            'State Mike Pompeo and a senior North Korean official.'
        ),
    ),
    'un-rapporteur': WriteUp(
        'https://www.nknews.org/2018/11/un-rapporteur-human-rights-nuclear-talks/',
        'en',
        'UN rights envoy says human rights must be part of North Korea nuclear talks',
        (
            'The United Nations special rapporteur on human rights in North Korea said on Friday that human '
            'rights should be on the agenda of the nuclear negotiations with Pyongyang, warning that '
            'sanctions relief alone would not improve the lives of ordinary North Koreans. Tomas Ojea '
            'Quintana told reporters in Seoul at the end of a five-day visit that he had again asked to be '
            'allowed into the country but had received no answer, and urged South Korea to raise the issue of'
            ' separated families and abducted citizens in its talks with the North.'
        ),
    ),
    'dailynk': WriteUp(
        'https://www.dailynk.com/english/human-rights-watch-executive-director-urges-pressure-on-north-korean-human-rights/',
        'en',
        'Human Rights Watch executive director urges pressure over abuse of North Korean women',
        (
            'Human Rights Watch executive director Kenneth Roth called on South Korea and the United States '
            "on Thursday to press Pyongyang over the sexual abuse of women documented in the group's new "
            'report, speaking at a press conference in Seoul. Roth said the report showed that women who '
            'trade in the markets are at the mercy of officials who demand sex and bribes, and criticised '
            'what he called a one-dimensional approach that left human rights out of the nuclear talks. The '
            'report is based on interviews with 54 North Koreans who fled the country.'
        ),
    ),
    'kaesong': WriteUp(
        'https://en.yna.co.kr/view/AEN20181101006000325',
        'en',
        'N. Korea, S. Korea hold military talks on disarming border village',
        (
            'Military officers of South and North Korea met at the truce village of Panmunjom on Thursday to '
            'discuss withdrawing guard posts and weapons from the Joint Security Area, the defense ministry '
            'said. The talks follow the military agreement signed at the September summit in Pyongyang, under'
            ' which both sides pledged to turn the border into a zone of peace. The two sides also discussed '
            'a joint survey of the Han River estuary.'
        ),
    ),
    'railway': WriteUp(
        'https://en.yna.co.kr/view/AEN20181102000300315',
        'en',
        'Koreas agree on joint inspection of North Korean railway',
        (
            'South and North Korea agreed on Friday to carry out a joint field inspection of a railway in the'
            ' North later this month, the unification ministry said, as part of a plan to reconnect the '
            'cross-border rail links. The inspection of the Gyeongui line between Kaesong and Sinuiju had '
            'been delayed since August amid concerns it could violate sanctions against Pyongyang. The '
            'ministry said it was consulting the U.S.-led UN command on the movement of equipment across the '
            'border.'
        ),
    ),
}
