"""Place categories and per-culture name vocabularies of the synthetic V-IRL cities.

Every name is a fictional combination of words from one vocabulary's own word lists, so two vocabularies whose word
lists are disjoint produce disjoint landmark names (the unseen cities share no landmark name with the training city).
Names are plain ASCII without double quotes: they travel inside JSON answers and gymnasium `Text` spaces.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["CATEGORIES", "CATEGORY_WORDS", "DESTINATION_CATEGORIES", "VOCABULARIES", "Vocabulary", "make_name"]

CATEGORIES: tuple[str, ...] = (
    "restaurant", "cafe", "bakery", "bar", "bank", "pharmacy", "supermarket", "convenience_store",
    "clothing_store", "shoe_store", "book_store", "jewelry_store", "electronics_store", "hardware_store", "florist",
    "hair_care", "gym", "spa", "laundry", "lodging", "movie_theater", "library", "school", "hospital",
    "post_office", "park", "museum",
)  # fmt: skip

# The 20 destination place types of the V-IRL route collector (`place_types_20.txt`).
DESTINATION_CATEGORIES: frozenset[str] = frozenset(
    {
        "bank", "restaurant", "supermarket", "bakery", "cafe", "pharmacy", "hospital", "spa", "convenience_store",
        "school", "library", "park", "lodging", "laundry", "movie_theater", "book_store", "clothing_store",
        "jewelry_store", "gym", "bar",
    }
)  # fmt: skip

# English category words, shared by the English-speaking vocabularies. They are the only words an unseen city may
# share with the training city (the allow-list of the vocabulary-disjointness test).
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "restaurant": ("Diner", "Grill", "Kitchen", "Eatery"),
    "cafe": ("Cafe", "Coffee"),
    "bakery": ("Bakery", "Bakehouse"),
    "bar": ("Bar", "Tavern"),
    "bank": ("Bank", "Savings"),
    "pharmacy": ("Pharmacy", "Drugs"),
    "supermarket": ("Market", "Grocers"),
    "convenience_store": ("Deli", "Mart"),
    "clothing_store": ("Outfitters", "Apparel"),
    "shoe_store": ("Shoes",),
    "book_store": ("Books", "Booksellers"),
    "jewelry_store": ("Jewelers",),
    "electronics_store": ("Electronics",),
    "hardware_store": ("Hardware",),
    "florist": ("Flowers",),
    "hair_care": ("Barbers", "Salon"),
    "gym": ("Fitness", "Gym"),
    "spa": ("Spa",),
    "laundry": ("Laundry", "Cleaners"),
    "lodging": ("Hotel", "Inn"),
    "movie_theater": ("Cinema",),
    "library": ("Library",),
    "school": ("School", "Academy"),
    "hospital": ("Hospital", "Clinic"),
    "post_office": ("Post Office",),
    "park": ("Park", "Gardens"),
    "museum": ("Museum", "Gallery"),
}


@dataclass(frozen=True)
class Vocabulary:
    """A culture's name grammar: two word lists, templates and category words.

    Args:
        first (`tuple[str, ...]`): Names and surnames (`{a}` in templates).
        second (`tuple[str, ...]`): Nouns and adjectives (`{b}` and `{d}` in templates).
        templates (`tuple[str, ...]`): Name patterns over `{a}`, `{b}` and `{c}` (the category word).
        category_words (`dict[str, tuple[str, ...]]`, *optional*): Overrides of `CATEGORY_WORDS` for this culture.
        category_weights (`dict[str, float]`, *optional*): Relative frequency of categories (default 1 each).
    """

    first: tuple[str, ...]
    second: tuple[str, ...]
    templates: tuple[str, ...]
    category_words: tuple[tuple[str, tuple[str, ...]], ...] = ()
    category_weights: tuple[tuple[str, float], ...] = ()

    def words_for(self, category: str) -> tuple[str, ...]:
        return dict(self.category_words).get(category, CATEGORY_WORDS[category])

    def weights(self) -> list[float]:
        table = dict(self.category_weights)
        return [table.get(c, 1.0) for c in CATEGORIES]


def _v(first: str, second: str, templates: tuple[str, ...], words=None, weights=None) -> Vocabulary:
    return Vocabulary(
        tuple(first.split()),
        tuple(second.split()),
        templates,
        tuple((words or {}).items()),
        tuple((weights or {}).items()),
    )


_EN = ("{a}'s {c}", "{b} {c}", "{a} {b} {c}", "The {b} {c}")

VOCABULARIES: dict[str, Vocabulary] = {
    # Training city (NYC-like).
    "us-east": _v(
        "Abbott Barlow Calloway Dempsey Ellery Fairbanks Garrity Holloway Ingram Jessup Kearney Lombardi Mulligan "
        "Norcross Oakley Pemberton Quimby Radcliffe Sheridan Thackeray Underhill Vandermeer Whitlock Yardley",
        "Harbor Empire Liberty Hudson Granite Beacon Lantern Maple Knickerbocker Bowery Ironside Cobalt Copper "
        "Juniper Meridian Summit Pioneer Keystone Sterling Anchor",
        _EN,
        weights={"convenience_store": 2.0, "restaurant": 2.0, "bank": 1.5},
    ),
    # SoHo-like near-OOD city: US-east style with a disjoint word pool.
    "us-east-alt": _v(
        "Ashby Brennan Corrigan Dunmore Eckert Fitzroy Gilchrist Hartigan Kessler Lindqvist Mahoney Nolan Prentice "
        "Scanlon Tierney Vance Wexler Galloway Merriman Ostrowski",
        "Foundry Loft Gaslight Prism Ember Rivet Girder Cobble Spindle Trellis Quarry Atlas Vesper Orchard Ledger "
        "Canal Ferris Bramble Tinder Mercer",
        _EN,
        weights={"clothing_store": 3.0, "shoe_store": 2.0, "jewelry_store": 2.0},
    ),
    "us-west": _v(
        "Calder Dunsmuir Everett Gaskill Halvorsen Kellerman Larkspur Nakamura Ostrander Pacheco Redfield Sorensen "
        "Wainwright Alvord Bixby Chandler Delgado Emory Faraday Whitcombe",
        "Fog Cable Pacific Bay Pier Cypress Redwood Sunset Mission Presidio Poppy Tidepool Surf Coast Driftwood "
        "Seal Otter Hilltop Marina Gull",
        _EN,
        weights={"cafe": 3.0, "book_store": 2.0},
    ),
    "italian": _v(
        "Bellini Castagna Donati Ferrante Gallo Marchetti Nardini Orsini Pellegrini Rinaldi Santoro Tedeschi "
        "Valente Zanetti Luca Giulia Matteo Chiara Enzo Paola",
        "Aurora Stella Dolce Sole Luna Fontana Giardino Vecchia Piazza Torre Oro Verde Rosa Bella Nuova Cielo "
        "Mare Serena Antica Felice",
        ("{c} da {a}", "{c} {b}", "{c} {a}", "{c} La {b}"),
        words={
            "restaurant": ("Trattoria", "Osteria", "Ristorante"), "cafe": ("Caffe", "Bar Caffe"),
            "bakery": ("Panificio", "Forno"), "bar": ("Enoteca",), "bank": ("Banca",), "pharmacy": ("Farmacia",),
            "supermarket": ("Mercato",), "convenience_store": ("Alimentari",), "clothing_store": ("Moda",),
            "shoe_store": ("Calzature",), "book_store": ("Libreria",), "jewelry_store": ("Gioielleria",),
            "hardware_store": ("Ferramenta",), "florist": ("Fiori",), "hair_care": ("Parrucchiere",),
            "gym": ("Palestra",), "lodging": ("Albergo",), "movie_theater": ("Cinema Teatro",),
            "library": ("Biblioteca",), "school": ("Scuola",), "hospital": ("Ospedale",), "museum": ("Museo",),
            "park": ("Giardini",), "laundry": ("Lavanderia",), "spa": ("Terme",),
        },  # fmt: skip
        weights={"cafe": 3.0, "restaurant": 3.0, "clothing_store": 2.0},
    ),
    "uk": _v(
        "Ainsworth Blackwood Cartwright Davenport Ellington Fenwick Gresham Hargreaves Kingsley Lockwood Marlowe "
        "Pickering Ramsbottom Sutcliffe Thornbury Whitworth Ashcroft Bramwell Cholmondeley Pennington",
        "Crown Thistle Swan Fox Hound Lion Unicorn Kettle Compass Dragon Stag Falcon Bell Plough Mitre Wheatsheaf "
        "Feathers Magpie Otterburn Cheshire",
        ("The {b} and {d} {c}", "{a} and Sons {c}", "{a}'s {c}", "The {b} {c}"),
        words={"bar": ("Arms", "Pub"), "pharmacy": ("Chemist",), "convenience_store": ("Newsagent",)},
        weights={"bar": 4.0, "pharmacy": 2.0},
    ),
    "cantonese": _v(
        "Wing Hop Fook Lung Tai Wah Yuen Cheung Lok Shing Hing Kwong Mei Chun Shun Tak Yau Kam Sing Hoi",
        "Kee Lee Fung Hang Ming Cheong Loong Fai Hong Yick Tung Shek Wan Sang Kiu Chau Pak Nam Tsui Yan",
        ("{a} {b} {c}", "{a} {b} {a} {c}", "{b} {a} {c}"),
        words={
            "restaurant": ("Cha Chaan Teng", "Noodle House", "Dai Pai Dong"), "jewelry_store": ("Jewellery",),
            "pharmacy": ("Dispensary",), "bakery": ("Bakery Kee",), "convenience_store": ("Store",),
        },  # fmt: skip
        weights={"restaurant": 3.0, "jewelry_store": 3.0, "electronics_store": 2.0},
    ),
    "hindi": _v(
        "Ganesh Lakshmi Anand Gupta Sharma Verma Kapoor Malhotra Bansal Arora Mehta Chawla Khanna Sethi Bhatia "
        "Agarwal Joshi Saxena Tandon Kohli",
        "Sagar Vihar Bhawan Mahal Kunj Deep Jyoti Ratan Dhara Shree Laxmi Ganga Sangam Milan Kamal Suraj Chandra "
        "Pushp Amrit Nidhi",
        ("{b} {c}", "{a} {c}", "Shri {a} {c}", "New {a} {b} {c}"),
        words={
            "restaurant": ("Dhaba", "Bhojanalaya"), "bakery": ("Sweets", "Mithai"), "pharmacy": ("Medicos",),
            "clothing_store": ("Garments", "Sarees"), "convenience_store": ("Kirana Store", "General Store"),
            "electronics_store": ("Mobiles",), "jewelry_store": ("Jewellers",),
        },  # fmt: skip
        weights={"clothing_store": 3.0, "bakery": 2.0, "electronics_store": 2.0},
    ),
    "au": _v(
        "Murrell Tolhurst Birchall Dellow Eastaugh Gorringe Hislop Kilpatrick Lowther McAuley Pendlebury Quinlan "
        "Rowntree Stubbs Treloar Wheatley Yeoman Birtles Catchpole Dunstan",
        "Banksia Wattle Coolabah Kookaburra Jarrah Karri Waratah Acacia Mallee Boronia Gidgee Bluegum Saltbush "
        "Brolga Quokka Currawong Galah Lorikeet Emu Ironbark",
        _EN,
        weights={"cafe": 3.0, "bar": 2.0},
    ),
    "nigerian": _v(
        "Adaeze Babatunde Chinedu Funmilayo Ifeoma Kelechi Ngozi Olumide Tunde Yetunde Emeka Sade Bola Uche Chidi "
        "Amaka Segun Kunle Nkechi Obinna",
        "Grace Favour Divine Glory Mercy Blessed Unity Royal Victory Excel Peace Goodness Mighty Shalom Hope "
        "Zion Treasure Jubilee Destiny Covenant",
        ("Mama {a} {c}", "God's {b} {c}", "{a} and Sons {c}", "{b} {c}"),
        words={"restaurant": ("Kitchen", "Buka"), "convenience_store": ("Provisions",), "hair_care": ("Salon",)},
        weights={"restaurant": 3.0, "convenience_store": 3.0, "hair_care": 2.0},
    ),
    "argentine": _v(
        "Alvarez Benitez Cabrera Dominguez Echeverria Figueroa Gutierrez Ibarra Lucero Mansilla Ocampo Quiroga "
        "Sosa Villalba Pereyra Acosta Medina Rojas Sarmiento Funes",
        "Sol Rio Plata Pampa Estrella Tango Luz Bonita Sur Ombu Alba Nido Brisa Jacaranda Ceibo Viento Lucero "
        "Arroyo Colibri Hornero",
        ("{c} {a}", "{c} El {b}", "{c} La {b}", "{c} {b} del {d}"),
        words={
            "restaurant": ("Parrilla", "Bodegon"), "cafe": ("Confiteria",), "bakery": ("Panaderia",),
            "bar": ("Cerveceria",), "bank": ("Banco",), "pharmacy": ("Farmacia",), "supermarket": ("Almacen",),
            "convenience_store": ("Kiosco",), "clothing_store": ("Tienda",), "book_store": ("Libreria",),
            "jewelry_store": ("Joyeria",), "lodging": ("Hostal",), "gym": ("Gimnasio",), "school": ("Escuela",),
            "hospital": ("Sanatorio",), "museum": ("Museo",), "park": ("Plaza",), "laundry": ("Lavadero",),
            "florist": ("Floreria",), "hair_care": ("Peluqueria",),
        },  # fmt: skip
        weights={"cafe": 3.0, "book_store": 2.0},
    ),
}


def make_name(vocabulary: Vocabulary, category: str, rng: random.Random) -> str:
    """Draw one fictional place name of `category` from `vocabulary`.

    >>> make_name(VOCABULARIES["us-east"], "cafe", random.Random(0))
    'The Empire Coffee'
    """
    template = rng.choice(vocabulary.templates)
    return template.format(
        a=rng.choice(vocabulary.first),
        b=rng.choice(vocabulary.second),
        c=rng.choice(vocabulary.words_for(category)),
        d=rng.choice(vocabulary.second),
    )
