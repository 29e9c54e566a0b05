"""Synthetic cities: determinism, presets and their three independent factors, vocabulary disjointness."""

import re

import numpy as np
import pytest

from sft_vs_rl.envs.virl import CITY_PRESETS, LAYOUTS, STYLES, TRAIN_CITY, VOCABULARIES, generate_city, resolve_city
from sft_vs_rl.envs.virl.landmarks import CATEGORY_WORDS


def test_same_seed_same_city_other_seed_differs():
    a = generate_city.__wrapped__ if hasattr(generate_city, "__wrapped__") else generate_city
    from sft_vs_rl.envs.virl.city import _generate

    _generate.cache_clear()
    first = a("nyc-like", 3)
    _generate.cache_clear()
    again = a("nyc-like", 3)
    assert np.array_equal(first.nodes, again.nodes) and first.places == again.places
    other = a("nyc-like", 4)
    assert not (len(other.nodes) == len(first.nodes) and np.array_equal(other.nodes, first.nodes))


def test_presets_cover_ten_cities_with_distinct_factors():
    assert len(CITY_PRESETS) >= 10 and TRAIN_CITY == "nyc-like"
    unseen = [p for name, p in CITY_PRESETS.items() if name != TRAIN_CITY]
    train = CITY_PRESETS[TRAIN_CITY]
    for p in unseen:
        assert p.layout != train.layout and p.vocabulary != train.vocabulary and p.style != train.style
        assert p.layout in LAYOUTS and p.vocabulary in VOCABULARIES and p.style in STYLES


def test_each_factor_switches_alone():
    base = generate_city("nyc-like", 0)
    names = generate_city("nyc-like", 0, vocabulary="old-town")
    assert names.preset == resolve_city("nyc-like", vocabulary="italian")
    assert np.array_equal(names.nodes, base.nodes)  # same streets ...
    assert {p.name for p in names.places}.isdisjoint({p.name for p in base.places})  # ... other names
    looks = generate_city("nyc-like", 0, style="tower-grid")
    assert looks.preset.style == "tower-grid" and looks.places == base.places  # style changes rendering only
    streets = generate_city("nyc-like", 0, layout="square-grid")
    assert streets.preset.vocabulary == "us-east" and len(streets.nodes) != len(base.nodes)


def _tokens(name):
    return set(re.findall(r"[A-Za-z]+", name.replace("'s", "")))


ALLOWED = {w for words in CATEGORY_WORDS.values() for word in words for w in word.split()} | {"The", "and", "Sons"}


@pytest.mark.parametrize("preset", [p for p in CITY_PRESETS if p != TRAIN_CITY])
def test_unseen_cities_share_no_landmark_names_with_the_training_city(preset):
    train = {p.name for seed in range(3) for p in generate_city(TRAIN_CITY, seed).places}
    unseen = {p.name for seed in range(3) for p in generate_city(preset, seed).places}
    assert train.isdisjoint(unseen)
    shared = set().union(*map(_tokens, train)) & set().union(*map(_tokens, unseen))
    assert shared <= ALLOWED, shared - ALLOWED  # only category words may recur


def test_layout_statistics_differ():
    grid = generate_city("square-grid").describe()
    rotated = generate_city("nyc-like").describe()
    organic = generate_city("old-town").describe()
    assert grid["heading_histogram"][1] == 0  # strict N-S/E-W grid: no northeast streets
    assert rotated["heading_histogram"][1] > 0.15  # 29° rotation: mostly diagonal compass names
    assert organic["segment_length_quantiles"][1] < grid["segment_length_quantiles"][1]


def test_names_are_unique_ascii_and_json_safe():
    for preset in CITY_PRESETS:
        names = [p.name for p in generate_city(preset).places]
        assert len(names) == len(set(names))
        assert all(n.isascii() and '"' not in n and "\\" not in n for n in names)


def test_bad_seed():
    with pytest.raises(TypeError, match="seed"):
        generate_city("nyc-like", seed="0")
