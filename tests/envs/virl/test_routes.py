"""Routes and rails: determinism, the original's rail rules, relative words, dict round trip."""

import json
import random

from sft_vs_rl.envs.virl import Route, build_episode, draw_episode, generate_city, route_for_index, sample_route
from sft_vs_rl.envs.virl.observe import compass_name, relative_turn_word
from sft_vs_rl.envs.virl.routes import END_GAP, MIN_SEGMENT, _dist


def test_route_determinism():
    city = generate_city("nyc-like")
    assert route_for_index(city, 5) == route_for_index(city, 5)
    assert route_for_index(city, 5) != route_for_index(city, 6)
    a = sample_route(city, random.Random(1))
    assert a == sample_route(city, random.Random(1))
    rng_a, rng_b = random.Random(2), random.Random(2)
    assert build_episode(a, *draw_episode(a, rng_a)) == build_episode(a, *draw_episode(a, rng_b))


def test_to_dict_round_trip_is_json_able():
    route = route_for_index(generate_city("market"), 0)
    assert Route.from_dict(json.loads(json.dumps(route.to_dict()))) == route


def test_rail_rules_over_many_routes():
    for preset in ("nyc-like", "old-town", "high-street"):
        city = generate_city(preset)
        rng = random.Random(0)
        for i in range(60):
            route = route_for_index(city, i)
            k = len(route.milestones)
            assert 2 <= k <= 8
            heading, mask = draw_episode(route, rng)
            ep = build_episode(route, heading, mask)
            points = [route.start] + [m.xy for m in route.milestones]
            assert all(_dist(a, b) > MIN_SEGMENT for a, b in zip(points, points[1:]))
            assert len(ep.sentences) == 2 * k
            assert ep.rail[0].kind == "start" and ep.rail[-1].kind == "stop"
            assert sum(s.kind == "turn" for s in ep.rail) == k - 1
            # stop() shares the final sentence
            assert ep.rail[-1].instruction == ep.sentences[-1] and ep.rail[-1].instruction_index == 2 * k
            seg = -1
            for step in ep.rail:
                if step.kind == "forward":
                    a, b = points[seg], points[seg + 1]
                    assert _dist(a, step.xy) > END_GAP and _dist(b, step.xy) > END_GAP
                    assert step.instruction_index == 2 * seg + 2 and step.observation == "No landmarks nearby; "
                else:
                    seg += step.kind != "stop"
            # at most 4 forward points per segment
            counts = {}
            for step in ep.rail:
                if step.kind == "forward":
                    counts[step.instruction_index] = counts.get(step.instruction_index, 0) + 1
            assert max(counts.values(), default=0) <= 4
            # compass names agree with headings; the rule-OOD label copies the sentence's word
            for m in route.milestones:
                assert m.direction == compass_name(m.heading)
            turns = [s for s in ep.rail if s.kind in ("start", "turn")]
            for step in turns:
                word = step.action_relative[len("turn_direction(") : -1]
                assert f"urn {word} to face " in step.instruction


def test_relative_words_wrap_and_original():
    table = [  # (new, old, wrapped, original)
        (10, 350, "slightly right", "left"),  # the no-wrap quirk
        (350, 10, "slightly left", "right"),
        (90, 0, "right", "right"),
        (0, 0, "slightly left", "slightly left"),  # 0 counts as "slightly left", as in the original
        (45, 0, "slightly right", "slightly right"),
        (46, 0, "right", "right"),
        (314, 0, "left", "right"),
        (180, 0, "left", "right"),  # a U-turn falls in [-180, 180): "left"
    ]
    for new, old, wrapped, original in table:
        assert relative_turn_word(new, old) == wrapped
        assert relative_turn_word(new, old, wrap=False) == original


def test_milestone_info_template():
    route = route_for_index(generate_city("nyc-like"), 1)
    info = route.milestone_info()
    assert info.count('"intersection_idx"') == len(route.milestones)
    last = route.milestones[-1]
    assert f'"landmarks": "{last.landmarks}",' in info
    assert f'"to_next_intersection_heading": "{last.heading} ({last.direction})",' in info
