#!/usr/bin/env python3
"""Write Sources/EaselEngine/Tokenizers/LibraryUnicodeTables.swift: the character classes that
HuggingFace `tokenizers` takes from its own (older) Unicode tables rather than from the current
Unicode data Swift exposes, measured from the library itself, code point by code point.

Regenerate (from the repository root, with the fixture venv; tokenizers 0.23.3):

    /work/venv/bin/python Tools/tokenizer_unicode_tables.py

Tables (inclusive code point ranges):
- bertCleanRemoved: what BertNormalizer(clean_text) deletes (NUL, U+FFFD and the
  `unicode_categories` "other" classes Cc/Cf/Co as that crate knows them, minus \\t \\n \\r).
- bertNonspacingMark: what BertNormalizer(strip_accents) deletes after NFD (the crate's Mn).
- stripAccentsMark: what the StripAccents normalizer deletes (the library's combining marks).
- bertPunctuation: what BertPreTokenizer and Punctuation isolate (ASCII punctuation or the crate's P*).
- unicodeScripts: (first code point, script class) runs as UnicodeScripts sees them (Hiragana,
  Katakana and U+30FC count as Han). Class 0 is "any" (the space, unassigned and private-use code
  points): it never splits, and is dropped at the start of a piece. Other class numbers are
  arbitrary labels; only equality matters.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) not in (_HERE, os.path.join(_HERE, "fixtures"))]

from tokenizers import normalizers, pre_tokenizers  # noqa: E402

CPS = [c for c in range(0x110000) if not (0xD800 <= c <= 0xDFFF)]


def ranges(xs):
    out = []
    for x in xs:
        if out and out[-1][1] == x - 1:
            out[-1][1] = x
        else:
            out.append([x, x])
    return out


def bert_clean_removed():
    n = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    return [c for c in CPS if n.normalize_str(chr(c)) == ""]


def bert_nonspacing_marks():
    n = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    nfd = normalizers.NFD()
    # Only NFD-stable code points matter: the filter runs on NFD output.
    return [c for c in CPS if nfd.normalize_str(chr(c)) == chr(c) and n.normalize_str(chr(c)) == ""]


def strip_accents_marks():
    n = normalizers.StripAccents()
    return [c for c in CPS if n.normalize_str(chr(c)) == ""]


def bert_punctuation():
    p = pre_tokenizers.BertPreTokenizer()
    q = pre_tokenizers.Punctuation()
    out = [c for c in CPS if len(p.pre_tokenize_str("x" + chr(c) + "x")) == 3]
    assert out == [c for c in CPS if len(q.pre_tokenize_str("x" + chr(c) + "x")) == 3]
    return out


def unicode_script_runs():
    """(first code point, class) runs. Class 0 is "any": code points UnicodeScripts never splits on
    (the space, unassigned and private-use ones); a piece that starts with them loses them. Among the
    others, a split between two adjacent code points in one string means their scripts differ; runs
    are labelled by comparing with one representative per class."""
    p = pre_tokenizers.UnicodeScripts()
    is_any = {c for c in CPS if p.pre_tokenize_str(chr(c)) == []}
    assert 0x20 in is_any
    cps = [c for c in CPS if c not in is_any]
    boundaries = {0}
    step = 4096
    for i in range(0, len(cps) - 1, step):
        chunk = cps[i:i + step + 1]
        pos = 0
        for piece, _ in p.pre_tokenize_str("".join(chr(c) for c in chunk)):
            if pos > 0:
                boundaries.add(i + pos)
            pos += len(piece)
    reps = []  # representative code point per class (class k + 1)
    label_of = {}
    for b in sorted(boundaries):
        c = cps[b]
        label = None
        for k, r in enumerate(reps):
            if len(p.pre_tokenize_str(chr(r) + chr(c))) == 1:
                label = k + 1
                break
        if label is None:
            reps.append(c)
            label = len(reps)
        label_of[b] = label
    # Expand to a label per code point, then compress to runs over the whole code space.
    labels = {}
    cur = None
    for idx, c in enumerate(cps):
        if idx in label_of:
            cur = label_of[idx]
        labels[c] = cur
    runs = []
    for c in CPS:
        label = 0 if c in is_any else labels[c]
        if not runs or runs[-1][1] != label:
            runs.append((c, label))
    # Spot-check: every 7th code point joins its class representative.
    for c in cps[::7]:
        r = reps[labels[c] - 1]
        assert len(p.pre_tokenize_str(chr(r) + chr(c))) == 1, hex(c)
    return runs, len(reps) + 1


def fmt_ranges(name, rs, doc):
    body = ",".join(f"{a:X}" if a == b else f"{a:X}-{b:X}" for a, b in rs)
    lines = [body[i:i + 96] for i in range(0, len(body), 96)]
    joined = "\n".join(lines)
    return f'    /// {doc}\n    static let {name} = CodePointRanges(hexList: """\n{joined}\n""")\n'


def main():
    import tokenizers
    repo = os.path.abspath(os.path.join(_HERE, ".."))
    out = os.path.join(repo, "Sources", "EaselEngine", "Tokenizers", "LibraryUnicodeTables.swift")
    runs, nclasses = unicode_script_runs()
    body = ",".join(f"{c:X}:{k:X}" for c, k in runs)
    script_lines = "\n".join(body[i:i + 96] for i in range(0, len(body), 96))
    text = f"""// Generated by Tools/tokenizer_unicode_tables.py from tokenizers {tokenizers.__version__}; do not edit.
// HuggingFace `tokenizers` classifies these characters with its own (older) Unicode tables, so
// they are measured from the library rather than taken from Swift's current Unicode data.

enum LibraryUnicodeTables {{
{fmt_ranges("bertCleanRemoved", ranges(bert_clean_removed()), "Deleted by BertNormalizer's clean_text.")}
{fmt_ranges("bertNonspacingMark", ranges(bert_nonspacing_marks()), "Deleted by BertNormalizer's strip_accents (after NFD).")}
{fmt_ranges("stripAccentsMark", ranges(strip_accents_marks()), "Deleted by the StripAccents normalizer.")}
{fmt_ranges("bertPunctuation", ranges(bert_punctuation()), "Isolated by BertPreTokenizer and Punctuation.")}
    /// UnicodeScripts' script classes ({nclasses} labels): "first:class" runs, hex.
    static let unicodeScripts = CodePointRuns(hexList: \"\"\"
{script_lines}
\"\"\")
}}
"""
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {out}: {len(runs)} script runs, {nclasses} classes")


if __name__ == "__main__":
    main()
