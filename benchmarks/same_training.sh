#!/usr/bin/env bash
# Does a change leave training bit for bit as it was? Trains the same short runs with this checkout and with another
# one (a commit before the change: git worktree add /tmp/before COMMIT), and compares their final parameters and
# Adam moments exactly:
#
#     bash benchmarks/same_training.sh /tmp/before
#
# The runs: adding with spatial dropout, 2 epochs; the same stopped after 1 epoch and resumed to 2 (which must also
# equal the first); copy memory with layer norm, skip connections and element-wise dropout. Two Numba threads each, so
# the kernels add in the same order. The other checkout's pytcn.kernels and pytcn.tasks are its own (symlinked into
# its pytcn/, as tests/plant_bugs.py does), not this checkout's installed ones.
set -euo pipefail
before=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
[ -e "$before/pytcn/kernels" ] || ln -s ../kernels "$before/pytcn/kernels"
[ -e "$before/pytcn/tasks" ] || ln -s ../tasks "$before/pytcn/tasks"
common="--no-progress --length 60 --train-size 320 --val-size 64 --test-size 64 --batch-size 32 --nb-filters 8
        --kernel-size 3"
for tree in "$before" "$here"; do
    name=$(basename "$tree")
    run() { (cd "$out" && PYTHONPATH="$tree" NUMBA_NUM_THREADS=2 python -m pytcn train "$@" > /dev/null); }
    # shellcheck disable=SC2086
    run adding $common --dropout-rate 0.1 --epochs 2 --out "$out/$name/fresh"
    # shellcheck disable=SC2086
    run adding $common --dropout-rate 0.1 --epochs 1 --out "$out/$name/resumed"
    run adding --resume --epochs 2 --no-progress --out "$out/$name/resumed"
    run copy-memory --no-progress --length 20 --train-size 128 --val-size 32 --test-size 32 --batch-size 16 \
        --epochs 1 --use-layer-norm --use-skip-connections --dropout-type elementwise --dropout-rate 0.1 \
        --out "$out/$name/copy"
done
python - "$out/$(basename "$before")" "$out/$(basename "$here")" <<'EOF'
import sys

import numpy as np


def arrays(folder):
    with np.load(f"{folder}/checkpoint.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k.startswith(("param/", "adam_m/", "adam_v/"))}


before, after = sys.argv[1:]
same = True
for a, b, what in [(f"{before}/fresh", f"{after}/fresh", "adding, before vs after"),
                   (f"{before}/resumed", f"{after}/resumed", "adding resumed, before vs after"),
                   (f"{after}/fresh", f"{after}/resumed", "adding, fresh vs resumed (after)"),
                   (f"{before}/copy", f"{after}/copy", "copy memory, before vs after")]:
    x, y = arrays(a), arrays(b)
    equal = x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
    same &= equal
    print(f"{what}: {len(x)} arrays, {'the same bits' if equal else 'DIFFERENT'}")
sys.exit(0 if same else 1)
EOF
