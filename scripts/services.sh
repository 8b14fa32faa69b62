#!/usr/bin/env bash
# Make sure the services the test suite needs are up; start them if they are installed but
# stopped, and fail loudly (never skip) if they cannot be reached.
# Usage: scripts/services.sh [postgres] [redis] [chromium]   (chromium is installed with apt-get)
set -euo pipefail

wait_for() {  # wait_for NAME COMMAND...
  local name=$1; shift
  for _ in $(seq 1 30); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "ERROR: $name is not reachable after 30 s" >&2
  return 1
}

ensure_postgres() {
  if pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "ERROR: PostgreSQL is not running on 127.0.0.1:5432 and is not installed here" >&2
    exit 1
  fi
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432
}

redis_ping() {  # PONG from 127.0.0.1:6379, with or without redis-cli installed
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG
    return
  fi
  exec 3<>/dev/tcp/127.0.0.1/6379 || return 1
  printf 'PING\r\n' >&3
  local reply
  read -r -t 5 reply <&3 || true
  exec 3>&-
  [[ $reply == +PONG* ]]
}

ensure_redis() {
  if redis_ping >/dev/null 2>&1; then return 0; fi
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "ERROR: Redis is not running on 127.0.0.1:6379 and is not installed here" >&2
    exit 1
  fi
  echo "starting Redis" >&2
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis_ping
}

ensure_chromium() {
  # The web UI's browser tests drive Debian's Chromium; Playwright never downloads one here.
  if [ -x /usr/bin/chromium ]; then return 0; fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "installing Debian's chromium" >&2
  $sudo apt-get update
  $sudo apt-get install -y chromium
  if [ ! -x /usr/bin/chromium ]; then
    echo "ERROR: /usr/bin/chromium is still missing after apt-get install chromium" >&2
    exit 1
  fi
}

for service in "$@"; do
  case "$service" in
    postgres) ensure_postgres ;;
    redis) ensure_redis ;;
    chromium) ensure_chromium ;;
    *) echo "unknown service: $service" >&2; exit 2 ;;
  esac
done
