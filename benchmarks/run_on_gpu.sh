#!/usr/bin/env bash
# The one script to run on a lent GPU machine (see ../shared/notes/gpu-device.md), from the project's root:
#
#   bash benchmarks/run_on_gpu.sh [CONFIG ...]        # on the GPU machine: CUDA tests at full size, then gpu.py
#   PYTHON=.venv/bin/python bash benchmarks/run_on_gpu.sh --tiny   # here, no GPU: the benchmark, tiny, simulated
#
# Each part has its own timeout and log, under $OUT (the device tool's folder that comes back) or ./gpu-run. The
# GPU machine's numpy is too new for numba-cuda 0.30.4: a numpy wheel in .whl/ (see the note) is installed first
# when there is one. The benchmark's JSON lines go to $OUT/gpu_results.jsonl, to be added to benchmarks/.
set -u
py=${PYTHON:-python3}  # the GPU machine's python3 has numba, numba-cuda and torch
out=${OUT:-gpu-run}
mkdir -p "$out"
tiny=()
if [ "${1:-}" = "--tiny" ]; then
    shift
    tiny=(--tiny --steps 2 --warmup 1)
    export NUMBA_ENABLE_CUDASIM=1
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if ls .whl/numpy-*.whl > /dev/null 2>&1; then
    "$py" -m pip install -q --no-index --no-deps --target /tmp/site .whl/numpy-*.whl && export PYTHONPATH=/tmp/site:$PYTHONPATH
fi
{ date; nvidia-smi; "$py" -c "import numpy, numba, numba_cuda; print('numpy', numpy.__version__, 'numba',
numba.__version__, 'numba-cuda', numba_cuda.__version__)"; git log --oneline -1; } > "$out/machine.txt" 2>&1

if [ ${#tiny[@]} -eq 0 ]; then  # at full size on the GPU (tests/conftest.py turns the simulator off there)
    timeout 240 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py > "$out/test_cuda.log" 2>&1
    echo "tests/test_cuda.py: exit $? (log: $out/test_cuda.log)"
fi
timeout 480 "$py" benchmarks/gpu.py --rounds 1 "${tiny[@]}" --json "$out/gpu_results.jsonl" "$@" \
    > "$out/gpu.log" 2>&1
echo "benchmarks/gpu.py: exit $? (log: $out/gpu.log)"
cat "$out/gpu.log"
