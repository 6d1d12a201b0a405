"""The people and places of the demo: Shanghai surnames, given names and districts."""

from __future__ import annotations

import random

SURNAMES = [
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Xu",
    "Sun",
    "Ma",
    "Zhu",
    "Hu",
    "Guo",
    "He",
    "Lin",
    "Luo",
    "Gao",
]
GIVEN = [
    "Wei",
    "Fang",
    "Min",
    "Jing",
    "Lei",
    "Qiang",
    "Yan",
    "Jun",
    "Yong",
    "Jie",
    "Tao",
    "Ming",
    "Chao",
    "Xia",
    "Ping",
    "Hui",
    "Bo",
    "Lan",
]
DISTRICTS = [
    "Pudong",
    "Huangpu",
    "Jing'an",
    "Xuhui",
    "Changning",
    "Putuo",
    "Hongkou",
    "Yangpu",
    "Minhang",
    "Baoshan",
]


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}{rng.choice(['', rng.choice(GIVEN)])}"
