# Starts a throw-away PostgreSQL cluster on a local port for the tests, and
# stops it (removing its files) when the calling script exits, whether the
# tests passed or not. Exports IAP_POSTGRES_URL.
#
#   source scripts/postgres.sh              # from another script (test-all.sh)
#   bash scripts/postgres.sh COMMAND ARGS   # runs one command with the server up
#
# Run as an ordinary user, the cluster is that user's. Run as root (as CI
# does), it belongs to the postgres user, since PostgreSQL refuses to run as
# root, and Debian's server package is installed where it is missing.
pg_port=${IAP_POSTGRES_PORT:-54329}
# The first free port from there on: another cluster may be listening already.
while (exec 3<>"/dev/tcp/127.0.0.1/$pg_port") 2>/dev/null; do pg_port=$((pg_port + 1)); done
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL's server is not installed: install Debian's postgresql package," >&2
    echo "or set IAP_POSTGRES_URL to a server of your own." >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/iap-postgres.XXXXXX")
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$pg_dir"
  as_owner() { runuser -u postgres -- "$@"; }
else
  as_owner() { "$@"; }
fi
stop_postgres() {
  as_owner "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
iap_cleanup="${iap_cleanup:-}stop_postgres;"
trap 'eval "$iap_cleanup"' EXIT
as_owner "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null || exit 1
if ! as_owner "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=100" start >/dev/null; then
  cat "$pg_dir/log" >&2
  exit 1
fi
as_owner "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres iap_test || exit 1
export IAP_POSTGRES_URL="host=127.0.0.1 port=$pg_port user=postgres dbname=iap_test"
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on port $pg_port"
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ $# -gt 0 ]; then
  "$@"
fi
