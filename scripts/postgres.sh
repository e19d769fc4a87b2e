# Starts a throw-away PostgreSQL cluster on a local port for the tests, and
# stops it when the calling script exits. Sourced by scripts/test-all.sh;
# exports IAP_POSTGRES_URL. Installs Debian's server package where it is
# missing. Needs root (the cluster runs as the postgres user).
pg_port=${IAP_POSTGRES_PORT:-54329}
# The first free port from there on: another cluster may be listening already.
while (exec 3<>"/dev/tcp/127.0.0.1/$pg_port") 2>/dev/null; do pg_port=$((pg_port + 1)); done
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
pg_dir=$(mktemp -d /tmp/iap-postgres.XXXXXX)
chown postgres: "$pg_dir"
# PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
as_postgres() { runuser -u postgres -- "$@"; }
as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
if ! as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=50" start >/dev/null; then
  cat "$pg_dir/log" >&2
  rm -rf "$pg_dir"
  exit 1
fi
stop_postgres() { as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1; rm -rf "$pg_dir"; }
trap stop_postgres EXIT
as_postgres "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres iap_test
export IAP_POSTGRES_URL="host=127.0.0.1 port=$pg_port user=postgres dbname=iap_test"
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on port $pg_port"
