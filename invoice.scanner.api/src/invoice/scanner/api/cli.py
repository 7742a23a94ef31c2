"""`invoice-scanner-admin`: create companies, users and tokens; migrate the database.

    invoice-scanner-admin migrate
    invoice-scanner-admin create-user --company "Acme" --email a@acme.test --password secret [--role reviewer]
    invoice-scanner-admin create-token --email a@acme.test [--scope documents:write --scope documents:read]
"""
from __future__ import annotations

import argparse
import sys

from invoice.scanner.processing.db.connection import UniqueViolation

from invoice.scanner.api.auth import hash_password, issue_token
from invoice.scanner.api.config import ApiConfig
from invoice.scanner.api.repository import ApiRepository
from invoice.scanner.api.roles import PERMISSIONS, ROLES


def _repo(config: ApiConfig) -> ApiRepository:
    return ApiRepository(config.database_url, pool_size=1)


def cmd_migrate(args: argparse.Namespace, config: ApiConfig) -> int:
    from invoice.scanner.processing.db.migrate import upgrade

    upgrade(config.database_url)
    print(f"database migrated: {config.database_url.rsplit('/', 1)[-1]}")
    return 0


def cmd_create_user(args: argparse.Namespace, config: ApiConfig) -> int:
    repo = _repo(config)
    existing = repo.get_user_by_email(args.email)
    if existing is not None:
        if args.if_missing:
            print(f"company_id={existing.company_id}\nuser_id={existing.id}\n(user already existed)")
            return 0
        print(f"error: a user with email {args.email} already exists", file=sys.stderr)
        return 1
    company, created = repo.get_or_create_company(args.company)
    try:
        user = repo.create_user(company.id, args.email, hash_password(args.password), role=args.role)
    except UniqueViolation:
        print(f"error: a user with email {args.email} already exists", file=sys.stderr)
        return 1
    print(f"company_id={company.id}{' (created)' if created else ''}\nuser_id={user.id}\nrole={user.role}")
    return 0


def cmd_create_token(args: argparse.Namespace, config: ApiConfig) -> int:
    repo = _repo(config)
    user = repo.get_user_by_email(args.email)
    if user is None or not user.is_active:
        print(f"error: no active user with email {args.email}", file=sys.stderr)
        return 1
    issued = issue_token(repo, user.id, args.ttl or config.token_ttl_s, scopes=args.scope or None, name=args.name)
    print(issued.access_token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="invoice-scanner-admin", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create the database if needed and apply every migration").set_defaults(
        func=cmd_migrate)
    p = sub.add_parser("create-user", help="create a user (and its company if it does not exist yet)")
    p.add_argument("--company", required=True, help="company name")
    p.add_argument("--email", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--if-missing", action="store_true", help="succeed quietly when the user already exists")
    p.add_argument("--role", choices=ROLES, default="admin",
                   help="admin (everything), reviewer (review and decide, no user management), "
                        "uploader (upload and read only); default admin")
    p.set_defaults(func=cmd_create_user)
    p = sub.add_parser("create-token", help="print a new bearer token for a user")
    p.add_argument("--email", required=True)
    p.add_argument("--ttl", type=int, default=0, help="seconds until it expires (default TOKEN_TTL_S)")
    p.add_argument("--scope", action="append", choices=PERMISSIONS, metavar="SCOPE",
                   help="limit the token to this permission (repeatable; a machine's token). "
                        f"One of: {', '.join(PERMISSIONS)}. Default: everything the user's role allows")
    p.add_argument("--name", help="what the token is for (e.g. 'scanner in room 3')")
    p.set_defaults(func=cmd_create_token)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args, ApiConfig.from_env())


if __name__ == "__main__":
    sys.exit(main())
