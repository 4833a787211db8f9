"""`haven`: administration on the machine that runs the stack.

    haven admin bootstrap --trust NAME --school NAME --admin-email EMAIL [--admin-name NAME]
    haven admin import-students --school ID FILE [--errors FILE]
    haven migrate [SERVICE ...]
    haven dev run [--replicas SERVICE=N,...]
    haven dev mail [--to EMAIL]

Commands that need a service's database read HAVEN_DATABASE_URL (as in
production, where they run beside the service), or else find the local stack
that `make run` started under var/. Failures print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

SERVICES = ("identity", "incidents", "notifications", "files")


class CommandError(Exception):
    """A failure to report in one line."""


def state_dir() -> Path:
    return Path(os.environ.get("HAVEN_STATE_DIR", "var"))


def database_url_for(service: str) -> str:
    if os.environ.get("HAVEN_DATABASE_URL"):
        return os.environ["HAVEN_DATABASE_URL"]
    from haven_devstack.stack import read_state

    try:
        return read_state(state_dir())["databases"][service]
    except FileNotFoundError:
        raise CommandError(
            f"no database for {service}: set HAVEN_DATABASE_URL, or start the stack with `make run`"
        ) from None


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from haven_identity.bootstrap import bootstrap_sync

    if "@" not in args.admin_email:
        raise CommandError(f"--admin-email: {args.admin_email!r} is not an email address")
    for flag, value in (("--trust", args.trust), ("--school", args.school)):
        if not value.strip():
            raise CommandError(f"{flag} must not be empty")
    result = bootstrap_sync(
        database_url_for("identity"),
        trust=args.trust.strip(),
        school=args.school.strip(),
        admin_email=args.admin_email.strip(),
        admin_name=(args.admin_name or "").strip() or None,
    )
    print(json.dumps(result))
    return 0


def cmd_import_students(args: argparse.Namespace) -> int:
    """Pupils from a CSV or JSON file into the incidents database: 0 all in, 1 some refused."""
    from haven_cli.import_students import ImportFileError, run

    try:
        return run(
            database_url_for("incidents"),
            args.school.strip(),
            Path(args.file),
            Path(args.errors) if args.errors else None,
        )
    except (ImportFileError, LookupError) as error:
        raise CommandError(str(error)) from None


def cmd_migrate(args: argparse.Namespace) -> int:
    from haven_runtime.migrations import upgrade

    chosen = args.services or list(SERVICES)
    for service in chosen:
        if service not in SERVICES:
            raise CommandError(f"unknown service {service!r}: choose from {', '.join(SERVICES)}")
        if os.environ.get("HAVEN_DATABASE_URL") and len(chosen) > 1:
            raise CommandError("with HAVEN_DATABASE_URL set, name exactly one service")
        package = importlib.import_module(f"haven_{service}")
        upgrade(Path(package.__path__[0]) / "migrations", database_url_for(service))
        print(f"{service}: migrations applied")
    return 0


def cmd_dev_run(args: argparse.Namespace) -> int:
    from haven_devstack.run import run_stack
    from haven_devstack.stack import REPLICAS_ENV, parse_replicas

    try:
        replicas = parse_replicas(args.replicas or os.environ.get(REPLICAS_ENV, ""))
    except ValueError as error:
        raise CommandError(str(error)) from None
    return run_stack(state_dir(), replicas)


def cmd_dev_mail(args: argparse.Namespace) -> int:
    """Print the newest message in the local mail sink, decoded, as a person would read it."""
    from haven_devstack.smtp_sink import read_messages

    maildir = state_dir() / "mail"
    messages = [
        m for m in read_messages(maildir) if not args.to or args.to.lower() in str(m["To"]).lower()
    ]
    if not messages:
        raise CommandError(f"no mail{' to ' + args.to if args.to else ''} in {maildir}/")
    message = messages[-1]
    body = message.get_body(preferencelist=("plain",))
    print(f"From: {message['From']}\nTo: {message['To']}\nSubject: {message['Subject']}\n")
    print(body.get_content() if body is not None else "")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="haven", description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True)

    admin = commands.add_parser("admin", help="administer trusts, schools and people")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    boot = admin_commands.add_parser(
        "bootstrap", help="create the first trust, school and admin (safe to run again)"
    )
    boot.add_argument("--trust", required=True)
    boot.add_argument("--school", required=True)
    boot.add_argument("--admin-email", required=True)
    boot.add_argument("--admin-name")
    boot.set_defaults(handler=cmd_bootstrap)
    pupils = admin_commands.add_parser(
        "import-students",
        help="import a school's pupils from CSV (upn,first_name,last_name,year_group,"
        "date_of_birth) or JSON ({items: [...]}); a known UPN is updated",
    )
    pupils.add_argument("--school", required=True, help="the school's id")
    pupils.add_argument("file", metavar="FILE")
    pupils.add_argument("--errors", metavar="FILE", help="write every refused row here, as CSV")
    pupils.set_defaults(handler=cmd_import_students)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("services", nargs="*", metavar="SERVICE")
    migrate.set_defaults(handler=cmd_migrate)

    dev = commands.add_parser("dev", help="the local development stack")
    dev_commands = dev.add_subparsers(dest="dev_command", required=True)
    run = dev_commands.add_parser("run", help="start everything (what `make run` does)")
    run.add_argument(
        "--replicas",
        metavar="SERVICE=N,...",
        help="run several replicas of services, e.g. identity=2,files=3 or all=2 "
        "(default: $HAVEN_DEV_REPLICAS, else one of each)",
    )
    run.set_defaults(handler=cmd_dev_run)
    mail = dev_commands.add_parser("mail", help="show the newest email the local stack sent")
    mail.add_argument("--to", help="only mail to this address")
    mail.set_defaults(handler=cmd_dev_mail)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CommandError as error:
        print(f"haven: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - one line, not a traceback, for operators
        print(f"haven: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
