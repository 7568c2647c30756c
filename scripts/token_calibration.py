"""Reproduce the token-count calibration table (kiroproto/tokens/CALIBRATION.md).

    .venv/bin/python scripts/token_calibration.py          # the table, as markdown
    .venv/bin/python scripts/token_calibration.py --fit    # also refit the estimator weights
    .venv/bin/python scripts/token_calibration.py --held-out [--extra FILE ...]
                                                           # texts the weights were not fitted on

Needs the legacy Claude tokenizer (`scripts/fetch_tokenizer.py`, run by `make venv`).
Reads the corpus in libs/kiroproto/tests/data/token_corpus/.
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
from pathlib import Path

from kiroproto.tokens import (
    CLAUDE_CALIBRATION_FACTOR,
    BpeTokenCounter,
    EstimatingTokenCounter,
    EstimatorWeights,
    default_tokenizer_path,
)
from kiroproto.tokens.calibration import (
    CORPUS_CATEGORIES,
    corpus_sample,
    fit_weights,
    measure,
    render_markdown,
    split_for_fit,
)

CORPUS = Path(__file__).resolve().parents[1] / "libs" / "kiroproto" / "tests" / "data" / "token_corpus"
FIXED = {"long_word_excess": 0.3, "latin_ext": 1.0}
"""Weights the corpus cannot identify, set from probes (see CALIBRATION.md)."""


HELD_OUT_SENTENCES = {
    "French": "Le petit café au coin de la rue ouvre très tôt. Les habitués y boivent un crème en lisant "
    "le journal, et la patronne connaît le prénom de chacun. À midi, on y sert une soupe du jour.",
    "German": "Die Bäckerei an der Ecke öffnet früh. Stammgäste trinken dort ihren Kaffee, während die "
    "Inhaberin über das Wetter, die Straßenbahn und die Preise für Brötchen plaudert.",
    "Spanish": "La pequeña librería del barrio abre a las diez. Los vecinos pasan a preguntar por "
    "novedades, y el dueño recomienda siempre algún clásico olvidado.",
    "Vietnamese": "Quán cà phê nhỏ ở đầu ngõ mở cửa từ sáng sớm. Khách quen thường ngồi đọc báo, uống "
    "cà phê sữa đá và trò chuyện về thời tiết.",
}


def _held_out(extra: list[Path]) -> dict[str, str]:
    rng = random.Random(1)
    samples = dict(HELD_OUT_SENTENCES)
    samples["base64 (random bytes)"] = base64.b64encode(rng.randbytes(3000)).decode()
    samples["hex digests"] = " ".join(rng.randbytes(16).hex() for _ in range(200))
    samples["UUID-like ids"] = "\n".join(
        f"{rng.randbytes(4).hex()}-{rng.randbytes(2).hex()}-{rng.randbytes(2).hex()}" for _ in range(200)
    )
    for path in extra:
        samples[path.name] = path.read_text(encoding="utf-8")
    return samples


def _round(weights: EstimatorWeights) -> EstimatorWeights:
    return EstimatorWeights(*(float(f"{w:.2g}") for w in weights))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, default=default_tokenizer_path())
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--fit", action="store_true", help="refit the estimator weights and show them")
    parser.add_argument("--held-out", action="store_true", help="also measure texts outside the corpus")
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="files for --held-out")
    args = parser.parse_args(argv)
    if not args.tokenizer.is_file():
        print(f"no tokenizer at {args.tokenizer}; run scripts/fetch_tokenizer.py", file=sys.stderr)
        return 2

    bpe = BpeTokenCounter.from_file(args.tokenizer)
    samples = {
        label: corpus_sample(name, (args.corpus / name).read_text(encoding="utf-8"))
        for name, label in CORPUS_CATEGORIES.items()
    }
    print(f"Calibration factor f = {CLAUDE_CALIBRATION_FACTOR}; estimator = EstimatingTokenCounter()\n")
    print(render_markdown(measure(samples, bpe, EstimatingTokenCounter()), CLAUDE_CALIBRATION_FACTOR))

    if args.held_out:
        rows = measure(_held_out(args.extra), bpe, EstimatingTokenCounter())
        print("Held out (not used for fitting):\n")
        print(render_markdown(rows[:-1], CLAUDE_CALIBRATION_FACTOR))

    if args.fit:
        pieces = {label: split_for_fit(text, bpe.count_raw) for label, text in samples.items()}
        fitted = _round(fit_weights(pieces, bpe, fixed=FIXED))
        print(f"Fitted on {sum(map(len, pieces.values()))} pieces (fixed: {FIXED}):\n")
        for name, value in fitted._asdict().items():
            print(f"    {name}={value},")
        print()
        print(
            render_markdown(measure(samples, bpe, EstimatingTokenCounter(fitted)), CLAUDE_CALIBRATION_FACTOR)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
