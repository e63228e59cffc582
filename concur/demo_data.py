"""Synthetic MMLU-style demo data set (data/demo/): seeded generator and its outcome model.

ALL NUMBERS IN THE DEMO DATA ARE SYNTHETIC. No language model was run: the questions
come from templates and the correctness labels and costs are drawn from the simple
model described below. The demo exists so the pipeline runs end to end in minutes on a
laptop and so routing has something to learn; it says nothing about real models. For
real results use prepare_data.py (MMLU-Pro, RouterBench, RouteLLM) or the paper's
MMLU files.

Regenerate the committed files (byte-identical; tests/test_demo_data.py checks it):

    python -m concur.demo_data --out data/demo --seed 0

Tasks
-----
`n_tasks` (default 1500) four-option multiple-choice questions, each with `question`,
`options` (4 strings), `answer` (letter A-D) and `subject` (MMLU subject names);
`question_id` is the list index, as in the paper's data. Two kinds of subject:

* multi-step subjects (elementary/high-school mathematics, high-school physics, college
  chemistry, professional accounting, formal logic): word problems, kinematics,
  stoichiometry, interest/depreciation schedules and chains of implications with
  k = 1..7 reasoning steps. The answer is actually computed; k is visible in the text
  (one clause per step, "compute"/"determine" wording, longer questions).
* recall subjects (geography, US/world history, chemistry, biology, anatomy, astronomy,
  philosophy, computer science, nutrition): fact questions from small hand-written fact
  tables, each fact tagged common / moderate / obscure (tier 0/1/2).

Outcome model (per task t, strategy s = model m x decoding d)
--------------------------------------------------------------
Model size enters through `params` read from strategies.json: size_m = log2(params/1e9).
Family traits (FAMILY_TRAITS) give Qwen a reasoning edge and Llama a knowledge edge.

    z = A0 + 0.55 size_m + general_f
        + K_subj * (0.5 size_m + knowledge_f)        (knowledge-heavy subjects favour size)
        + R_subj * reasoning_f                       (R = 1 on multi-step subjects)
        - difficulty_t - lambda(m, d) * k_t + cot_shift(d, subject kind) + eps
    difficulty_t = 0.4 level_subj + 0.8 tier_t + u_t,   u_t ~ N(0, 0.6)   (shared by all strategies)
    lambda(m, vanilla) = 0.6,   lambda(m, cot) = 0.6 (1 - eff_m),   eff_m = 0.15 + 0.15 size_m + cot_f
    cot_shift: -0.15 on recall (thinking aloud does not add facts), -0.1 on multi-step
    eps ~ N(0, 0.35) per (task, strategy)
    P(correct) = 0.25 + 0.75 sigmoid(z)      (4-option guessing floor);  label ~ Bernoulli(P)
    The draws of one task are correlated across strategies (Gaussian copula, rho = RHO_SHARED),
    as real models share mistakes; each label's marginal is exactly Bernoulli(P).

So small models fail hard/multi-step tasks, CoT's gain grows with k and with model
size, CoT does not help (slightly hurts) pure recall, and larger models gain most on
knowledge-heavy subjects. Part of the difficulty (u_t, eps) is invisible in the text, so
predictors from the text embedding have a real but imperfect signal.

Cost (flops column, unit 1e11 FLOPs): 2 * params * tokens / 1e11 with
tokens = prompt tokens (ceil(len(embedded text) / 4) + instruction overhead, 40 vanilla /
60 CoT) + generated tokens. Generated tokens are log-normal: vanilla median 6 (a short
answer), CoT median (70 + 55 k + 20 level) growing with the step count (k = 1.5 for
recall) and with difficulty, times a family/size verbosity factor, capped at 1024.

Splits: a seeded permutation of tasks, 60 % train / 20 % val / 20 % test; each task
has one row per strategy (question_id, model, decoding, label, flops) in its split.
The strategy pool is every model x decoding of the repository's strategies.json.
"""
from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr

from .data import LETTERS, load_strategies, task_text
from .errors import ConcurError, cli_main
from .io import write_csv_atomic, write_text_atomic

REPO_STRATEGIES = Path(__file__).resolve().parent.parent / "strategies.json"
SPLIT_FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}
COST_SCALE = 1e11  # flops column unit: 1e11 FLOPs

# --------------------------------------------------------------- outcome model
A0 = 0.3
FAMILY_TRAITS = {
    # general, knowledge, reasoning, cot efficiency offset, verbosity
    "qwen": {"general": 0.0, "knowledge": 0.0, "reasoning": 0.6, "cot": 0.05, "verbosity": 1.0},
    "llama": {"general": 0.0, "knowledge": 0.6, "reasoning": -0.1, "cot": 0.0, "verbosity": 1.25},
}
RHO_SHARED = 0.8  # correlation of the label draws of one task across strategies
LAMBDA_STEP = 0.6  # logit lost per reasoning step when answering directly
COT_SHIFT = {"recall": -0.15, "steps": -0.1}
PROMPT_OVERHEAD = {"vanilla": 40, "cot": 60}  # instruction tokens around the question
MAX_GEN_TOKENS = 1024


def _family(model: str) -> str:
    fam = model.rstrip("0123456789b")
    if fam not in FAMILY_TRAITS:
        raise ConcurError(f"model '{model}': demo generator knows families {', '.join(FAMILY_TRAITS)} only")
    return fam


# -------------------------------------------------------------- text helpers
NAMES = ["Maria", "James", "Aisha", "Chen", "Lucas", "Priya", "Omar", "Sofia", "Kenji", "Elena",
         "David", "Fatima", "Noah", "Grace", "Mateo", "Hana", "Tom", "Leila"]
ITEMS = ["apples", "marbles", "books", "stamps", "pencils", "stickers", "cookies", "seashells", "cards"]
CONTAINERS = ["boxes", "bags", "packs", "crates"]
ASK = ["How many {items} does {name} have now?", "Compute how many {items} {name} has at the end.",
       "Determine the number of {items} {name} ends up with.", "How many {items} are left with {name}?"]


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _money(x: float, cents: bool = True) -> str:
    return f"${x:,.2f}" if cents else f"${x:,.0f}"


def _distractors(rng: np.random.Generator, answer: str, near: list[str], fill: Callable[[], str]) -> list[str]:
    """Three distinct wrong options: plausible mistakes first, then random fillers."""
    out: list[str] = []
    for cand in list(near) + [fill() for _ in range(60)]:
        if cand != answer and cand not in out:
            out.append(cand)
        if len(out) == 3:
            return out
    raise AssertionError("could not build distractors")  # unreachable with the fillers above


