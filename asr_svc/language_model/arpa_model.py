"""An n-gram model in ARPA format with the dictionary of its words, for pocketsphinx."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asr_svc.language_model.corpus import corpus_key
from asr_svc.language_model.general_mix import TUTOR_GENERAL_WORDS, GeneralModel, mix_arpa
from asr_svc.language_model.kneser_ney import kneser_ney_arpa
from asr_svc.language_model.pronunciations import Pronouncer


@dataclass(frozen=True)
class ArpaModel:
    """A trigram language model and the pronunciations of its words.

    Attributes:
        key: Identifies the training text (equal text, equal key), for reusing decoders.
        arpa: The language model in ARPA text format.
        dictionary: Pronunciation lines of every word the model uses.
        unknown_words: Words nothing could pronounce, left out.
        vocabulary: The model's words.
    """

    key: str
    arpa: str
    dictionary: str
    unknown_words: tuple[str, ...]
    vocabulary: frozenset[str]

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Writes the model and dictionary files; returns (lm path, dict path)."""
        lm_path, dict_path = folder / "tutor.arpa", folder / "tutor.dict"
        lm_path.write_text(self.arpa, encoding="utf-8")
        dict_path.write_text(self.dictionary, encoding="utf-8")
        return lm_path, dict_path


def build_arpa_model(
    lines: Sequence[str],
    pronouncer: Pronouncer,
    general: GeneralModel | None = None,
    general_words: int = TUTOR_GENERAL_WORDS,
) -> ArpaModel | None:
    """A trigram model over ``lines`` (space-separated words), or None if none is sayable.

    A line is cut where it has a word nothing can pronounce, so the model never learns a word
    sequence that was not in the text. With ``general``, the general English model is mixed
    in (``general_mix``): its ``general_words`` most frequent words join the vocabulary.
    """
    vocabulary = {word for line in lines for word in line.split()}
    dictionary_lines, unknown = pronouncer.lines(vocabulary)
    unsayable = set(unknown)
    runs: list[str] = []
    for line in lines:
        run: list[str] = []
        for word in [*line.split(), ""]:
            if word and word not in unsayable:
                run.append(word)
                continue
            if run:
                runs.append(" ".join(run))
            run = []
    if not runs:
        return None
    text = kneser_ney_arpa(runs)
    if general is not None:
        text = mix_arpa(text, general, words=general_words)
        vocabulary |= set(general.top_words(general_words))
        # The general words are all in the recognizer's dictionary (GeneralModel keeps only those).
        dictionary_lines, _ = pronouncer.lines(vocabulary - unsayable)
    return ArpaModel(
        key=corpus_key(runs),
        arpa=text,
        dictionary="".join(dictionary_lines),
        unknown_words=tuple(sorted(unsayable)),
        vocabulary=frozenset(vocabulary - unsayable),
    )
