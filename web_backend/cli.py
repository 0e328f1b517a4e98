"""First-run commands, non-interactive (they run the same without a terminal):

    python -m web_backend.cli create-tenant --name "My School" --admin-email you@example.org \
        --password-stdin < password.txt
    python -m web_backend.cli seed-demo

Both write the database the backend reads: ``WEB_DATABASE_URL``, else SQLite under
``WEB_DATA_DIR`` (default ``var/dev/web``, where `make dev` keeps it).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from web_backend.app import crud
from web_backend.app.core.config import Settings
from web_backend.app.core.db import make_engine, make_session_factory, upgrade_database
from web_backend.demo_seed import new_password, seed_demo

MIN_PASSWORD = 8


def create_tenant(settings: Settings, *, name: str, email: str, password: str) -> str:
    """Creates a tenant and its first admin; returns the tenant id.

    Raises:
        ValueError: the tenant name or the email is taken, or the password is too short.
    """
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    upgrade_database(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as db:
            if crud.get_tenant_by_name(db=db, name=name) is not None:
                raise ValueError(f"a tenant called {name!r} exists already")
            if crud.email_in_use(db=db, email=email):
                raise ValueError(f"{email} is already in use")
            tenant = crud.create_tenant(db=db, name=name)
            crud.create_admin(db=db, tenant_id=tenant.id, email=email, password=password)
            return tenant.id
    finally:
        engine.dispose()


def base_url(settings: Settings) -> str:
    """Where browsers reach the backend: WEB_PUBLIC_URL, else http://<host>:<port>."""
    return settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"


def _read_password(stream: TextIO) -> str:
    # One line, like `docker login --password-stdin`: a trailing newline is not part of it.
    return stream.readline().rstrip("\r\n")


def _create_tenant(args: argparse.Namespace, stdin: TextIO) -> int:
    generated = False
    if args.password_stdin:
        password = _read_password(stdin)
        if not password:
            print("error: --password-stdin read an empty password", file=sys.stderr)
            return 2
    elif args.admin_password is not None:
        password = args.admin_password
    else:
        password, generated = new_password(), True
    settings = Settings()
    try:
        tenant_id = create_tenant(
            settings, name=args.name, email=args.admin_email, password=password
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Created tenant {args.name!r} ({tenant_id}) with admin {args.admin_email.lower()}.")
    if generated:
        print(f"Admin password: {password}")
        print("  (shown only this once: keep it somewhere safe)")
    print(f"Log in at {base_url(settings)}/admin")
    return 0


def _seed_demo(_args: argparse.Namespace, _stdin: TextIO) -> int:
    settings = Settings()
    url = base_url(settings)
    try:
        demo = seed_demo(settings, base_url=url)
    except LookupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    unknown = "unknown (its record is gone: start a fresh data dir to seed again)"
    print("Demo school" + (" created." if demo.created else ":"))
    print(
        f"  admin:   {url}/admin   {demo.admin_email}   password {demo.admin_password or unknown}"
    )
    print(
        f"  student: {url}/student   {demo.student_email}   "
        f"password {demo.student_password or unknown}"
    )
    print(f"  student join link (talk to the Demo Tutor in one click):\n    {demo.join_link}")
    return 0


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    """Parses the command line and runs the command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m web_backend.cli", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="command", required=True)
    tenant = commands.add_parser(
        "create-tenant",
        help="create a tenant and its first admin",
        description="Creates a tenant and its first admin. Without a password option, a "
        "password is generated and printed once.",
    )
    tenant.add_argument("--name", required=True, help="the school's name (unique)")
    tenant.add_argument("--admin-email", required=True)
    password = tenant.add_mutually_exclusive_group()
    password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the admin's password from the first line of standard input",
    )
    password.add_argument(
        "--admin-password",
        help="the admin's password on the command line (visible in shell history and ps: "
        "prefer --password-stdin)",
    )
    tenant.set_defaults(run=_create_tenant)
    demo = commands.add_parser(
        "seed-demo",
        help="create the demo school, admin, student and tutor (once); print a join link",
    )
    demo.set_defaults(run=_seed_demo)
    args = parser.parse_args(argv)
    status: int = args.run(args, stdin or sys.stdin)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
