# Starts a throw-away NATS server with JetStream on a free local port, with
# its own storage directory, and stops it (removing its files) when the
# calling script exits. Exports NATS_URL.
#
#   source scripts/nats.sh              # from another script (test-all.sh)
#   bash scripts/nats.sh COMMAND ARGS   # runs one command with the server up
#
# Debian's nats-server package is installed where it is missing (as root; an
# ordinary user is told to install it).
nats_port=${IAP_NATS_PORT:-42220}
while (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null; do nats_port=$((nats_port + 1)); done
if ! command -v nats-server >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "nats-server is not installed: install Debian's nats-server package." >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
fi
nats_dir=$(mktemp -d "${TMPDIR:-/tmp}/iap-nats.XXXXXX")
stop_nats() {
  if [ -n "${nats_pid:-}" ]; then
    kill "$nats_pid" 2>/dev/null || true
    wait "$nats_pid" 2>/dev/null || true
  fi
  rm -rf "$nats_dir"
}
iap_cleanup="${iap_cleanup:-}stop_nats;"
trap 'eval "$iap_cleanup"' EXIT
nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$nats_dir/store" -l "$nats_dir/log" &
nats_pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break
  sleep 0.1
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null; then
  cat "$nats_dir/log" >&2
  exit 1
fi
export NATS_URL="nats://127.0.0.1:$nats_port"
echo "nats-server $(nats-server --version | awk '{print $2}') with JetStream on port $nats_port"
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ $# -gt 0 ]; then
  "$@"
fi
