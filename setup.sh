#!/usr/bin/env bash
# Sets up Ostinato on a fresh Debian machine; safe to run again (it skips what is already there).
# - system packages: FluidSynth + GM SoundFonts (rendering), JACK (virtual MIDI ports for the DAW
#   bridge and its tests), Node.js + npm (the cross-language client test and buf), iproute2 and
#   util-linux (the loopback-only network namespace the Ray scale-out test runs in), GNU time
#   (benchmarks.startup measures peak memory with it)
# - the project's virtual environment at .venv with the `ostinato` command
# - the Node test client's packages (tests/node/node_modules)
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(python3-venv fluidsynth libfluidsynth3 fluid-soundfont-gm timgm6mb-soundfont jackd2 nodejs npm iproute2 util-linux time)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
# A machine may already have Node.js from elsewhere (nodesource, nvm): then Debian's is not needed.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import server, torch, grpc" >/dev/null 2>&1 || [ pyproject.toml -nt .venv/.ostinato-installed ]; then
  echo "setup: installing the Python package into .venv (torch 2.13.0 CPU from local disk)"
  .venv/bin/pip install -q --upgrade pip
  # torch first, pinned: anything else could pull a multi-GB CUDA build.
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -e '.[test,ray]'
  # basic-pitch ships its transcription model as ONNX; its declared dependencies would pull TensorFlow.
  .venv/bin/pip install -q --no-deps basic-pitch==0.4.0
  touch .venv/.ostinato-installed
fi

if [ ! -d tests/node/node_modules/@grpc/grpc-js ]; then
  echo "setup: installing the Node test client (npm install, from package-lock.json)"
  (cd tests/node && npm install --no-audit --no-fund --loglevel=error)
fi
echo "setup: ready (.venv/bin/ostinato)"
