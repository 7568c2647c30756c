#!/usr/bin/env bash
# Container entrypoint (installed as /usr/local/bin/kiro2api): `kiro2api SERVICE [ARGS...]`.
#
#   gateway            python -m gateway        on $PORT          (default 8080)
#   broker             python -m token_broker   on $BROKER_PORT   (default 8081)
#   oauth              python -m kiro_oauth     on $OAUTH_PORT    (default 8082)
#   dashboard          python -m dashboard      on $DASHBOARD_PORT (default 8083)
#   sim                python -m kiro_sim       on $KIRO_SIM_PORT (default 8999), all interfaces
#   all                nats-server, redis-server and every service (the `make run` runner);
#                      needs the all-in-one image (the Dockerfile's default target)
#   demo               the same against the simulator, with a generated client key
#   healthcheck        GET the running service's /healthz (the image's HEALTHCHECK)
#   anything else      executed as a command (python, bash, ...)
#
# Docker's --env-file keeps quotes literally (KIRO_AUTH_TOKEN='[...]' arrives with the quotes),
# unlike `make run`'s .env reader: one pair of matching surrounding quotes is removed from the
# project's own variables so that the same .env works for both.
set -euo pipefail

health_file="${KIRO_HEALTH_FILE:-/tmp/kiro2api.health}"

die() {
  printf 'kiro2api: %s\n' "$*" >&2
  exit 2
}

note_health() {
  # The HEALTHCHECK reads this to know which port to probe; a read-only /tmp only loses that.
  printf 'http://127.0.0.1:%s/healthz\n' "$1" >"$health_file" 2>/dev/null || true
}

unquote_env() {
  local name value first last
  while IFS= read -r name; do
    case "$name" in
      KIRO_* | SESSION_POOL_* | OAUTH_* | GATEWAY_* | BROKER_* | DASHBOARD_* | PROXY_POOL | LOG_LEVEL | PORT | NATS_URL | REDIS_URL) ;;
      *) continue ;;
    esac
    value="${!name}"
    [ "${#value}" -ge 2 ] || continue
    first="${value:0:1}"
    last="${value: -1}"
    if [ "$first" = "$last" ] && { [ "$first" = "'" ] || [ "$first" = '"' ]; }; then
      export "$name=${value:1:${#value}-2}"
    fi
  done < <(compgen -e)
}

run_all() {
  local mode="$1"
  shift
  command -v nats-server >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1 \
    || die "'$mode' needs the all-in-one image (docker build -t kiro2api .); this image runs one service per container"
  cd "${KIRO_DATA_DIR:-/data}"
  mkdir -p .run/logs
  # The runner writes one log file per process; stream them to the container's stdout.
  local logs=() name
  for name in nats-server redis-server kiro-sim token-broker oauth dashboard gateway; do
    : >".run/logs/$name.log"
    logs+=(".run/logs/$name.log")
  done
  tail -q -n 0 -F "${logs[@]}" &
  note_health "${PORT:-8080}"
  exec python -m kiro_testing.runner "$mode" "$@"
}

unquote_env
service="${1:-all}"
[ "$#" -gt 0 ] && shift

case "$service" in
  gateway)
    note_health "${PORT:-8080}"
    exec python -m gateway "$@"
    ;;
  broker | token-broker | token_broker)
    note_health "${BROKER_PORT:-8081}"
    exec python -m token_broker "$@"
    ;;
  oauth | kiro_oauth)
    note_health "${OAUTH_PORT:-8082}"
    exec python -m kiro_oauth "$@"
    ;;
  dashboard)
    note_health "${DASHBOARD_PORT:-8083}"
    exec python -m dashboard "$@"
    ;;
  sim | kiro-sim | kiro_sim)
    note_health "${KIRO_SIM_PORT:-8999}"
    exec python -m kiro_sim --host "${KIRO_SIM_HOST:-0.0.0.0}" "$@"
    ;;
  all | run)
    run_all run "$@"
    ;;
  demo)
    run_all demo "$@"
    ;;
  healthcheck)
    exec kiro2api-healthcheck "$@"
    ;;
  help | -h | --help)
    sed -n '2,14p' "$0"
    ;;
  *)
    exec "$service" "$@"
    ;;
esac
