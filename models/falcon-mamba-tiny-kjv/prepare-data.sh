#!/usr/bin/env bash
# Prepares the training data of the default model: the King James Version of the Bible (public domain; in the UK
# under Crown letters patent), from Debian's bible-kjv-text package (dumped with its `bible` program).
# Output (never committed): data/kjv/train.jsonl and data/kjv/valid.jsonl, one chapter per line as {"text": ...};
# every 40th chapter goes to validation.
set -euo pipefail
out=${1:-data/kjv}
mkdir -p "$out"
if ! command -v bible >/dev/null; then
  apt-get update -qq && apt-get install -y -qq bible-kjv bible-kjv-text >/dev/null
fi
bible -l100000 "Gen1:1-Rev22:21" > "$out/kjv-raw.txt"
python3 - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
chapters, cur, title = [], [], None
for line in open(f"{out}/kjv-raw.txt", encoding="utf-8"):
    line = line.rstrip("\n")
    if not line.strip():
        continue
    if not line.startswith(" "):            # a chapter heading such as "Genesis 1"
        if cur: chapters.append(title + "\n\n" + " ".join(cur))
        title, cur = line.strip(), []
    else:
        cur.append(re.sub(r"^\s*\d+\s+", "", line).strip())
if cur: chapters.append(title + "\n\n" + " ".join(cur))
with open(f"{out}/train.jsonl", "w", encoding="utf-8") as tr, open(f"{out}/valid.jsonl", "w", encoding="utf-8") as va:
    for i, ch in enumerate(chapters):
        (va if i % 40 == 39 else tr).write(json.dumps({"text": ch}, ensure_ascii=False) + "\n")
print(f"{len(chapters)} chapters -> {out}/train.jsonl, {out}/valid.jsonl")
PY
