# Exports the libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE,
# PGPASSWORD) from IAP_POSTGRES_URL (`host=... port=... user=...
# dbname=...`), for psql and Node's client. Sourced by the bench scripts.
for setting in $IAP_POSTGRES_URL; do
  case $setting in
    host=*) export PGHOST=${setting#host=} ;;
    port=*) export PGPORT=${setting#port=} ;;
    user=*) export PGUSER=${setting#user=} ;;
    dbname=*) export PGDATABASE=${setting#dbname=} ;;
    password=*) export PGPASSWORD=${setting#password=} ;;
  esac
done