def _num_fill(rng: np.random.Generator, value: float, fmt: Callable[[float], str], lo: float = 0.05, hi: float = 0.4):
    def fill() -> str:
        f = rng.uniform(lo, hi) * (1 if rng.random() < 0.5 else -1)
        return fmt(max(value * (1 + f) + rng.normal(0, 3), 0.1))  # absolute jitter keeps tiny values apart
    return fill


# ------------------------------------------------------ multi-step generators
# Each returns (question, correct option, 3 wrong options, steps).
def gen_word_problem(rng: np.random.Generator, k_range=(1, 4), big: bool = False):
    name, friend = rng.choice(NAMES, 2, replace=False)
    items = _pick(rng, ITEMS)
    x = int(rng.integers(20, 200 if big else 60))
    k = int(rng.integers(k_range[0], k_range[1] + 1))
    clauses, values = [], [x]
    for _ in range(k):
        ops = ["add", "sub", "groups"] + (["double", "half", "share"] if big else [])
        op = _pick(rng, ops)
        if op == "half" and x % 2:
            op = "add"
        if op == "share":
            c = int(rng.integers(3, 6))
            if x % c:
                op = "sub"
        if op == "sub" and x < 3:
            op = "add"
        if op == "add":
            a = int(rng.integers(2, 40 if big else 20))
            clauses.append(_pick(rng, [f"then buys {a} more", f"then finds {a} more", f"then receives {a} more from {friend}"]))
            x += a
        elif op == "sub":
            a = int(rng.integers(1, x))
            clauses.append(_pick(rng, [f"then gives {a} to {friend}", f"then loses {a}", f"then sells {a}"]))
            x -= a
        elif op == "groups":
            c, d = int(rng.integers(2, 7)), int(rng.integers(3, 13))
            clauses.append(f"then buys {c} {_pick(rng, CONTAINERS)} with {d} {items} in each")
            x += c * d
        elif op == "double":
            clauses.append("then doubles the collection")
            x *= 2
        elif op == "half":
            clauses.append(f"then gives half of them to {friend}")
            x //= 2
        else:  # share
            clauses.append(f"then splits them equally among {c} friends, keeping one share")
            x //= c
        values.append(x)
    body = ", ".join(clauses)
    q = f"{name} has {values[0]} {items}. {name} {body}. " + _pick(rng, ASK).format(items=items, name=name)
    q = q.replace(f"{name} then", f"{name} first", 1) if k > 1 else q.replace(" then ", " ", 1)
    near = [str(values[-2]), str(x + int(rng.integers(1, 6))), str(max(x - int(rng.integers(1, 6)), 0))]
    return q, str(x), _distractors(rng, str(x), near, _num_fill(rng, x, lambda v: str(int(round(v))))), k


PRICE_ITEMS = ["jacket", "bicycle", "laptop", "pair of shoes", "coffee machine", "desk lamp", "backpack"]


def gen_price_problem(rng: np.random.Generator):
    item = _pick(rng, PRICE_ITEMS)
    p = float(rng.integers(4, 60) * 5)
    k = int(rng.integers(2, 7))
    clauses, values = [], [p]
    for i in range(k):
        op = _pick(rng, ["up", "down", "coupon", "tax"] if i == k - 1 else ["up", "down", "coupon"])
        if op == "up":
            r = int(_pick(rng, [5, 10, 15, 20, 25, 30]))
            clauses.append(f"the price is raised by {r}%")
            p *= 1 + r / 100
        elif op == "down":
            r = int(_pick(rng, [10, 15, 20, 25, 40, 50]))
            clauses.append(f"a {r}% discount is applied")
            p *= 1 - r / 100
        elif op == "coupon" and p > 20:
            c = int(_pick(rng, [5, 10, 15]))
            clauses.append(f"a ${c} coupon is subtracted")
            p -= c
        else:
            r = int(_pick(rng, [5, 6, 8, 10]))
            clauses.append(f"{r}% sales tax is added")
            p *= 1 + r / 100
        p = round(p, 2)
        values.append(p)
    seq = "; then ".join(clauses)
    q = (f"A {item} is listed at {_money(values[0])}. In order: {seq}. "
         + _pick(rng, ["What is the final price?", "Calculate the final price, to the nearest cent.",
                       "Compute the amount the customer finally pays."]))
    near = [_money(values[-2]), _money(values[0] * (1 + (p - values[0]) / values[0] * 0.8))]
    return q, _money(p), _distractors(rng, _money(p), near, _num_fill(rng, p, _money)), k


