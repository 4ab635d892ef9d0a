"""The vocabulary of the synthetic videos: visual concepts (what a step shows) and what is said.

Each `Concept` is data: a scene (background texture), an object (shape + colour) and a motion
(stirring = rotation, pouring = falling particles, cutting = a blade sweeping through...), plus a
few narration phrasings that name it. Concepts are reused across videos so that a model can learn
the text <-> visual mapping. `CHATTER` holds sentences that nothing on screen shows.

Colours are BGR (OpenCV order). Every sentence ends in sentence punctuation, has no other
sentence punctuation inside and stays under `MAX_WORDS` words, so that merging ASR fragments at
. ? ! recovers exactly these sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_WORDS = 18  # words per sentence, below the sentencifier's ~20-word cut


@dataclass(frozen=True)
class Concept:
    name: str
    scene: str  # background texture, a key of draw.SCENES
    shape: str  # object outline, a key of objects.SHAPES
    color: tuple[int, int, int]  # object colour, BGR
    motion: str  # a key of objects.MOTIONS
    motion_color: tuple[int, int, int]  # particles / tool colour, BGR
    phrases: tuple[str, ...]


CONCEPTS: tuple[Concept, ...] = (
    Concept("eggs", "kitchen", "bowl", (40, 210, 240), "pour", (245, 250, 255), (
        "Now crack the eggs into the yellow bowl.",
        "Next we crack a couple of eggs into the yellow bowl.",
        "Crack the eggs straight into the yellow bowl like this.",
    )),
    Concept("sauce", "kitchen", "disc", (30, 30, 200), "stir", (60, 60, 60), (
        "Next we stir the red sauce.",
        "Keep stirring the red tomato sauce so it does not burn.",
        "Give the red sauce a good stir.",
    )),
    Concept("milk", "kitchen", "glass", (200, 120, 30), "pour", (250, 250, 250), (
        "Pour the milk into the blue glass.",
        "Now we pour some milk into a tall blue glass.",
        "Slowly pour the milk into the glass.",
    )),
    Concept("carrot", "board", "bar", (20, 120, 240), "cut", (70, 70, 70), (
        "Chop the orange carrot into small pieces.",
        "Now cut the carrot on the cutting board.",
        "Slice the orange carrot nice and thin.",
    )),
    Concept("cucumber", "board", "bar", (40, 150, 40), "cut", (70, 70, 70), (
        "Slice the green cucumber into rounds.",
        "Next we cut the cucumber on the board.",
        "Cut the green cucumber into thin slices.",
    )),
    Concept("dough", "kitchen", "blob", (150, 200, 230), "squash", (0, 0, 0), (
        "Knead the dough with your hands.",
        "Now knead the dough until it is smooth.",
        "Keep kneading the dough for a few minutes.",
    )),
    Concept("cream", "kitchen", "bowl", (60, 160, 60), "whisk", (250, 250, 250), (
        "Whisk the cream in the green bowl.",
        "Now whisk the cream until it gets fluffy.",
        "Beat the cream in the green bowl with a whisk.",
    )),
    Concept("seeds", "garden", "pot", (30, 70, 130), "sprinkle", (20, 20, 20), (
        "Plant the seeds in the brown pot.",
        "Now sprinkle the seeds into the flower pot.",
        "Sow a few seeds in the brown pot.",
    )),
    Concept("flowers", "garden", "flowers", (180, 80, 240), "pour", (240, 160, 60), (
        "Water the pink flowers.",
        "Now give the pink flowers some water.",
        "Water the flowers gently so the soil stays moist.",
    )),
    Concept("shovel", "garden", "soil", (40, 60, 90), "dig", (150, 150, 150), (
        "Dig a hole with the shovel.",
        "Now dig a deep hole in the soil with a shovel.",
        "Use the shovel to dig out the hole.",
    )),
    Concept("hedge", "garden", "hedge", (30, 90, 20), "cut", (180, 180, 180), (
        "Trim the hedge with the shears.",
        "Now cut back the hedge so it looks neat.",
        "Trim the top of the hedge.",
    )),
    Concept("nail", "workshop", "plank", (80, 140, 190), "hammer", (50, 50, 50), (
        "Hammer the nail into the plank.",
        "Now drive the nail into the wood with a hammer.",
        "Hit the nail with the hammer a few times.",
    )),
    Concept("sanding", "workshop", "plank", (130, 190, 225), "sand", (120, 120, 120), (
        "Sand the wooden board until it is smooth.",
        "Now sand down the rough edges of the board.",
        "Sand the board with some sandpaper.",
    )),
    Concept("drill", "workshop", "plate", (190, 190, 190), "spin", (40, 40, 40), (
        "Drill a hole in the metal plate.",
        "Now drill through the metal plate.",
        "Carefully drill a hole into the plate.",
    )),
    Concept("bolt", "workshop", "hexagon", (90, 90, 90), "turn", (30, 30, 180), (
        "Tighten the bolt with the wrench.",
        "Now use the wrench to tighten the bolt.",
        "Turn the bolt until it is tight.",
    )),
    Concept("paint", "wall", "none", (150, 40, 130), "paint", (150, 40, 130), (
        "Paint the wall purple with the roller.",
        "Now roll the purple paint onto the wall.",
        "Paint the wall with a purple colour.",
    )),
    Concept("towel", "laundry", "towel", (245, 245, 245), "fold", (0, 0, 0), (
        "Fold the white towel in half.",
        "Now fold the towel neatly.",
        "Fold the white towel and put it away.",
    )),
    Concept("dishes", "laundry", "plates", (235, 235, 235), "bubbles", (255, 230, 200), (
        "Wash the dishes in the soapy water.",
        "Now wash the plates in the sink.",
        "Scrub the dishes until they are clean.",
    )),
    Concept("candle", "night", "candle", (230, 240, 245), "flicker", (40, 170, 255), (
        "Light the candle with a match.",
        "Now light the white candle.",
        "Carefully light the candle.",
    )),
)  # fmt: skip

CONCEPT_BY_NAME = {c.name: c for c in CONCEPTS}

# Said at the start of a video, at the end, and in between: nothing on screen shows them.
GREETINGS: tuple[str, ...] = (
    "Hi everyone, welcome back to my channel.",
    "Hello and welcome to another video.",
    "Today I want to show you something really useful.",
)
GOODBYES: tuple[str, ...] = (
    "Thanks for watching and see you next time.",
    "Don't forget to subscribe and hit the bell.",
    "If you liked this video, give it a thumbs up.",
)
CHATTER: tuple[str, ...] = (
    "Let me know in the comments what you think.",
    "My grandmother taught me this little trick.",
    "This is one of my favourite things to do.",
    "It really is that simple.",
    "Trust me, you are going to love it.",
    "I will put a link in the description below.",
    "Okay, so that went pretty well.",
    "Be sure to check out my other videos.",
    "I hope you are finding this helpful.",
    "I have been doing this for years.",
    "Honestly, it took me a while to figure this out.",
    "You can find everything I use on my website.",
)
