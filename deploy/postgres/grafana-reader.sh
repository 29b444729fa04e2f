#!/bin/sh
# Creates the login Grafana reads the cloud's database with (GRAFANA_DB_USER, password GRAFANA_DB_PASSWORD).
# It gets no rights here: the cloud grants it SELECT on the report_* views at every start (DK_REPORTING_ROLE), and on
# nothing else, so dashboards never see residents' names, e-mail addresses or codes.
#
# docker-compose runs this once, when the postgres volume is first initialised (/docker-entrypoint-initdb.d/).
# For a database made before, run it once by hand:
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/grafana-reader.sh
# Elsewhere: PGHOST=... POSTGRES_USER=... POSTGRES_DB=... GRAFANA_DB_PASSWORD=... sh deploy/postgres/grafana-reader.sh
set -eu
: "${GRAFANA_DB_PASSWORD:?set GRAFANA_DB_PASSWORD (a long random string)}"
reader="${GRAFANA_DB_USER:-grafana_reader}"
# Variables go to psql with --set and are quoted by psql itself (:"name" as identifier, :'name' as literal).
psql --no-psqlrc -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    --set=reader="$reader" --set=password="$GRAFANA_DB_PASSWORD" <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'reader') AS missing \gset
\if :missing
CREATE ROLE :"reader" LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
\else
ALTER ROLE :"reader" LOGIN PASSWORD :'password';
\endif
-- A runaway dashboard query must not hold the database for long.
ALTER ROLE :"reader" SET statement_timeout = '30s';
SQL
echo "grafana-reader: role $reader ready; the cloud grants it the reporting views (DK_REPORTING_ROLE=$reader)"
