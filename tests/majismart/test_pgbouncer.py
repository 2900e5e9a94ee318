"""PgBouncer between MajiSmart and PostgreSQL, as docker-compose.yml runs it (Debian's pgbouncer,
session pooling, `DISCARD ALL` when a client lets its server connection go).

django-tenants sets `search_path` once per connection and schema switch (TENANT_LIMIT_SET_CALLS),
so a provider's schema is state of the server connection. Session pooling hands a server
connection to one client for as long as that client is connected, and resets it before the next
one: two providers' requests through one small pool, at once and over and over, each see only their
own rows. (Transaction pooling would hand the connection to another client between two
transactions, `search_path` and all; docker-compose.yml does not use it.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.db import connection
from django_tenants.utils import tenant_context

from devkit.testing import PYTHON, TcpProxy, child_env, free_port, process, wait_for_port
from tests.billing_helpers import own_provider

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"  # Debian's package (`make test` installs it)
POOL = 2  # server connections for the test database: far fewer than the clients asking
CLIENTS = 6  # each provider's clients, by name


def _pgbouncer(tmp_path: Path, server_host: str, server_port: int) -> tuple[subprocess.Popen, int]:
    """pgbouncer on a free port in front of the tests' server; as root it must drop to `nobody`."""
    port = free_port()
    db = connection.settings_dict
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text(f"""[databases]
* = host={server_host} port={server_port} user={db["USER"]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
admin_users = {db["USER"]}
pool_mode = session
default_pool_size = {POOL}
max_client_conn = 100
server_reset_query = DISCARD ALL
""")
    ini.chmod(0o644)
    args = [PGBOUNCER, *(["-u", "nobody"] if os.geteuid() == 0 else []), str(ini)]
    proc = subprocess.Popen(args, stdout=(tmp_path / "pgbouncer.log").open("w"), stderr=subprocess.STDOUT)  # noqa: S603
    wait_for_port(port, proc=proc)
    return proc, port


def _names(port: int, host: str, key: str) -> list[str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/clients/?page_size=100",  # noqa: S310
                                     headers={"Host": host, "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return sorted(c["full_name"] for c in json.load(response)["results"])


def _show(port: int, what: str) -> list[dict[str, object]]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=port, dbname="pgbouncer", user=connection.settings_dict["USER"],
                         autocommit=True) as admin:
        cursor = admin.execute(f"SHOW {what}")
        names = [c.name for c in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_two_providers_through_one_small_pool_never_see_each_others_rows(django_db_setup, django_db_blocker,  # type: ignore[no-untyped-def]
                                                                          tmp_path) -> None:
    from accounts.services import api_key_create
    from clients.models import Category, Client

    with own_provider(django_db_blocker, "poola") as alpha, own_provider(django_db_blocker, "poolb") as beta, \
            django_db_blocker.unblock():
        keys, expected = {}, {}
        for provider, word in ((alpha, "Alpha"), (beta, "Beta")):
            with tenant_context(provider):
                domestic = Category.objects.get(code="domestic")
                for i in range(CLIENTS):
                    Client.objects.create(account_number=f"PGB-{i}", full_name=f"{word} Client {i}", category=domestic)
                keys[provider.domain] = api_key_create(name="pool test")[1]
            expected[provider.domain] = sorted(f"{word} Client {i}" for i in range(CLIENTS))
        connection.set_schema_to_public()
        db = connection.settings_dict
        host = db["HOST"] or "127.0.0.1"
        relay = None
        if host.startswith("/"):  # the embedded server listens on a unix socket: relayed over TCP
            relay = TcpProxy(target_path=f"{host}/.s.PGSQL.{db['PORT'] or 5432}")
            host, server_port = "127.0.0.1", relay.port
        else:
            server_port = int(db["PORT"] or 5432)
        bouncer, bouncer_port = _pgbouncer(tmp_path, host, server_port)
        try:
            web = free_port()
            # Every request opens its own database connection (CONN_MAX_AGE=0) and lets it go at
            # the end: the pool's two server connections serve both providers in turn.
            env = child_env(DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{bouncer_port}/{db['NAME']}",
                            CONN_MAX_AGE="0", GUNICORN_BIND=f"127.0.0.1:{web}", WEB_CONCURRENCY="2",
                            GUNICORN_THREADS="4")
            env.pop("REDIS_URL", None)
            asked = [alpha.domain, beta.domain] * 60
            with process([PYTHON, "-m", "gunicorn", "majismart.wsgi:application"], env, port=web,
                         log=tmp_path / "web.log"), ThreadPoolExecutor(max_workers=8) as pool:
                answers = list(pool.map(lambda domain: (domain, _names(web, domain, keys[domain])), asked))
                pools = [p for p in _show(bouncer_port, "POOLS") if p["database"] == db["NAME"]]
                servers = [s for s in _show(bouncer_port, "SERVERS") if s["database"] == db["NAME"]]
        finally:
            bouncer.terminate()
            bouncer.wait(10)
            if relay is not None:
                relay.close()
    assert len(answers) == 120
    for domain, names in answers:
        assert names == expected[domain], (domain, names)
    assert pools and pools[0]["pool_mode"] == "session"
    # Two server connections at most carried the 120 requests of both providers.
    assert 1 <= len(servers) <= POOL
