#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds convergy and runs the main job: `convergy study`, which measures
# the zoo on every backend, fits and evaluates the models, and writes report/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/convergy zoo
./build/convergy study "$@"
