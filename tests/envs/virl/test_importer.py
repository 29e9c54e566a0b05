"""Importer of original-format `route_infos.json`, on a small hand-written fixture with fictional places."""

import json
import math
from pathlib import Path

import pytest

from sft_vs_rl.envs.virl import VIRLEnv, build_episode, generate_city, load_route_infos, route_for_index

from ._agent import act

FIXTURE = Path(__file__).parent / "fixtures" / "route_infos_fixture.json"
ALL_KEPT = [[True] * 5] * 3


def test_fixture_instruction_and_rail():
    route = load_route_infos(FIXTURE)[0]
    assert route.destination == "Cafe Ombrelune" and route.city is None
    episode = build_episode(route, 300, ALL_KEPT)
    assert episode.instruction == (
        "1. First, turn right to face north.\n"
        "2. Move forward until you reach next intersection where Quillon Books is on your right front.\n"
        "3. Turn right to face east.\n"
        "4. Move forward until you reach next intersection.\n"
        "5. Turn right to face south.\n"
        "6. Move forward until you reach destination where The destination Cafe Ombrelune is on your left.\n"
    )
    # 100 m, 80 m, 50 m segments: 4 forward points each survive the 8 m rule when nothing is dropped.
    assert [s.kind for s in episode.rail] == ["start"] + ["forward"] * 4 + ["turn"] + ["forward"] * 4 + ["turn"] + [
        "forward"
    ] * 4 + ["stop"]
    assert [s.action_absolute for s in episode.rail if s.kind != "forward"] == [
        "turn_direction(north)", "turn_direction(east)", "turn_direction(south)", "stop()",
    ]  # fmt: skip
    assert [s.instruction_index for s in episode.rail] == [1, 2, 2, 2, 2, 3, 4, 4, 4, 4, 5, 6, 6, 6, 6, 6]
    assert episode.rail[5].observation == "Quillon Books is on your right front; You observe an intersection"
    assert episode.rail[10].observation == "No landmark nearby; You observe an intersection"
    assert episode.rail[-1].observation == "The destination Cafe Ombrelune is on your left; "
    # Original quirk 1: 300 -> 0 without wrapping reads "left".
    assert build_episode(route, 300, ALL_KEPT, wrap_turns=False).sentences[0] == "First, turn left to face north."


def test_short_segment_quirk():
    route = load_route_infos(FIXTURE)[1]  # its first segment is 4 m long
    fixed = build_episode(route, 10, ALL_KEPT)
    original = build_episode(route, 10, ALL_KEPT, fix_short_segments=False)
    assert [s.instruction_index for s in fixed.rail] == [1, 3, 4, 4, 4, 4, 4]
    assert [s.instruction_index for s in original.rail] == [1, 2, 3, 3, 3, 3, 3]  # out of step, as in SFTvsRL


def test_imported_routes_play_in_the_env():
    routes = load_route_infos(json.loads(FIXTURE.read_text()))
    env = VIRLEnv(routes=routes)
    for index in range(len(routes)):
        obs, info = env.reset(seed=index, options={"route_index": index})
        while True:
            obs, _, term, trunc, info = env.step(act(obs, "absolute"))
            if term or trunc:
                break
        assert info["success"]
    with pytest.raises(ValueError, match="text only"):
        VIRLEnv(routes=routes, visual=True)
    with pytest.raises(ValueError, match="text only"):
        VIRLEnv(visual=True, tile_size=32).reset(options={"route": routes[0].to_dict()})


@pytest.mark.parametrize(
    "data, match",
    [
        ({"routes": []}, "JSON list"),
        ([[{"start_place": {}}], 1], "lacks"),
        (
            [[{"start_place": {"relocated_geocode": [0, 0]}, "dest_place": {"name": "X"},
               "route_results": {"geocode_list": [[0, 0], [0, 1]]}, "milestone_info": ""}], 1],
            "blocks",
        ),  # fmt: skip
    ],
)
def test_bad_records(data, match):
    with pytest.raises(ValueError, match=match):
        load_route_infos(data)


def to_route_info(route):
    """Export a synthetic route in the original format (metres -> degrees around a fictional datum at 0, 0)."""
    deg = 180.0 / math.pi / 6_371_000.0
    geo = [[m.xy[1] * deg, m.xy[0] * deg] for m in route.milestones]
    return {
        "start_place": {"relocated_geocode": [route.start[1] * deg, route.start[0] * deg]},
        "dest_place": {"name": route.destination},
        "route_results": {"geocode_list": geo},
        "milestone_info": route.milestone_info(),
    }


def test_synthetic_routes_round_trip_through_the_original_format():
    city = generate_city("nyc-like")
    for i in range(40):
        route = route_for_index(city, i)
        imported = load_route_infos([[to_route_info(route)], 1])[0]
        mask = [[(i + j + k) % 3 != 0 for k in range(5)] for j in range(len(route.milestones))]
        a, b = build_episode(route, 17 * i % 360, mask), build_episode(imported, 17 * i % 360, mask)
        assert a.instruction == b.instruction
        assert [(s.action_absolute, s.action_relative, s.observation, s.instruction) for s in a.rail] == [
            (s.action_absolute, s.action_relative, s.observation, s.instruction) for s in b.rail
        ]
