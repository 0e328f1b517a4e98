"""First-run commands: ``python -m web_backend.cli create-tenant --name ... --admin-email ...``."""

from __future__ import annotations

import argparse
import getpass
import sys

from web_backend.app import crud
from web_backend.app.core.config import Settings
from web_backend.app.core.db import make_engine, make_session_factory, upgrade_database


def create_tenant(settings: Settings, *, name: str, email: str, password: str) -> str:
    """Creates a tenant and its first admin; returns the tenant id.

    Raises:
        ValueError: the tenant name or the email is taken, or the password is too short.
    """
    if len(password) < 8:
        raise ValueError("the password must have at least 8 characters")
    upgrade_database(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as db:
            if crud.get_tenant_by_name(db=db, name=name) is not None:
                raise ValueError(f"a tenant called {name!r} exists")
            if crud.email_in_use(db=db, email=email):
                raise ValueError(f"{email} is already in use")
            tenant = crud.create_tenant(db=db, name=name)
            crud.create_admin(db=db, tenant_id=tenant.id, email=email, password=password)
            return tenant.id
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Parses the command line and runs the command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m web_backend.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    tenant = commands.add_parser("create-tenant", help="create a tenant and its first admin")
    tenant.add_argument("--name", required=True)
    tenant.add_argument("--admin-email", required=True)
    tenant.add_argument(
        "--admin-password", help="read from a prompt when absent (keeps it out of shell history)"
    )
    args = parser.parse_args(argv)
    password = args.admin_password or getpass.getpass("admin password: ")
    try:
        tenant_id = create_tenant(
            Settings(), name=args.name, email=args.admin_email, password=password
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"tenant {args.name!r} created: {tenant_id}; admin {args.admin_email}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
