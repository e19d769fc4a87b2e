# Installs the CloudEvents SDKs that tests/sdk_interop.rs runs (Python's
# `cloudevents` and JavaScript's `cloudevents`, at the versions pinned in
# tests/interop/) into target/interop/, unless they are there already, and
# exports IAP_INTEROP_PYTHON (the virtual environment's python) and
# IAP_INTEROP_NODE_PATH (the node_modules directory).
#
#   source scripts/interop-sdks.sh      # from another script (test-all.sh)
#
# Needs the machine's python3 (3.10 or later, with venv) and node with npm.
interop_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
interop_dir="$interop_root/target/interop"
interop_pins=("$interop_root"/tests/interop/{requirements.txt,package.json,package-lock.json})
interop_stamp=$(cat "${interop_pins[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$interop_dir/stamp" 2>/dev/null)" != "$interop_stamp" ]; then
  echo "Installing the Python and JavaScript CloudEvents SDKs into $interop_dir"
  rm -rf "$interop_dir"
  mkdir -p "$interop_dir/node"
  if ! {
    python3 -m venv "$interop_dir/venv" &&
      "$interop_dir/venv/bin/python" -m pip install -q --disable-pip-version-check \
        -r "$interop_root/tests/interop/requirements.txt" &&
      cp "${interop_pins[@]:1}" "$interop_dir/node/" &&
      npm ci --prefix "$interop_dir/node" --no-audit --no-fund --loglevel=error
  } >"$interop_dir/install.log" 2>&1; then
    cat "$interop_dir/install.log" >&2
    return 1
  fi
  echo "$interop_stamp" >"$interop_dir/stamp"
fi
export IAP_INTEROP_PYTHON="$interop_dir/venv/bin/python"
export IAP_INTEROP_NODE_PATH="$interop_dir/node/node_modules"
