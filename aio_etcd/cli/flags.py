"""Command flags the way etcdctl v2 reads them: urfave/cli's reordering, then Go's flag package.

First every token that names a defined flag (``-ttl``, ``--ttl``,
``--ttl=5``) is moved to the front, each followed by the next token when that
one does not start with ``-`` (even after a boolean flag: ``ls -p /dir --sort``
takes ``/dir`` along and leaves ``--sort`` an argument, as etcdctl does).
Tokens after ``--`` stay where they are. Then the flags are read from the
front until the first token that is not a flag: a boolean flag takes no value
(or an attached ``=false``), another flag takes the next token or its
attached ``=value``. Unknown flags after the arguments are arguments.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FlagError", "HELP_FLAGS", "parse_flags", "wants_help"]

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


#: The flags that ask a command for its help, as urfave/cli reads them.
HELP_FLAGS = frozenset({"-h", "--h", "-help", "--help"})


def wants_help(argv: list[str]) -> bool:
    """Whether a help flag comes before ``--`` (etcdctl moves flags to the front: any place asks)."""
    for token in argv:
        if token == "--":
            return False
        if token.split("=", 1)[0] in HELP_FLAGS:
            return True
    return False


class FlagError(Exception):
    """A flag that is unknown, lacks its value, or has a value of the wrong type."""


def _flag_name(token: str) -> str | None:
    if token in ("-", "--") or not token.startswith("-"):
        return None
    return token[2:] if token.startswith("--") else token[1:]


def _names(spec: dict[str, type]) -> dict[str, str]:
    """Every name a flag answers to (``"recursive,r"``: both) -> its first name."""
    return {alias.strip(): key.split(",")[0] for key in spec for alias in key.split(",")}


def _reorder(argv: list[str], spec: dict[str, str]) -> list[str]:
    front: list[str] = []
    rest: list[str] = []
    may_take_value = False
    for i, token in enumerate(argv):
        if token == "--":
            rest.extend(argv[i:])
            break
        name = _flag_name(token)
        if may_take_value and not token.startswith("-"):
            may_take_value = False
            front.append(token)
        elif name is not None and name.split("=", 1)[0] in spec:
            front.append(token)
            may_take_value = "=" not in token
        else:
            rest.append(token)
    return front + rest


def _one_form_each(tokens: list[str], spec: dict[str, type]) -> None:
    """urfave/cli refuses a flag given in two of its forms (``-r`` and ``--recursive``)."""
    given = set()
    for token in tokens:
        if token == "--":
            break
        name = _flag_name(token)
        if name is not None:
            given.add(name.split("=", 1)[0])
    for key in spec:
        forms = [alias.strip() for alias in key.split(",")]
        if len(forms) > 1 and all(form in given for form in forms):
            raise FlagError(f"Cannot use two forms of the same flag: {forms[1]} {forms[0]}")


def parse_flags(argv: list[str], spec: dict[str, type]) -> tuple[list[str], dict[str, Any]]:
    """Split ``argv`` into arguments and flag values (defaults: False, 0, "").

    :param spec: flag name (aliases after commas: ``"recursive,r"``) -> type
        (``list``: each time it is given adds a value); the values are keyed
        by the first name.
    """
    names = _names(spec)
    kinds = {key.split(",")[0]: kind for key, kind in spec.items()}
    values: dict[str, Any] = {name: kind() for name, kind in kinds.items()}
    tokens = _reorder(argv, names)
    _one_form_each(tokens, spec)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            i += 1
            break
        name = _flag_name(token)
        if name is None:
            break
        i += 1
        name, has_value, value = name.partition("=")
        if not name or name.startswith(("-", "=")):
            raise FlagError(f"bad flag syntax: {token}")
        canonical = names.get(name)
        if canonical is None:
            raise FlagError(f"flag provided but not defined: -{name}")
        kind = kinds[canonical]
        if kind is bool:
            if has_value and value not in _TRUE | _FALSE:
                raise FlagError(f'invalid boolean value "{value}" for -{name}: parse error')
            values[canonical] = value in _TRUE if has_value else True
            continue
        if not has_value:
            if i >= len(tokens):
                raise FlagError(f"flag needs an argument: -{name}")
            value = tokens[i]
            i += 1
        if kind is list:  # a flag given again adds a value (urfave/cli's StringSliceFlag)
            values[canonical].append(value)
            continue
        try:
            values[canonical] = kind(value)
        except ValueError:
            raise FlagError(f'invalid value "{value}" for flag -{name}: parse error') from None
    return tokens[i:], values
