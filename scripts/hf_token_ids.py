#!/usr/bin/env python3
"""GENERATOR, not run by CI or by any test: writes test/fixtures/hf-token-ids.json, the ids that
Hugging Face's own tokenizer (the Rust `tokenizers` package) gives for a varied set of texts with
each tokenizer.json the test models use. test/unit/tokenIds.test.ts checks LM Lens against the
file offline, with no Python.

    pip install tokenizers   # 0.22.2 was used; any wheel of Hugging Face's tokenizers
    python3 scripts/hf_token_ids.py

`tokenizer.encode(text).ids` with add_special_tokens=True is what `tokenizer(text)` gives in
transformers: Llama 3's post-processor prepends <|begin_of_text|>, GPT-2's and Qwen's add nothing.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unicodedata

import tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "test", "fixtures", "hf-token-ids.json")

ACCENTED = "Café naïve résumé Ångström São Paulo"
TEXTS = [
    "",
    "Hello, world!",
    "The old lighthouse keeper climbed the spiral stairs every evening.",
    " leading space",
    "  two leading spaces",
    "double  spaces   and    more",
    "trailing spaces   ",
    "line one\nline two\n\nafter a blank line\n",
    "\ttab\tseparated\tvalues\t",
    "\r\nWindows line end\r\n",
    "12345 and 3.14159 and 1,000,000 and 20261206123456789",
    "Call 555-0100 on 2026-12-06 at 07:50.",
    "I'm sure it's fine, you'll see; they've said we'd done it. DON'T",
    ACCENTED,
    unicodedata.normalize("NFC", ACCENTED),
    unicodedata.normalize("NFD", ACCENTED),
    "Ελληνικά, русский, עברית, العربية",
    "日本語のテキストと中文文本，还有한국어.",
    "emoji 😀👍🏽 and a family 👨‍👩‍👧‍👦 and a flag 🇫🇷",
    "def f(x):\n    return x ** 2  # square\n",
    "const a = [1, 2, 3].map((v) => v * 2); // {}",
    "<|endoftext|>",
    "before<|endoftext|>after",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|>Hello<|eot_id|>",
    "a <|endoftext |> near-miss and <|im_start",
    "   \n\t  ",
    "ﬁ ligature, ２ fullwidth, ℌ, ½, and a soft\u00adhyphen",
    "zero\u200bwidth space and a BOM\ufeff",
]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["npx", "tsx", os.path.join("test", "support", "writeTokenizerFilesCli.ts"), folder], cwd=ROOT, check=True)
        families = {}
        for family in ("gpt2", "llama", "qwen"):
            path = os.path.join(folder, family, "tokenizer.json")
            with open(path, "rb") as handle:
                data = handle.read()
            tokenizer = tokenizers.Tokenizer.from_str(data.decode("utf-8"))
            families[family] = {
                "tokenizerJsonSha256": hashlib.sha256(data).hexdigest(),
                "ids": [tokenizer.encode(text, add_special_tokens=True).ids for text in TEXTS],
            }
    fixture = {
        "generator": "scripts/hf_token_ids.py (not run by CI)",
        "tokenizers": tokenizers.__version__,
        "texts": TEXTS,
        "families": families,
    }
    with open(FIXTURE, "w", encoding="utf-8") as handle:
        json.dump(fixture, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
    print(f"wrote {FIXTURE}: {len(TEXTS)} texts x {len(families)} tokenizers", file=sys.stderr)


if __name__ == "__main__":
    main()
