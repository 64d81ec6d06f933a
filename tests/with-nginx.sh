#!/usr/bin/env bash
# with-nginx.sh — run a command against a throwaway nginx on loopback.
#
# Starts Debian's nginx (package `nginx`) with a config and prefix in a temp
# directory, listening on 127.0.0.1 only, on a free port, as an unprivileged
# user (when we are root, as www-data or nobody). One location is a WebDAV
# document store the JSON transport can use:
#   /state/    GET (ETag on), PUT and DELETE (dav_methods), intermediate
#              folders made on PUT, folder listings as JSON (autoindex_format)
#   /fail503/  answers every request with 503 (to test retries)
#   /status412/, /status401/  answer every request with 412, 401
# and exports for the command:
#   CUTOVER_TEST_HTTP_ROOT       http://127.0.0.1:PORT/state
#   CUTOVER_TEST_HTTP_FAIL_ROOT  http://127.0.0.1:PORT/fail503
#   CUTOVER_TEST_HTTP_BASE       http://127.0.0.1:PORT (for /status412/ etc.)
#   CUTOVER_TEST_HTTP_LAST_WRITER_WINS=1  this server has no compare-and-swap:
#                                nginx's dav module ignores If-Match and
#                                If-None-Match on PUT (tests/test_http_transport.c
#                                checks that this is still so), so tests of
#                                concurrent writers from several processes
#                                cannot hold and skip, saying why
#   CUTOVER_TEST_HTTP_LOG        the access log ("METHOD URI STATUS" a line)
#   CUTOVER_TEST_HTTP_ERROR_LOG  the error log
#   CUTOVER_TEST_HTTP_STOP, CUTOVER_TEST_HTTP_START  shell commands that stop
#                                and start the server (both wait, bounded)
# The server is stopped and its directory removed when the command ends,
# whatever happens.
#
# usage: tests/with-nginx.sh COMMAND [ARGS...]
set -euo pipefail

nginx_bin=$(command -v nginx 2>/dev/null || true)
[ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx
if [ -z "$nginx_bin" ]; then
  echo "with-nginx.sh: no nginx found; install the nginx package (.ci/deps.sh)" >&2
  exit 3
fi

base=$(mktemp -d /tmp/cutover-nginx.XXXXXX)
chmod 0755 "$base"
run_as=()
if [ "$(id -u)" = 0 ]; then
  user=nobody
  id -u www-data >/dev/null 2>&1 && user=www-data
  run_as=(runuser -u "$user" --)
fi
mkdir -p "$base/www/state" "$base/www/fail503" "$base/tmp" "$base/logs"
[ ${#run_as[@]} -gt 0 ] && chown -R "$user": "$base"

stop_server() {
  local pid
  pid=$(cat "$base/nginx.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do           # at most 10 s
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  stop_server
  rm -rf "$base"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

write_conf() {
  cat >"$base/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $base/nginx.pid;
error_log $base/logs/error.log warn;
events { worker_connections 128; }
http {
  log_format plain '\$request_method \$uri \$status';
  access_log $base/logs/access.log plain;
  client_body_temp_path $base/tmp/body;
  proxy_temp_path $base/tmp/proxy;
  fastcgi_temp_path $base/tmp/fastcgi;
  uwsgi_temp_path $base/tmp/uwsgi;
  scgi_temp_path $base/tmp/scgi;
  client_max_body_size 0;
  server_tokens off;
  server {
    listen 127.0.0.1:$1;
    root $base/www;
    location /state/ {
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw;
      autoindex on;
      autoindex_format json;
      etag on;
    }
    location /fail503/ {
      return 503;
    }
    location /status412/ {
      return 412;
    }
    location /status401/ {
      return 401;
    }
    location / {
      return 404;
    }
  }
}
CONF
}

start_cmd="${run_as[*]} $nginx_bin -p $base -e $base/logs/error.log -c $base/nginx.conf"

# The port may be taken between choosing and binding it: try a few.
started=""
for _ in 1 2 3 4 5; do
  port=$(free_port)
  write_conf "$port"
  if $start_cmd 2>>"$base/logs/start.log"; then
    for _ in $(seq 1 50); do         # at most 5 s for the pid file
      [ -s "$base/nginx.pid" ] && break
      sleep 0.1
    done
    if [ -s "$base/nginx.pid" ]; then started=1; break; fi
  fi
done
if [ -z "$started" ]; then
  echo "with-nginx.sh: nginx did not start" >&2
  cat "$base/logs/start.log" "$base/logs/error.log" >&2 2>/dev/null || true
  exit 3
fi

# Wait (bounded) until it answers.
for _ in $(seq 1 50); do
  python3 - "$port" <<'PY' && break
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
  sleep 0.1
done

waitgone="pid=\$(cat $base/nginx.pid 2>/dev/null); [ -n \"\$pid\" ] && kill -TERM \$pid 2>/dev/null; \
for i in \$(seq 1 100); do kill -0 \$pid 2>/dev/null || break; sleep 0.1; done; rm -f $base/nginx.pid"
waitup="$start_cmd; for i in \$(seq 1 50); do [ -s $base/nginx.pid ] && break; sleep 0.1; done"

export CUTOVER_TEST_HTTP_ROOT="http://127.0.0.1:$port/state"
export CUTOVER_TEST_HTTP_FAIL_ROOT="http://127.0.0.1:$port/fail503"
export CUTOVER_TEST_HTTP_BASE="http://127.0.0.1:$port"
export CUTOVER_TEST_HTTP_LAST_WRITER_WINS=1
export CUTOVER_TEST_HTTP_LOG="$base/logs/access.log"
export CUTOVER_TEST_HTTP_ERROR_LOG="$base/logs/error.log"
export CUTOVER_TEST_HTTP_STOP="$waitgone"
export CUTOVER_TEST_HTTP_START="$waitup"

set +e
"$@"
rc=$?
set -e
exit $rc