def gen_kinematics(rng: np.random.Generator):
    k = int(rng.integers(1, 6))
    v, d_total, d_prev, clauses = 0.0, 0.0, 0.0, []
    no_half = 0.0  # the classic mistake: forgetting the 1/2 in a t^2 / 2
    for i in range(k):
        kinds = ["acc"] if v == 0 else ["acc", "const", "brake"]
        kind = _pick(rng, kinds)
        t = int(rng.integers(2, 9))
        if kind == "acc":
            a = int(rng.integers(1, 5))
            d = v * t + 0.5 * a * t * t
            no_half += v * t + a * t * t
            clauses.append(f"accelerates uniformly at {a} m/s^2 for {t} s")
            v += a * t
        elif kind == "const":
            d = v * t
            no_half += d
            clauses.append(f"moves at constant speed for {t} s")
        elif v >= t:
            a = int(rng.integers(1, int(v // t) + 1))  # never brake past a standstill
            d = v * t - 0.5 * a * t * t
            no_half += v * t - a * t * t
            clauses.append(f"brakes at {a} m/s^2 for {t} s")
            v -= a * t
        else:
            d = v * t
            no_half += d
            clauses.append(f"coasts at constant speed for {t} s")
        d_prev, d_total = d_total, d_total + d
    obj = _pick(rng, ["A cart", "A car", "A cyclist", "A train", "A sled"])
    q = (f"{obj} starts from rest, " + ", then ".join(clauses) + ". "
         + _pick(rng, ["What total distance does it travel?", "Compute the total distance covered.",
                       "Determine the distance travelled over the whole motion."]))
    fmt = lambda x: f"{x:.1f} m"  # noqa: E731
    near = [fmt(d_prev)] if k > 1 else []
    near += [fmt(max(no_half, 1.0)), fmt(2 * d_total)]
    return q, fmt(d_total), _distractors(rng, fmt(d_total), near, _num_fill(rng, d_total, fmt)), k


REACTIONS = [
    # equation, reactant, its molar mass, product, its molar mass, mole ratio product/reactant
    ("2 H2 + O2 -> 2 H2O", "hydrogen gas", 2.016, "water", 18.015, 1.0),
    ("CH4 + 2 O2 -> CO2 + 2 H2O", "methane", 16.04, "carbon dioxide", 44.01, 1.0),
    ("N2 + 3 H2 -> 2 NH3", "nitrogen gas", 28.014, "ammonia", 17.031, 2.0),
    ("CaCO3 -> CaO + CO2", "calcium carbonate", 100.09, "calcium oxide", 56.08, 1.0),
    ("2 Na + Cl2 -> 2 NaCl", "sodium", 22.99, "sodium chloride", 58.44, 1.0),
    ("C3H8 + 5 O2 -> 3 CO2 + 4 H2O", "propane", 44.10, "carbon dioxide", 44.01, 3.0),
    ("2 KClO3 -> 2 KCl + 3 O2", "potassium chlorate", 122.55, "oxygen gas", 32.00, 1.5),
]


GASES = ("carbon dioxide", "ammonia", "oxygen gas")


def gen_stoichiometry(rng: np.random.Generator):
    eq, react, mr, prod, mp, ratio = REACTIONS[int(rng.integers(len(REACTIONS)))]
    mass = float(rng.integers(2, 50) * 5)
    variant = _pick(rng, ["mol", "grams", "yield", "volume"])
    if variant == "volume" and prod not in GASES:
        variant = "yield"
    mol = mass / mr * ratio
    y = int(_pick(rng, [60, 70, 75, 80, 85, 90]))
    if variant == "mol":
        k, ans, fmt = 2, mol, lambda x: f"{x:.2f} mol"
        what = f"How many moles of {prod} are formed?"
        wrong = [mass / mr, mass / mr / ratio if ratio != 1 else 2 * mol]
    elif variant == "grams":
        k, ans, fmt = 3, mol * mp, lambda x: f"{x:.1f} g"
        what = f"What mass of {prod} (molar mass {mp} g/mol) is produced?"
        wrong = [mass / mr * mp, mass * ratio]
    elif variant == "yield":
        k, ans, fmt = 4, mol * mp * y / 100, lambda x: f"{x:.1f} g"
        what = f"If the percent yield is {y}%, what mass of {prod} (molar mass {mp} g/mol) is obtained?"
        wrong = [mol * mp, mass / mr * mp * y / 100]
    else:
        k, ans, fmt = 4, mol * 22.4 * y / 100, lambda x: f"{x:.1f} L"
        what = f"If the percent yield is {y}%, what volume of {prod} is obtained at STP (22.4 L/mol)?"
        wrong = [mol * 22.4, mass / mr * 22.4 * y / 100]
    q = (f"For the balanced reaction {eq}, {mass:.0f} g of {react} (molar mass {mr} g/mol) reacts completely. "
         + what)
    ans_s = fmt(ans)
    return q, ans_s, _distractors(rng, ans_s, [fmt(w) for w in wrong], _num_fill(rng, ans, fmt)), k


def gen_accounting(rng: np.random.Generator):
    k = int(rng.integers(1, 7))
    if rng.random() < 0.5:
        p = float(rng.integers(10, 200) * 500)
        r = int(_pick(rng, [3, 4, 5, 6, 8, 10]))
        w = float(rng.integers(1, 10) * 200)
        bal, hist = p, [p]
        for _ in range(k):
            bal = bal * (1 + r / 100) - w
            hist.append(bal)
        years = "one year" if k == 1 else f"{k} years"
        q = (f"A company deposits {_money(p, False)} in an account that earns {r}% interest compounded annually. "
             f"At the end of each year, after interest is credited, it withdraws {_money(w, False)}. "
             + _pick(rng, [f"What is the balance after {years}, to the nearest dollar?",
                           f"Compute the account balance at the end of {years} (nearest dollar)."]))
        wrong = [hist[-2], p * (1 + r / 100) ** k - w, p * (1 + r * k / 100) - w * k]
        val = bal
    else:
        c = float(rng.integers(10, 100) * 1000)
        life = int(rng.integers(max(k, 4), 11))
        rate = 2 / life
        book, hist = c, [c]
        for _ in range(k):
            book *= 1 - rate
            hist.append(book)
        q = (f"Equipment costing {_money(c, False)} has a useful life of {life} years and no salvage value. "
             f"Using the double-declining-balance method, "
             + _pick(rng, [f"what is its book value at the end of year {k}, to the nearest dollar?",
                           f"compute the book value after {k} year{'s' if k > 1 else ''} of depreciation (nearest dollar)."]))
        wrong = [hist[-2], c * (1 - k / life), c * (1 - rate * k)]
        val = book
    fmt = lambda x: _money(round(x), False)  # noqa: E731
    return q, fmt(val), _distractors(rng, fmt(val), [fmt(w) for w in wrong if w > 0], _num_fill(rng, val, fmt)), k


PROPOSITIONS = [
    "it rains", "the ground is wet", "the match is postponed", "the stadium stays closed", "the vendors lose income",
    "the alarm sounds", "the guards lock the doors", "the museum opens late", "Alice attends the meeting",
    "the report is approved", "the budget is released", "the bridge is repaired", "traffic moves faster",
    "the store offers a discount", "sales increase", "the factory hires more workers", "the lights are on",
    "the generator is running", "the experiment succeeds", "the paper is published", "Bob studies logic",
    "Bob passes the exam", "the library is open", "the students can borrow books",
]


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def gen_logic(rng: np.random.Generator):
    k = int(rng.integers(1, 7))
    props = [PROPOSITIONS[i] for i in rng.choice(len(PROPOSITIONS), k + 2, replace=False)]
    chain, spare = props[: k + 1], props[k + 1]
    premises = [f"If {chain[i]}, then {chain[i + 1]}." for i in range(k)]
    premises = [premises[i] for i in rng.permutation(k)]
    q = (" ".join(premises) + f" {_cap(chain[0])}. "
         + _pick(rng, ["Which of the following must be true?", "Which conclusion can be validly derived?",
                       "What follows from these premises?"]))
    ans = _cap(chain[-1]) + "."
    near = [f"It is not the case that {chain[-1]}.", _cap(spare) + ".",
            (f"If {chain[-1]}, then {chain[0]}." if k > 1 else f"It is not the case that {chain[0]}.")]
    unrelated = [x for x in PROPOSITIONS if x not in chain]  # a chain member would also be true
    return q, ans, _distractors(rng, ans, near, lambda: _cap(_pick(rng, unrelated)) + "."), k


# ---------------------------------------------------------- recall fact tables
CAPITALS = [  # country, capital, tier, a tempting wrong city
    ("France", "Paris", 0, "Marseille"), ("Japan", "Tokyo", 0, "Osaka"), ("Italy", "Rome", 0, "Milan"),
    ("Germany", "Berlin", 0, "Munich"), ("Egypt", "Cairo", 0, "Alexandria"), ("Spain", "Madrid", 0, "Barcelona"),
    ("Kenya", "Nairobi", 0, "Mombasa"), ("Peru", "Lima", 0, "Cusco"), ("Canada", "Ottawa", 1, "Toronto"),
    ("Australia", "Canberra", 1, "Sydney"), ("Brazil", "Brasília", 1, "Rio de Janeiro"),
    ("Turkey", "Ankara", 1, "Istanbul"), ("Nigeria", "Abuja", 1, "Lagos"), ("Switzerland", "Bern", 1, "Zurich"),
    ("New Zealand", "Wellington", 1, "Auckland"), ("Morocco", "Rabat", 1, "Casablanca"),
    ("Vietnam", "Hanoi", 1, "Ho Chi Minh City"), ("Pakistan", "Islamabad", 1, "Karachi"),
    ("Kazakhstan", "Astana", 2, "Almaty"), ("Myanmar", "Naypyidaw", 2, "Yangon"),
    ("Tanzania", "Dodoma", 2, "Dar es Salaam"), ("Burkina Faso", "Ouagadougou", 2, "Bobo-Dioulasso"),
    ("Bhutan", "Thimphu", 2, "Paro"), ("Eritrea", "Asmara", 2, "Massawa"), ("Laos", "Vientiane", 2, "Luang Prabang"),
    ("Mongolia", "Ulaanbaatar", 2, "Erdenet"), ("Kyrgyzstan", "Bishkek", 2, "Osh"),
]

EVENTS = {  # subject -> (event noun phrase, year, tier)
    "high_school_us_history": [
        ("the adoption of the Declaration of Independence", 1776, 0), ("the signing of the United States Constitution", 1787, 1),
        ("the Louisiana Purchase", 1803, 1), ("the Missouri Compromise", 1820, 2), ("the announcement of the Monroe Doctrine", 1823, 2),
        ("the passage of the Kansas-Nebraska Act", 1854, 2), ("the outbreak of the American Civil War", 1861, 0),
        ("the final Emancipation Proclamation taking effect", 1863, 1), ("the Wall Street Crash that began the Great Depression", 1929, 0),
        ("the attack on Pearl Harbor", 1941, 0), ("the Supreme Court's decision in Brown v. Board of Education", 1954, 1),
        ("the signing of the Civil Rights Act", 1964, 1), ("the Apollo 11 Moon landing", 1969, 0),
    ],
    "high_school_world_history": [
        ("the Battle of Hastings", 1066, 1), ("the sealing of the Magna Carta", 1215, 1), ("Columbus's first landfall in the Americas", 1492, 0),
        ("the Treaty of Tordesillas", 1494, 2), ("the posting of Luther's Ninety-five Theses", 1517, 1), ("the Peace of Augsburg", 1555, 2),
        ("the Edict of Nantes", 1598, 2), ("the Peace of Westphalia", 1648, 2), ("the Glorious Revolution in England", 1688, 2),
        ("the storming of the Bastille", 1789, 0), ("the conclusion of the Congress of Vienna", 1815, 1), ("the Treaty of Nanking", 1842, 2),
        ("the start of the Meiji Restoration", 1868, 2), ("the outbreak of World War I", 1914, 0),
        ("the October Revolution in Russia", 1917, 1), ("the end of World War II", 1945, 0), ("the fall of the Berlin Wall", 1989, 0),
    ],
}

ELEMENTS = [  # name, symbol, atomic number, tier
    ("hydrogen", "H", 1, 0), ("carbon", "C", 6, 0), ("nitrogen", "N", 7, 0), ("oxygen", "O", 8, 0), ("neon", "Ne", 10, 0),
    ("sodium", "Na", 11, 1), ("chlorine", "Cl", 17, 0), ("potassium", "K", 19, 1), ("calcium", "Ca", 20, 0),
    ("iron", "Fe", 26, 1), ("copper", "Cu", 29, 1), ("selenium", "Se", 34, 2), ("molybdenum", "Mo", 42, 2),
    ("silver", "Ag", 47, 1), ("tin", "Sn", 50, 2), ("antimony", "Sb", 51, 2), ("xenon", "Xe", 54, 2),
    ("tungsten", "W", 74, 2), ("gold", "Au", 79, 1), ("mercury", "Hg", 80, 1), ("lead", "Pb", 82, 1), ("uranium", "U", 92, 1),
]

WORKS = [  # philosophy: work, author, tier
    ("The Republic", "Plato", 0), ("Nicomachean Ethics", "Aristotle", 0), ("The Social Contract", "Jean-Jacques Rousseau", 0),
    ("Critique of Pure Reason", "Immanuel Kant", 1), ("Leviathan", "Thomas Hobbes", 1),
    ("Meditations on First Philosophy", "René Descartes", 1), ("Beyond Good and Evil", "Friedrich Nietzsche", 1),
    ("An Essay Concerning Human Understanding", "John Locke", 1), ("Utilitarianism", "John Stuart Mill", 1),
    ("A Theory of Justice", "John Rawls", 1), ("Summa Theologica", "Thomas Aquinas", 1),
    ("A Treatise of Human Nature", "David Hume", 2), ("Being and Time", "Martin Heidegger", 2),
    ("The Phenomenology of Spirit", "G. W. F. Hegel", 2), ("Ethics, Demonstrated in Geometrical Order", "Baruch Spinoza", 2),
    ("Tractatus Logico-Philosophicus", "Ludwig Wittgenstein", 2), ("Either/Or", "Søren Kierkegaard", 2),
    ("Monadology", "Gottfried Wilhelm Leibniz", 2),
]

FACTS = {  # subject -> (question, answer, three wrong options, tier)
    "college_biology": [
        ("Which organelle is the main site of ATP synthesis by oxidative phosphorylation?", "Mitochondrion", ["Golgi apparatus", "Lysosome", "Smooth endoplasmic reticulum"], 0),
        ("Which enzyme unwinds the DNA double helix at the replication fork?", "Helicase", ["DNA ligase", "Primase", "Topoisomerase"], 1),
        ("Which enzyme joins Okazaki fragments on the lagging strand?", "DNA ligase", ["Helicase", "Primase", "RNA polymerase"], 1),
        ("During which phase of mitosis do sister chromatids separate and move to opposite poles?", "Anaphase", ["Prophase", "Metaphase", "Telophase"], 0),
        ("Which nitrogenous base is found in RNA but not in DNA?", "Uracil", ["Thymine", "Adenine", "Cytosine"], 0),
        ("In plants, where does the Calvin cycle take place?", "The stroma of the chloroplast", ["The thylakoid membrane", "The mitochondrial matrix", "The cytosol"], 1),
        ("Which molecule carries amino acids to the ribosome during translation?", "Transfer RNA (tRNA)", ["Messenger RNA (mRNA)", "Ribosomal RNA (rRNA)", "Small nuclear RNA (snRNA)"], 0),
        ("Which hormone, secreted by pancreatic beta cells, lowers blood glucose?", "Insulin", ["Glucagon", "Cortisol", "Epinephrine"], 0),
        ("Which process produces gametes with half the chromosome number of the parent cell?", "Meiosis", ["Mitosis", "Binary fission", "Budding"], 0),
        ("What is the final electron acceptor of the mitochondrial electron transport chain?", "Oxygen", ["NAD+", "Carbon dioxide", "Cytochrome c"], 1),
        ("Which enzyme synthesizes the RNA primers needed for DNA replication?", "Primase", ["Helicase", "DNA ligase", "Reverse transcriptase"], 2),
        ("Which type of bond links adjacent amino acids in a polypeptide?", "Peptide bond", ["Glycosidic bond", "Phosphodiester bond", "Hydrogen bond"], 0),
        ("The lac operon of E. coli is induced when which sugar is available (via its isomer allolactose)?", "Lactose", ["Glucose", "Arabinose", "Sucrose"], 2),
        ("Which enzyme fixes carbon dioxide in the first step of the Calvin cycle?", "Rubisco", ["PEP carboxylase", "Carbonic anhydrase", "ATP synthase"], 2),
        ("During which part of interphase is DNA replicated?", "S phase", ["G1 phase", "G2 phase", "G0 phase"], 1),
    ],
    "anatomy": [
        ("Which is the longest bone in the human body?", "Femur", ["Tibia", "Humerus", "Fibula"], 0),
        ("Which chamber of the heart pumps oxygenated blood into the aorta?", "Left ventricle", ["Right ventricle", "Left atrium", "Right atrium"], 0),
        ("Which cranial nerve controls most muscles of facial expression?", "Facial nerve (CN VII)", ["Trigeminal nerve (CN V)", "Vagus nerve (CN X)", "Hypoglossal nerve (CN XII)"], 2),
        ("Where in the nephron does most reabsorption of water and solutes occur?", "Proximal convoluted tubule", ["Distal convoluted tubule", "Loop of Henle", "Collecting duct"], 1),
        ("Which bone of the skull contains the foramen magnum?", "Occipital bone", ["Temporal bone", "Parietal bone", "Sphenoid bone"], 2),
        ("Which muscle is the primary muscle of inspiration?", "Diaphragm", ["External intercostals", "Rectus abdominis", "Pectoralis major"], 1),
        ("How many pairs of ribs does a typical adult human have?", "12", ["10", "11", "14"], 0),
        ("Which part of the brain coordinates balance and fine motor movement?", "Cerebellum", ["Medulla oblongata", "Hypothalamus", "Occipital lobe"], 0),
        ("Which valve lies between the left atrium and the left ventricle?", "Mitral (bicuspid) valve", ["Tricuspid valve", "Aortic valve", "Pulmonary valve"], 1),
        ("Which gland releases antidiuretic hormone into the bloodstream?", "Posterior pituitary", ["Anterior pituitary", "Adrenal cortex", "Thyroid gland"], 2),
        ("Which carpal bone is most commonly fractured?", "Scaphoid", ["Lunate", "Hamate", "Pisiform"], 2),
        ("Which vessels carry oxygenated blood from the lungs to the heart?", "Pulmonary veins", ["Pulmonary arteries", "Superior vena cava", "Coronary arteries"], 1),
    ],
    "astronomy": [
        ("Which planet is closest to the Sun?", "Mercury", ["Venus", "Mars", "Earth"], 0),
        ("Which is the largest planet in the Solar System?", "Jupiter", ["Saturn", "Neptune", "Uranus"], 0),
        ("Which planet rotates on its side, with an axial tilt of about 98 degrees?", "Uranus", ["Neptune", "Saturn", "Venus"], 1),
        ("Which planet has a retrograde rotation and the hottest surface in the Solar System?", "Venus", ["Mercury", "Mars", "Jupiter"], 1),
        ("What is the name of the largest moon of Saturn?", "Titan", ["Enceladus", "Rhea", "Ganymede"], 1),
        ("Approximately how long does light from the Sun take to reach Earth?", "About 8 minutes", ["About 8 seconds", "About 1 hour", "About 8 hours"], 0),
        ("Approximately how long is one astronomical unit?", "About 150 million km", ["About 15 million km", "About 1.5 billion km", "About 9.5 trillion km"], 1),
        ("Which element makes up most of the Sun's mass?", "Hydrogen", ["Helium", "Oxygen", "Carbon"], 0),
        ("What will the Sun become after it leaves the main sequence?", "A red giant", ["A neutron star", "A black hole", "A blue supergiant"], 1),
        ("Which is the nearest star system to the Sun?", "Alpha Centauri", ["Sirius", "Vega", "Betelgeuse"], 1),
        ("The Chandrasekhar limit, the maximum mass of a stable white dwarf, is approximately:", "1.4 solar masses", ["0.5 solar masses", "3 solar masses", "10 solar masses"], 2),
        ("Which law relates the square of a planet's orbital period to the cube of its semi-major axis?", "Kepler's third law", ["Kepler's first law", "Newton's first law", "Hubble's law"], 1),
        ("The Hertzsprung-Russell diagram plots a star's luminosity against its:", "Surface temperature", ["Mass", "Age", "Distance from Earth"], 1),
    ],
    "college_computer_science": [
        ("What is the worst-case time complexity of quicksort on n elements?", "O(n^2)", ["O(n log n)", "O(n)", "O(log n)"], 1),
        ("What is the worst-case time complexity of binary search on a sorted array of n elements?", "O(log n)", ["O(n)", "O(1)", "O(n log n)"], 0),
        ("What is the worst-case time complexity of merge sort on n elements?", "O(n log n)", ["O(n^2)", "O(n)", "O(log n)"], 0),
        ("What is the time complexity of building a binary heap from n elements bottom-up?", "O(n)", ["O(n log n)", "O(log n)", "O(n^2)"], 2),
        ("What is the running time of Dijkstra's algorithm with a binary heap on a graph with V vertices and E edges?", "O((V + E) log V)", ["O(V E)", "O(V + E)", "O(V^3)"], 2),
        ("What is the expected time of a lookup in a hash table with a good hash function and bounded load factor?", "O(1)", ["O(log n)", "O(n)", "O(n log n)"], 0),
        ("What is the time complexity of the Floyd-Warshall all-pairs shortest-path algorithm?", "O(V^3)", ["O(V^2)", "O(V^2 log V)", "O(V E)"], 1),
        ("Which data structure does breadth-first search use to hold the frontier?", "A queue", ["A stack", "A priority queue", "A hash set"], 0),
        ("What is the height of a balanced binary search tree with n nodes?", "O(log n)", ["O(n)", "O(sqrt(n))", "O(1)"], 0),
        ("What is the worst-case lower bound on comparisons for any comparison-based sort of n items?", "Omega(n log n)", ["Omega(n)", "Omega(n^2)", "Omega(log n)"], 1),
        ("By the Cook-Levin theorem, Boolean satisfiability (SAT) was the first problem shown to be:", "NP-complete", ["Undecidable", "Solvable in polynomial time", "PSPACE-complete"], 1),
        ("What is the amortized cost of appending to a dynamic array that doubles its capacity when full?", "O(1)", ["O(log n)", "O(n)", "O(n log n)"], 1),
    ],
    "nutrition": [
        ("Deficiency of which vitamin causes scurvy?", "Vitamin C", ["Vitamin D", "Vitamin B12", "Vitamin A"], 0),
        ("Deficiency of which vitamin causes rickets in children?", "Vitamin D", ["Vitamin C", "Vitamin K", "Vitamin E"], 0),
        ("Beriberi results from a deficiency of which vitamin?", "Thiamine (vitamin B1)", ["Niacin (vitamin B3)", "Riboflavin (vitamin B2)", "Folate (vitamin B9)"], 1),
        ("Pellagra is caused by a deficiency of which vitamin?", "Niacin (vitamin B3)", ["Thiamine (vitamin B1)", "Vitamin C", "Vitamin B12"], 2),
        ("Which vitamin is required for the synthesis of blood clotting factors in the liver?", "Vitamin K", ["Vitamin A", "Vitamin D", "Vitamin B6"], 1),
        ("How many kilocalories does one gram of fat provide?", "About 9 kcal", ["About 4 kcal", "About 7 kcal", "About 12 kcal"], 0),
        ("Night blindness is an early sign of a deficiency of which vitamin?", "Vitamin A", ["Vitamin E", "Vitamin D", "Vitamin C"], 1),
        ("Which mineral is a central component of hemoglobin?", "Iron", ["Zinc", "Calcium", "Magnesium"], 0),
        ("Pernicious anemia results from impaired absorption of which vitamin?", "Vitamin B12", ["Folate", "Vitamin C", "Vitamin B6"], 2),
        ("Endemic goitre is most commonly caused by a dietary deficiency of which element?", "Iodine", ["Iron", "Selenium", "Fluorine"], 1),
        ("How many kilocalories does one gram of ethanol provide?", "About 7 kcal", ["About 4 kcal", "About 9 kcal", "About 2 kcal"], 2),
    ],
}


def gen_capital(rng: np.random.Generator):
    country, city, tier, trap = CAPITALS[int(rng.integers(len(CAPITALS)))]
    others = [c[1] for c in CAPITALS if c[1] != city]
    q = _pick(rng, ["What is the capital of {c}?", "Which city is the capital of {c}?", "The capital city of {c} is:"]).format(c=country)
    return q, city, _distractors(rng, city, [trap], lambda: _pick(rng, others)), tier


def _event_gen(subject: str):
    def gen(rng: np.random.Generator):
        event, year, tier = _pick(rng, EVENTS[subject])
        q = _pick(rng, ["In which year did {e} take place?", "{E} took place in which year?", "What year saw {e}?"])
        q = q.format(e=event, E=_cap(event))
        off = [1, 2, 3, 5, 8, 10, 12, 15, 20, 25, 30, 50]
        fill = lambda: str(year + int(_pick(rng, off)) * (1 if rng.random() < 0.5 else -1))  # noqa: E731
        return q, str(year), _distractors(rng, str(year), [], fill), tier
    return gen


def gen_element(rng: np.random.Generator):
    name, sym, z, tier = _pick(rng, ELEMENTS)
    if rng.random() < 0.5:
        q = _pick(rng, ["What is the chemical symbol for {n}?", "Which symbol represents {n} on the periodic table?"]).format(n=name)
        fakes = [name[:2].title(), (name[0] + name[2]).title(), name[0].upper()]
        return q, sym, _distractors(rng, sym, fakes, lambda: _pick(rng, ELEMENTS)[1]), tier
    q = _pick(rng, ["What is the atomic number of {n}?", "How many protons are in the nucleus of a {n} atom?"]).format(n=name)
    fill = lambda: str(max(1, z + int(rng.integers(-4, 5))))  # noqa: E731
    return q, str(z), _distractors(rng, str(z), [str(z + 1), str(max(z - 1, 2))], fill), min(tier + 1, 2)


def gen_work(rng: np.random.Generator):
    work, author, tier = _pick(rng, WORKS)
    q = _pick(rng, ["Who wrote '{w}'?", "'{w}' is a work by which philosopher?", "Which philosopher is the author of '{w}'?"]).format(w=work)
    authors = [a for _, a, _ in WORKS if a != author]
    return q, author, _distractors(rng, author, [], lambda: _pick(rng, authors)), tier


def _fact_gen(subject: str):
    def gen(rng: np.random.Generator):
        q, ans, wrong, tier = FACTS[subject][int(rng.integers(len(FACTS[subject])))]
        return q, ans, list(wrong), tier
    return gen


# subject -> (kind, level 0-3, knowledge weight K, sampling weight, generator)
SUBJECTS: dict[str, tuple[str, int, float, float, Callable]] = {
    "elementary_mathematics": ("steps", 0, 0.0, 1.0, lambda r: gen_word_problem(r, (1, 3))),
    "high_school_mathematics": ("steps", 1, 0.1, 1.4,
                                lambda r: gen_word_problem(r, (3, 7), big=True) if r.random() < 0.5 else gen_price_problem(r)),
    "high_school_physics": ("steps", 1, 0.2, 1.0, gen_kinematics),
    "college_chemistry": ("steps", 2, 0.3, 0.9, gen_stoichiometry),
    "professional_accounting": ("steps", 3, 0.3, 0.9, gen_accounting),
    "formal_logic": ("steps", 2, 0.0, 1.0, gen_logic),
    "high_school_geography": ("recall", 1, 0.6, 0.8, gen_capital),
    "high_school_us_history": ("recall", 1, 0.7, 0.6, _event_gen("high_school_us_history")),
    "high_school_world_history": ("recall", 1, 0.8, 0.7, _event_gen("high_school_world_history")),
    "high_school_chemistry": ("recall", 1, 0.5, 0.7, gen_element),
    "college_biology": ("recall", 2, 0.8, 0.7, _fact_gen("college_biology")),
    "anatomy": ("recall", 2, 0.9, 0.6, _fact_gen("anatomy")),
    "astronomy": ("recall", 1, 0.7, 0.6, _fact_gen("astronomy")),
    "philosophy": ("recall", 2, 0.9, 0.6, gen_work),
    "college_computer_science": ("recall", 2, 0.6, 0.6, _fact_gen("college_computer_science")),
    "nutrition": ("recall", 1, 0.6, 0.5, _fact_gen("nutrition")),
}


# ------------------------------------------------------------------- generation
def _model_params(catalog) -> dict[str, float]:
    out = {}
    for m in catalog.models:
        p = catalog.model_info.get(m, {}).get("params")
        if not isinstance(p, (int, float)) or isinstance(p, bool) or p <= 0:
            raise ConcurError(f"{catalog.path}: model '{m}' needs a positive 'params' for the demo cost model")
        out[m] = float(p)
    for d in catalog.decodings:
        if d not in PROMPT_OVERHEAD:
            raise ConcurError(f"{catalog.path}: decoding '{d}': demo generator knows {', '.join(PROMPT_OVERHEAD)} only")
    return out


def _make_tasks(rng: np.random.Generator, n_tasks: int) -> tuple[list[dict], dict[str, np.ndarray]]:
    names = list(SUBJECTS)
    w = np.array([SUBJECTS[s][3] for s in names])
    subj_idx = rng.choice(len(names), size=n_tasks, p=w / w.sum())
    tasks, steps, tier = [], np.zeros(n_tasks), np.zeros(n_tasks)
    for i, si in enumerate(subj_idx):
        subject = names[si]
        q, ans, wrong, extra = SUBJECTS[subject][4](rng)
        if SUBJECTS[subject][0] == "steps":
            steps[i] = extra
        else:
            tier[i] = extra
        options = [ans] + wrong
        order = rng.permutation(4)
        options = [options[j] for j in order]
        tasks.append({"question": q, "options": options, "answer": LETTERS[int(np.flatnonzero(order == 0)[0])],
                      "subject": subject})
    meta = {
        "subject": np.array([names[i] for i in subj_idx], dtype=object),
        "multi_step": np.array([SUBJECTS[names[i]][0] == "steps" for i in subj_idx]),
        "level": np.array([SUBJECTS[names[i]][1] for i in subj_idx], dtype=float),
        "knowledge": np.array([SUBJECTS[names[i]][2] for i in subj_idx]),
        "steps": steps, "tier": tier,
    }
    return tasks, meta


def generate_demo(seed: int = 0, n_tasks: int = 1500, strategies_path: str | Path = REPO_STRATEGIES
                  ) -> tuple[list[dict], pd.DataFrame]:
    """Generate tasks and long-format outcomes (one row per task x strategy).

    The outcomes frame has question_id (int, the task's list index), model, decoding,
    label, flops, split, and diagnostics (subject, steps, tier, p_correct,
    prompt_tokens, gen_tokens) that the written CSVs leave out.
    """
    if n_tasks < 10:
        raise ConcurError(f"n_tasks must be at least 10, got {n_tasks}")
    catalog = load_strategies(strategies_path)
    params = _model_params(catalog)
    rng = np.random.default_rng(seed)
    tasks, meta = _make_tasks(rng, n_tasks)
    n = n_tasks
    text_chars = np.array([len(task_text(t)) for t in tasks], dtype=float)

    models, decodings = list(catalog.models), list(catalog.decodings)
    S = len(models) * len(decodings)
    m_of = np.repeat(np.arange(len(models)), len(decodings))  # strategy -> model
    d_of = np.tile(np.arange(len(decodings)), len(models))
    size = np.array([math.log2(params[m] / 1e9) for m in models])[m_of]  # (S,)
    fam = [FAMILY_TRAITS[_family(models[i])] for i in m_of]
    trait = {k: np.array([f[k] for f in fam]) for k in fam[0]}
    is_cot = np.array([decodings[j] == "cot" for j in d_of])

    k = meta["steps"][:, None]
    ms = meta["multi_step"][:, None]
    difficulty = 0.4 * meta["level"] + 0.8 * meta["tier"] + rng.normal(0, 0.6, n)  # u_t shared by all strategies
    eff = np.clip(0.15 + 0.15 * size + trait["cot"], 0.0, 0.9)
    lam = np.where(is_cot, LAMBDA_STEP * (1 - eff), LAMBDA_STEP)
    cot_shift = np.where(ms, COT_SHIFT["steps"], COT_SHIFT["recall"]) * is_cot
    z = (A0 + 0.55 * size + trait["general"]
         + meta["knowledge"][:, None] * (0.5 * size + trait["knowledge"])
         + ms * trait["reasoning"]
         - difficulty[:, None] - lam * k + cot_shift
         + rng.normal(0, 0.35, (n, S)))
    p = 0.25 + 0.75 / (1 + np.exp(-z))
    # Gaussian copula: the Bernoulli draws of one task are correlated across strategies
    # (real models share mistakes), so the per-task oracle is not a trivial 100 %.
    shared = rng.normal(0, 1, n)[:, None]
    uniform = ndtr(RHO_SHARED * shared + math.sqrt(1 - RHO_SHARED**2) * rng.normal(0, 1, (n, S)))
    label = (uniform < p).astype(np.int64)

    overhead = np.array([PROMPT_OVERHEAD[decodings[j]] for j in d_of])
    prompt_tok = np.ceil(text_chars / 4)[:, None] + overhead
    verbosity = trait["verbosity"] * (1 + 0.08 * (3 - size))
    k_eff = np.where(ms, k, 1.5)
    cot_median = (70 + 55 * k_eff + 20 * meta["level"][:, None]) * np.exp(0.15 * np.maximum(difficulty, 0))[:, None]
    median = np.where(is_cot, cot_median, 6.0) * verbosity
    sigma = np.where(is_cot, 0.25, 0.4)
    gen_tok = np.clip(np.round(median * np.exp(rng.normal(0, 1, (n, S)) * sigma)), 1, MAX_GEN_TOKENS)
    params_s = np.array([params[m] for m in models])[m_of]
    flops = np.round(2 * params_s * (prompt_tok + gen_tok) / COST_SCALE, 4)

    split = np.empty(n, dtype=object)
    perm = rng.permutation(n)
    n_train = round(SPLIT_FRACTIONS["train"] * n)
    n_val = round(SPLIT_FRACTIONS["val"] * n)
    split[perm[:n_train]] = "train"
    split[perm[n_train:n_train + n_val]] = "val"
    split[perm[n_train + n_val:]] = "test"

    outcomes = pd.DataFrame({
        "question_id": np.repeat(np.arange(n), S),
        "model": np.tile(np.array(models, dtype=object)[m_of], n),
        "decoding": np.tile(np.array(decodings, dtype=object)[d_of], n),
        "label": label.ravel(),
        "flops": flops.ravel(),
        "split": np.repeat(split, S),
        "subject": np.repeat(meta["subject"], S),
        "steps": np.repeat(meta["steps"].astype(int), S),
        "tier": np.repeat(meta["tier"].astype(int), S),
        "p_correct": p.ravel(),
        "prompt_tokens": prompt_tok.ravel().astype(int),
        "gen_tokens": gen_tok.ravel().astype(int),
    })
    return tasks, outcomes


CSV_COLUMNS = ["question_id", "model", "decoding", "label", "flops"]


def tasks_json_text(tasks: list[dict]) -> str:
    """One task per line: small, diff-friendly, still a plain JSON list."""
    return "[\n" + ",\n".join(json.dumps(t, ensure_ascii=False) for t in tasks) + "\n]\n"


def write_demo_dataset(out_dir: Path, seed: int = 0, n_tasks: int = 1500,
                       strategies_path: str | Path = REPO_STRATEGIES) -> None:
    """Write task.json and train/val/test.csv into `out_dir` (each file atomically).

    Everything is generated in memory first, so an error leaves no partial files.
    """
    _write_files(Path(out_dir), *generate_demo(seed, n_tasks, strategies_path))


def _write_files(out_dir: Path, tasks: list[dict], outcomes: pd.DataFrame) -> None:
    frames = {s: outcomes.loc[outcomes["split"] == s, CSV_COLUMNS] for s in SPLIT_FRACTIONS}
    write_text_atomic(out_dir / "task.json", tasks_json_text(tasks))
    for s, df in frames.items():
        # fixed float format and line ending: the committed files are compared byte for byte
        write_csv_atomic(out_dir / f"{s}.csv", df, float_format="%.4f", lineterminator="\n")


# -------------------------------------------------------------- sanity summary
def strategy_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per-strategy accuracy, mean cost and mean generated tokens (all splits)."""
    g = outcomes.assign(strategy=outcomes["model"] + "_" + outcomes["decoding"]).groupby("strategy", sort=False)
    return pd.DataFrame({"accuracy": g["label"].mean(), "mean_cost": g["flops"].mean(),
                         "mean_gen_tokens": g["gen_tokens"].mean()})


def routing_sanity(outcomes: pd.DataFrame) -> dict[str, object]:
    """Oracle vs best single strategy and the single strategies on the accuracy-cost frontier."""
    strat = outcomes["model"] + "_" + outcomes["decoding"]
    lab = outcomes.assign(strategy=strat).pivot(index="question_id", columns="strategy", values="label")
    cost = outcomes.assign(strategy=strat).pivot(index="question_id", columns="strategy", values="flops")
    acc, mean_cost = lab.mean(), cost.mean()
    best = acc.idxmax()
    # cheapest correct strategy per task (cheapest overall where none is correct)
    masked = cost.where(lab == 1)
    any_ok = lab.max(axis=1) == 1
    oracle_cost = np.where(any_ok, masked.min(axis=1), cost.min(axis=1)).mean()
    frontier = [s for s in acc.index
                if not ((acc > acc[s]) & (mean_cost <= mean_cost[s])).any()
                and not ((acc >= acc[s]) & (mean_cost < mean_cost[s])).any()]
    frontier.sort(key=lambda s: mean_cost[s])
    out = {"oracle_accuracy": float(any_ok.mean()), "oracle_mean_cost": float(oracle_cost),
           "best_single": best, "best_single_accuracy": float(acc[best]), "best_single_cost": float(mean_cost[best]),
           "frontier": frontier}
    if "split" in outcomes and "subject" in outcomes:
        out.update(_subject_router(outcomes.assign(strategy=strat)))
    return out


def _subject_router(df: pd.DataFrame) -> dict[str, float | str]:
    """A crude text-visible router: per subject, the strategy with the best train accuracy
    (ties -> cheaper); evaluated on test against the best single strategy on test."""
    train, test = df[df["split"] == "train"], df[df["split"] == "test"]
    per = train.groupby(["subject", "strategy"]).agg(acc=("label", "mean"), cost=("flops", "mean")).reset_index()
    per = per.sort_values(["subject", "acc", "cost"], ascending=[True, False, True])
    choice = per.drop_duplicates("subject").set_index("subject")["strategy"]
    routed = test[test["strategy"] == test["subject"].map(choice)]
    single = test.groupby("strategy").agg(acc=("label", "mean"), cost=("flops", "mean"))
    best = single["acc"].idxmax()
    return {"subject_router_test_accuracy": float(routed["label"].mean()),
            "subject_router_test_cost": float(routed["flops"].mean()),
            "best_single_test": best, "best_single_test_accuracy": float(single.loc[best, "acc"]),
            "best_single_test_cost": float(single.loc[best, "cost"])}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m concur.demo_data",
                                 description="Generate the synthetic demo data set (task.json, train/val/test.csv).")
    ap.add_argument("--out", type=Path, default=Path("data/demo"), help="output folder (default data/demo)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (the committed files use 0)")
    ap.add_argument("--n_tasks", type=int, default=1500, help="number of tasks (default 1500)")
    ap.add_argument("--strategy_path", type=Path, default=REPO_STRATEGIES,
                    help="strategies.json with model 'params' (default: the repository's)")
    args = ap.parse_args(argv)
    tasks, outcomes = generate_demo(args.seed, args.n_tasks, args.strategy_path)
    _write_files(args.out, tasks, outcomes)
    print(f"wrote {args.out}/task.json, train.csv, val.csv, test.csv ({args.n_tasks} tasks, synthetic)")
    print(strategy_table(outcomes).round(3).to_string())
    for key, val in routing_sanity(outcomes).items():
        print(f"{key}: {val if not isinstance(val, float) else round(val, 4)}")


if __name__ == "__main__":
    cli_main(main)()
