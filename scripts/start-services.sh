#!/usr/bin/env bash
# Start PostgreSQL and Redis where they are installed but stopped, so CI really
# exercises them (commands from this machine kind's notes). Never fails.
set -u
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -q 2>/dev/null; then
    echo "==> starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if command -v redis-server >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    echo "==> starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
for _ in $(seq 1 20); do
    pg_ok=1; redis_ok=1
    command -v pg_isready >/dev/null 2>&1 && { pg_isready -h 127.0.0.1 -q || pg_ok=0; }
    command -v redis-cli >/dev/null 2>&1 && { redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis_ok=0; }
    [ "$pg_ok" = 1 ] && [ "$redis_ok" = 1 ] && break
    sleep 0.5
done
exit 0
