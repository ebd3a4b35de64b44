#!/usr/bin/env bash
# Installs tfp-flows the documented way into a virtualenv that already has tensorflow-cpu 2.21
# and the newest NumPy it allows, then checks that no second TensorFlow distribution came in,
# that NumPy was left as it was, and that a flow scores a point. Not run by CI (it downloads
# ~2 GB and takes a few minutes): run it after changing setup.cfg's requirements.
#
#   bash .ci/check_install_beside_tensorflow_cpu.sh [VENV_DIR]   # default: a new temporary folder
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$(mktemp -d /tmp/tfp-flows-beside-tf-cpu.XXXXXX)}
python=${PYTHON:-python3}
pip() { "$venv/bin/python" -m pip --disable-pip-version-check "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
echo "+ pip install tensorflow-cpu==2.21.0  (in $venv)"
pip install -q "tensorflow-cpu==2.21.0"
numpy_before=$(pip list --format=freeze | grep -i '^numpy==')
source=$(mktemp -d /tmp/tfp-flows-source.XXXXXX)
git -C "$repo" archive HEAD | tar -x -C "$source"   # what is committed, no build files in the repo

# the command README gives users who already have a TensorFlow 2.21 distribution
echo "+ pip install tfp-flows && pip install --no-deps \"tf-keras>=2.21,<2.22\""
pip install -q "$source"
pip install -q --no-deps "tf-keras>=2.21,<2.22"

installed=$(pip list --format=freeze)
second_tf=$(grep -i -E '^(tensorflow|tf-nightly|tensorflow-intel)==' <<<"$installed" || true)
[ -z "$second_tf" ] || fail "a second TensorFlow distribution was installed: $second_tf"
numpy_after=$(grep -i '^numpy==' <<<"$installed")
[ "$numpy_before" = "$numpy_after" ] || fail "numpy changed: $numpy_before -> $numpy_after"
echo "ok: TensorFlow distributions: $(grep -i -E '^(tensorflow|tf)[-_]' <<<"$installed" | tr '\n' ' ')"
echo "ok: $numpy_after unchanged"

cd "$venv"   # import the installed package, not the repo's folder
TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/python" -c "
import numpy as np, tensorflow as tf, tensorflow_probability as tfp
import tfp_flows as tff
f = tff.real_nvp(2)
print(f.log_prob([[0., 0.]]))
simplex = tfp.distributions.Dirichlet([1., 1., 1.]).experimental_default_event_space_bijector()
print('numpy', np.__version__, 'tensorflow', tf.__version__, 'simplex', simplex.forward([0., 0.]).numpy())
"
rm -rf "$source"
echo "ok: tfp-flows installed beside tensorflow-cpu in $venv"
