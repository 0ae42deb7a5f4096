#!/usr/bin/env bash
# Everything to run on a machine with an NVIDIA GPU, in one go, from the project's root (GPU time is often short):
#
#   bash benchmarks/run_on_gpu.sh [CONFIG ...]        # the CUDA tests at full size, then benchmarks/gpu.py
#   PYTHON=.venv/bin/python bash benchmarks/run_on_gpu.sh --tiny   # without a GPU: the benchmark, tiny, simulated
#
# Each part has its own timeout (together under 10 minutes) and log, under $OUT or ./gpu-run; the exit status is
# the benchmark's. The N 256 configurations run first. numba-cuda 0.30.4 does not work with numpy 2.5: where the
# machine's numpy is that new and nothing can be installed from the internet, put a numpy 2.4 wheel in .whl/ (pip
# download --no-deps --only-binary=:all: -d .whl numpy==2.4.6, with --python-version and --platform of the GPU
# machine) and it is installed first. The JSON lines go to $OUT/gpu_results.jsonl.
set -u
py=${PYTHON:-python3}  # the GPU machine's python3 has numba, numba-cuda and torch
out=${OUT:-gpu-run}
mkdir -p "$out"
tiny=()
if [ "${1:-}" = "--tiny" ]; then
    shift
    # after --steps 10 --warmup 2 below, so these win; the reference convolutions, which the simulator runs faster
    tiny=(--tiny --steps 2 --warmup 1 --kernels reference)
    export NUMBA_ENABLE_CUDASIM=1
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if ls .whl/numpy-*.whl > /dev/null 2>&1; then
    "$py" -m pip install -q --no-index --no-deps --target /tmp/site .whl/numpy-*.whl && export PYTHONPATH=/tmp/site:$PYTHONPATH
fi
{ date; nvidia-smi; "$py" -c "import numpy, numba, numba_cuda; print('numpy', numpy.__version__, 'numba',
numba.__version__, 'numba-cuda', numba_cuda.__version__)"; "$py" -c "import torch; print('torch', torch.__version__,
'CUDA', torch.version.cuda)"; git log --oneline -1; } > "$out/machine.txt" 2>&1

if [ ${#tiny[@]} -eq 0 ]; then  # at full size on the GPU (tests/conftest.py turns the simulator off there)
    timeout 150 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py > "$out/test_cuda.log" 2>&1
    echo "tests/test_cuda.py: exit $? (log: $out/test_cuda.log)"
fi
[ $# -gt 0 ] || set -- seq_mnist@256 copy_memory@256 wide@256 blog seq_mnist copy_memory wide locuslab_adding
timeout 400 "$py" benchmarks/gpu.py --rounds 1 --steps 10 --warmup 2 ${tiny[@]+"${tiny[@]}"} \
    --json "$out/gpu_results.jsonl" "$@" > "$out/gpu.log" 2>&1
status=$?
echo "benchmarks/gpu.py: exit $status (log: $out/gpu.log)"
cat "$out/gpu.log"
exit $status
