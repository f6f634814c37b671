"""``gatewidgets``: list and set gate signals from a terminal (the same parser as ``%gate``).

Exit codes: 0 done, 1 a gate error (unknown execution or signal, value of the wrong type,
signal already set or closed), 2 a usage mistake. Errors print one line on stderr.
"""
from __future__ import annotations

import json
import sys
from typing import Any, Sequence

from gatewidgets.commands import CommandError, Context, HelpRequested, build_parser, one_line, run_command
from gatewidgets.errors import GateError
from gatewidgets.formatting import inert
from gatewidgets.wire import jsonable

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    parser = build_parser("gatewidgets", notebook=False)
    try:
        _check_text(argv)
        args = parser.parse_args(argv)
        if args.command == "lab":
            from gatewidgets import lab

            return lab.run(args)
        if args.command == "hub-service":
            try:
                from gatewidgets import hub
            except ModuleNotFoundError as exc:  # jupyterhub: an optional dependency
                raise CommandError(f"gatewidgets: hub-service needs {(exc.name or '').split('.')[0]}: "
                                   "pip install 'gatewidgets[hub]'") from None
            return hub.run(args.config, args.debug)
        from gatewidgets.remote import GateRemote

        remote = GateRemote.for_sandbox(store=args.store).with_face("cli")
        result = run_command(argv, Context(remote), parser)
    except HelpRequested as exc:
        print(str(exc).rstrip())
        return 0
    except CommandError as exc:
        print(one_line(str(exc)), file=sys.stderr)
        return 2
    except GateError as exc:
        print(f"gatewidgets: {type(exc).__name__}: {one_line(str(exc))}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.data, indent=2))
    else:
        text = result.to_text()
        if text:
            print(text, flush=True)
    if args.command == "recover":
        return _host(result.value, args.json)
    return 0


def _host(execution: Any, as_json: bool) -> int:
    """Keep a recovered execution running here until it ends (Ctrl-C leaves it orphaned, recoverable again)."""
    if not as_json:
        print("Waiting for it to finish; Ctrl-C leaves it orphaned, to recover again later.", flush=True)
    try:
        outputs = execution.wait()
    except KeyboardInterrupt:
        return 130
    except GateError as exc:
        print(f"gatewidgets: execution {execution.name!r} {execution.status.value}: {type(exc).__name__}: "
              f"{one_line(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:  # a task's own error
        print(f"gatewidgets: execution {execution.name!r} FAILED: {type(exc).__name__}: {one_line(str(exc))}",
              file=sys.stderr)
        return 1
    print(json.dumps(jsonable(outputs)) if as_json else inert(f"Execution {execution.name!r} SUCCEEDED: {outputs!r}"))
    return 0


def _check_text(argv: Sequence[str]) -> None:
    """Refuse arguments that are not valid UTF-8 (Python keeps such bytes as lone surrogates)."""
    for position, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            raise CommandError(f"gatewidgets: argument {position} ('{shown}') is not valid UTF-8 text; "
                               "names and values must be UTF-8.") from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
