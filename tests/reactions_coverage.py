"""The state media's side of the November 2018 exchange, and unrelated statements of theirs,
for the reactions tests and bench/reactions_eval.py; written for them.

The rebuttal follows the project's own replay of KCNA's statement of 4 November 2018
(scheduler/demo/kcna-statement.html: its title, dateline and the phrases of the real
statement, "a totally preposterous 'Report'", "a handful of human scums"); its coverage
follows the Yonhap and AFP pieces listed in the corpus's north_korea/REFERENCE_PAGES.md
(URLs only). The unrelated statements take the shape of KCNA's human-rights statements of
2024 in github.com/stiles/north-korea-news data/archive/headlines_2024-11-11.json (a press
statement on a UN report, one on an EU resolution, a commentary on a US envoy): their
subjects and their KCNA manner, in sentences written here.
"""

from __future__ import annotations

from events_coverage import WriteUp

STATE_MEDIA = {
    'kcna-rebuttal': WriteUp(
        'http://www.kcna.kp/en/article/detail/36f8857fa61738e1f9c0ce6a27b4f3ee',
        'en',
        'Press Statement of Spokesperson of Korean Association for Human Rights Studies',
        (
            'Pyongyang, November 4 (KCNA) -- A spokesperson of the Korean Association for Human Rights Studies'
            ' issued the following press statement on Sunday: Days ago the U.S.-based "Human Rights Watch" made'
            ' public a totally preposterous "Report" on the situation of women in the DPRK, claiming that they '
            'are subjected to "sexual harassment" by officials. The "Report", patched together from the '
            '"testimonies" of a handful of human scums who betrayed their country, is the most despicable false'
            ' document on earth. Its publication is an extremely dangerous provocation aimed at tarnishing the '
            'image of the DPRK, where women enjoy equal rights with men in all fields of state and social life.'
            ' The organization serves the hostile forces which have long used the anti-DPRK "human rights" '
            'racket as a tool for putting pressure on sovereign states.'
        ),
    ),
    'rodong-ko-rebuttal': WriteUp(
        'http://www.rodong.rep.kp/ko/index.php?MTJAMjAxOC0xMS0wNi1OMDI1QA==',
        'ko',
        '조선인권연구협회 대변인 담화 《휴먼라이츠워치》의 모략보고서는 날조품',
        (
            '조선인권연구협회 대변인은 미국에 본부를 둔 《휴먼라이츠워치》가 며칠전 우리 공화국의 녀성들이 간부들로부터 성적괴롭힘을 당하고있다고 '
            '떠들어대는 《보고서》라는것을 발표한데 대하여 담화를 발표하였다. 담화는 조국을 배반하고 도주한 한줌도 안되는 인간쓰레기들의 《증언》을 '
            '긁어모아 만들어낸 이 《보고서》야말로 세상에 둘도 없는 비렬한 날조문서이라고 단죄하였다. 담화는 우리 공화국에서 녀성들은 '
            '사회생활의 모든 분야에서 남자들과 똑같은 권리를 누리고있다고 강조하였다.'
        ),
    ),
    'kcna-un-report': WriteUp(
        'http://www.kcna.kp/en/article/detail/9b1e6f3c2a8d4e7f8a0b1c2d3e4f5a6b',
        'en',
        "Press Statement by Vice-Minister for Int'l Organizations of DPRK Foreign Ministry",
        (
            'Pyongyang, November 9 (KCNA) -- The vice-minister for International Organizations of the DPRK '
            'Foreign Ministry released the following press statement on Friday: The UN High Commissioner for '
            'Human Rights recently released a report distorting the human rights situation in the DPRK under '
            'the name of the UN secretary-general. The report is a hideous anti-DPRK conspiratorial document '
            'cooked up by the hostile forces to tarnish the image of our state and justify sanctions. We '
            'categorically reject the report and will never tolerate the human rights racket of the hostile '
            'forces.'
        ),
    ),
    'kcna-eu-resolution': WriteUp(
        'http://www.kcna.kp/en/article/detail/4c7d2e9a1b3f5e6d7c8b9a0f1e2d3c4b',
        'en',
        'Permanent Mission of DPRK at UN Issues Press Statement',
        (
            'Pyongyang, November 14 (KCNA) -- The permanent mission of the DPRK at the UN released the following'
            ' press statement on Wednesday: The European Union again submitted a "resolution" taking issue with '
            'the human rights situation in the DPRK to the Third Committee of the UN General Assembly. This is a'
            ' politically-motivated provocation aimed at tarnishing the image of the dignified DPRK and bringing'
            ' down its social system. The DPRK categorically rejects the "resolution" as a product of the '
            'anti-DPRK "human rights" racket of the U.S. and its followers.'
        ),
    ),
    'kcna-envoy': WriteUp(
        'http://www.kcna.kp/en/article/detail/7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b',
        'en',
        'KCNA Commentary on U.S. "Human Rights Envoy"',
        (
            'Pyongyang, November 10 (KCNA) -- An "envoy for human rights" of the U.S. State Department visited '
            'Seoul and Tokyo recently to drum up another "human rights" racket against the DPRK. The U.S., the '
            'worst human rights abuser where gun violence and racial discrimination claim lives every day, has '
            'no right to talk about the human rights of others. The hostile forces should know that their '
            'slander of the DPRK will only bring them shame.'
        ),
    ),
}

# The rebuttal as others reported it: another side's coverage of the reaction.
REBUTTAL_COVERAGE = {
    'yonhap-rebuttal': WriteUp(
        'https://en.yna.co.kr/view/AEN20181104001500315',
        'en',
        'N. Korea slams HRW report on sexual abuse as "false document"',
        (
            'SEOUL, Nov. 4 (Yonhap) -- North Korea on Sunday denounced a Human Rights Watch report on sexual '
            "abuse of women by its officials as \"the most despicable false document on earth,\" the North's "
            'state media said. A spokesperson of the Korean Association for Human Rights Studies said the '
            'report was based on the testimonies of "human scums" who fled the country, according to the Korean'
            ' Central News Agency. The New York-based group said last week that sexual violence by officials '
            'against women is so common in the North that it is seen as part of ordinary life.'
        ),
    ),
    'yonhap-rebuttal-ko': WriteUp(
        'https://www.yna.co.kr/view/AKR20181104022300504',
        'ko',
        '北, 휴먼라이츠워치 성폭력 보고서에 "가장 비열한 허위문서"',
        (
            '(서울=연합뉴스) 북한은 4일 국제 인권단체 휴먼라이츠워치(HRW)가 북한 여성들이 관리들로부터 일상적으로 성폭력을 당하고 있다고 '
            '발표한 보고서에 대해 "세상에서 가장 비열한 허위문서"라고 비난했다. 조선중앙통신에 따르면 조선인권연구협회 대변인은 담화에서 '
            '이 보고서가 탈북자들의 증언을 긁어모아 만든 것이라고 주장했다.'
        ),
    ),
}
