"""V-IRL-VL rendering agrees with the text: landmarks are drawn in the view their stated relation names."""

import pytest
from PIL import Image

from sft_vs_rl.envs.virl import VIRLEnv, build_episode, generate_city, route_for_index
from sft_vs_rl.envs.virl.render import render_views

VIEW_OF = {
    "front": {"front"}, "right": {"right"}, "behind": {"back"}, "left": {"left"},
    "right front": {"front", "right"}, "right behind": {"right", "back"},
    "left behind": {"back", "left"}, "left front": {"left", "front"},
}  # fmt: skip


@pytest.mark.parametrize("preset", ["nyc-like", "old-town", "tower-grid", "low-rise"])
def test_landmarks_drawn_at_their_stated_side(preset):
    city = generate_city(preset)
    checked = 0
    for i in range(25):
        route = route_for_index(city, i)
        episode = build_episode(route, 123)
        for step in episode.rail:
            if step.kind not in ("turn", "stop") or " is on your " not in step.landmark:
                continue
            name, relation = step.landmark.removeprefix("The destination ").split(" is on your ")
            _, drawn = render_views(city, step.xy, step.heading, tile_size=64)
            views = {d.view for d in drawn if d.name == name}
            assert views & VIEW_OF[relation], (name, relation, views)
            if relation in ("left", "right", "front", "behind"):
                (box,) = [d.box for d in drawn if d.name == name and d.view in VIEW_OF[relation]]
                tile = ["front", "right", "back", "left"].index(next(iter(VIEW_OF[relation])))
                x0, y0 = (tile % 2) * 69, (tile // 2) * 69
                cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                assert x0 <= cx < x0 + 64 and y0 <= cy < y0 + 64  # centre inside that tile
            checked += 1
    assert checked > 40


def test_render_is_deterministic_and_sized():
    city = generate_city("nyc-like")
    a, log_a = render_views(city, (450.0, 450.0), 77, tile_size=96)
    b, log_b = render_views(city, (450.0, 450.0), 77, tile_size=96)
    assert a.size == (197, 197) and a.mode == "RGB"
    assert a.tobytes() == b.tobytes() and log_a == log_b


def test_styles_and_layouts_differ():
    city = generate_city("nyc-like")
    base, _ = render_views(city, (450.0, 450.0), 0, tile_size=48)
    other, _ = render_views(city, (450.0, 450.0), 0, style="market", tile_size=48)
    assert base.tobytes() != other.tobytes()
    _, log = render_views(city, (450.0, 450.0), 0, tile_size=48, layout="paper_code")
    assert {d.view for d in log} <= {"left behind", "left front", "right front", "right behind"}


def test_env_renders_only_when_visual(monkeypatch):
    import sft_vs_rl.envs.virl.render as render

    def boom(*args, **kwargs):
        raise AssertionError("rendered in a text env")

    monkeypatch.setattr(render, "render_views", boom)
    _, info = VIRLEnv().reset(seed=0)
    assert info["images"] == []
    monkeypatch.undo()
    _, info = VIRLEnv(visual=True, tile_size=32).reset(seed=0)
    assert isinstance(info["images"][0], Image.Image) and info["drawn"] is not None


def test_bad_render_arguments():
    city = generate_city("nyc-like")
    with pytest.raises(ValueError, match="tile_size"):
        render_views(city, (0.0, 0.0), 0, tile_size=8)
    with pytest.raises(ValueError, match="layout"):
        render_views(city, (0.0, 0.0), 0, layout="diagonal")


def _vl_act(prompt, drawn, tile):
    """Perfect vision from the draw log: stop when the destination's sign faces us from its stated side."""
    from sft_vs_rl.envs.virl import format_response

    from ._agent import act, read_prompt

    lines, past, current = read_prompt(prompt)
    if "You observe an intersection" in current or not past:
        return act(prompt, "absolute")  # turns are given by the text alone
    name, relation = lines[-1].split("where The destination ", 1)[1].rstrip(".").split(" is on your ")
    centred = False
    for d in drawn:
        if d.name == name and d.view in VIEW_OF[relation] and len(VIEW_OF[relation]) == 1:
            idx = ["front", "right", "back", "left"].index(d.view)
            cx = (d.box[0] + d.box[2]) / 2 - (idx % 2) * (tile + 5)
            near = d.box[3] - d.box[1] >= tile * 0.19  # storefront (6 m high) seen from less than ~16 m
            centred |= near and abs(cx - tile / 2) < tile * 0.2  # within ~22° of the view's centre
    action = "stop()" if centred else "forward()"
    turns_done = sum(a.startswith("turn_direction(") for _, a in past)
    sentence = lines[-1] if centred else lines[2 * turns_done - 1]
    return format_response(current, sentence.split(". ", 1)[1], action)


@pytest.mark.parametrize("preset", ["nyc-like", "old-town"])
def test_vl_episodes_solvable_from_text_and_image(preset):
    env = VIRLEnv(city=preset, visual=True, tile_size=48)
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        while True:
            prompt = info["messages"][0]["content"][-1]["text"]
            obs, _, term, trunc, info = env.step(_vl_act(prompt, info["drawn"], 48))
            assert info["step_correct"], (seed, info["position"], info["expected_action"])
            if term or trunc:
                break
        assert info["success"]
