"""V-IRL route following on synthetic cities (V-IRL-L text, V-IRL-VL vision), after SFTvsRL (Chu et al., 2025).

>>> from sft_vs_rl.envs.virl import VIRLEnv, CITY_PRESETS
>>> env = VIRLEnv(city="old-town", action_space="relative")
>>> obs, info = env.reset(seed=0)
>>> env.step(env.optimal_response())[1]
1.0
"""

from .city import City, Place, generate_city
from .env import VIRLEnv, optimal_response
from .importer import load_route_infos, route_from_route_info
from .landmarks import VOCABULARIES
from .presets import CITY_PRESETS, LAYOUTS, STYLES, TRAIN_CITY, CityPreset, LayoutSpec, VisualStyle, resolve_city
from .prompts import Q_VIRL_L, Q_VIRL_VL, RESPONSE_VIRL, format_prompt, format_response
from .routes import (
    Episode,
    Milestone,
    RailStep,
    Route,
    build_episode,
    draw_episode,
    is_heldout_route,
    route_for_index,
    sample_route,
)
from .verifier import has_answer_format, parse_answer, verify_action

__all__ = [
    "CITY_PRESETS",
    "LAYOUTS",
    "Q_VIRL_L",
    "Q_VIRL_VL",
    "RESPONSE_VIRL",
    "STYLES",
    "TRAIN_CITY",
    "VOCABULARIES",
    "City",
    "CityPreset",
    "Episode",
    "LayoutSpec",
    "Milestone",
    "Place",
    "RailStep",
    "Route",
    "VIRLEnv",
    "VisualStyle",
    "build_episode",
    "draw_episode",
    "is_heldout_route",
    "format_prompt",
    "format_response",
    "generate_city",
    "load_route_infos",
    "optimal_response",
    "has_answer_format",
    "parse_answer",
    "resolve_city",
    "route_for_index",
    "route_from_route_info",
    "sample_route",
    "verify_action",
]
