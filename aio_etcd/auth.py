"""Users, roles and switching authentication on and off: etcd's ``/v2/auth`` API.

The names are python-etcd's (:class:`EtcdUser`, :class:`EtcdRole`, :class:`Auth`),
with coroutines where python-etcd did I/O::

    from aio_etcd.auth import Auth, EtcdRole, EtcdUser

    role = EtcdRole(client, "app")
    role.grant("/app/*", "RW")
    await role.write()                       # creates the role, or updates it

    user = EtcdUser(client, "alice")
    user.password = "s3cret"
    user.roles = {"app"}
    await user.write()                       # creates the user, or updates it

    root = EtcdUser(client, "root")
    root.password = "r00t"
    await root.write()
    await Auth(client).enable()              # from now on, admin calls need root

Every call here except :meth:`Auth.is_enabled` needs, once auth is enabled, a
client whose ``username``/``password`` belong to a user with the ``root`` role.

Changes can be made two ways:

- edit the object (``user.roles = ...``, ``user.password = ...``,
  ``role.grant(...)``, ``role.acls = ...``) and then ``await obj.write()``,
  which creates the user or role, or brings the server to the edited state;
- ``await user.grant("app")``, ``await role.grant("/app/*", "R")`` and the
  like, which send that one change at once and leave the rest alone.

``grant`` and ``revoke`` serve both: calling them edits the object, awaiting
them also sends the change.

Errors are :class:`~aio_etcd.EtcdException` subclasses: a user or role that does
not exist is :class:`~aio_etcd.EtcdKeyNotFound`, missing root credentials are
:class:`~aio_etcd.EtcdInsufficientPermissions`, a request etcd refuses as invalid
(for example changing the ``root`` role) is :class:`~aio_etcd.EtcdValueError`,
and creating something that already exists is :class:`~aio_etcd.EtcdAlreadyExist`.
Passwords never appear in ``repr()``, in log records or in exception messages.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Generator, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar
from urllib.parse import quote

from ._v2.keys import JSON
from .exceptions import (
    EtcdAlreadyExist,
    EtcdException,
    EtcdInsufficientPermissions,
    EtcdKeyNotFound,
    EtcdValueError,
)

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Auth", "EtcdRole", "EtcdUser"]

log = logging.getLogger(__name__)

_PERMISSION_LETTERS = frozenset("RW")


# -- one request to the auth API ------------------------------------------------------------


def _error_for(method: str, path: str, status: int, payload: dict[str, Any]) -> EtcdException:
    """The exception for an error answer of the auth API (a JSON ``{"message": ...}``)."""
    message = str(payload.get("message") or f"HTTP {status}")
    where = f"{method} {path}"
    if status == 401:
        return EtcdInsufficientPermissions(
            f"[110] {where}: {message} (this needs the credentials of a user with the root role)",
            {**payload, "errorCode": 110},
        )
    if status == 404:
        return EtcdKeyNotFound(f"[100] {where}: {message}", {**payload, "errorCode": 100})
    if status == 409 and "already exist" in message:
        return EtcdAlreadyExist(f"{where}: {message}", payload)
    if status in (400, 403, 409):
        return EtcdValueError(f"{where}: {message} (HTTP {status})", payload)
    return EtcdException(f"{where}: {message} (HTTP {status})", payload)


async def _call(client: Client, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
    """Send one request to the auth API; the decoded JSON answer, or ``None`` when empty.

    ``body`` may hold a password: it is sent, never logged or quoted.
    """
    log.debug("auth request %s %s", method, path)
    client.backend.check_v2_auth()  # a v3 store has none: the backend says so
    data = None if body is None else json.dumps(body).encode()
    # The client's one request path (credentials, member choice, failover,
    # redirects, deadline), asked to return error answers: the auth API
    # answers {"message": ...} with the status as the only code.
    resp = await client.api_execute(
        path, method, data=data, headers=JSON, replay_safe=method == "GET", raise_for_status=False
    )
    if resp.status >= 300:
        payload = resp.json_object()
        if payload is not None and "errorCode" not in payload:
            raise _error_for(method, path, resp.status, payload)
        await client.raise_for_answer(resp)  # not the auth API's own answer (v2 disabled, a proxy...)
    return resp.json() if resp.body.strip() else None


def _names(items: Any, field: str) -> list[str]:
    """Names from a listing: etcd 3.x lists objects (``{"user": ...}``), 2.x plain names."""
    names: list[str] = []
    for item in items or ():
        if isinstance(item, Mapping):
            name = item.get(field)
            if isinstance(name, str):
                names.append(name)
        elif isinstance(item, str):
            names.append(item)
    return names


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise EtcdValueError(f"a {kind} name is a non-empty str, not {name!r}")
    return name


class _Change:
    """An edit already made to an object in memory; awaiting it also sends it to etcd."""

    __slots__ = ("_send",)

    def __init__(self, send: Callable[[], Awaitable[None]]) -> None:
        self._send = send

    def __await__(self) -> Generator[Any, None, None]:
        return self._send().__await__()


# -- enabling auth ----------------------------------------------------------------------------


class Auth:
    """Whether etcd checks credentials, and the lists of users and roles.

    :param client: the client to talk through; after :meth:`enable` it needs
        the credentials of a user with the root role for everything but
        :meth:`is_enabled`.
    """

    def __init__(self, client: Client) -> None:
        #: The client requests go through.
        self.client = client

    @property
    def uri(self) -> str:
        """The path of the switch (``/v2/auth/enable``)."""
        return self.client.version_prefix + "/auth/enable"

    @property
    def enabled(self) -> Awaitable[bool]:
        """Whether auth is on; use as ``await auth.enabled``."""
        return self.is_enabled()

    async def is_enabled(self) -> bool:
        """Whether etcd checks credentials now. Needs no credentials."""
        answer = await _call(self.client, "GET", self.uri)
        if not isinstance(answer, Mapping) or not isinstance(answer.get("enabled"), bool):
            raise EtcdException(f"unexpected answer from GET {self.uri}: {answer!r}")
        return bool(answer["enabled"])

    async def enable(self) -> None:
        """Turn auth on. Doing it twice is harmless.

        The ``root`` user must exist first (see :class:`EtcdUser`). While
        auth is on, anonymous requests get the permissions of the ``guest``
        role, which etcd creates when enabling (if it does not exist) with
        read and write access to every key: restrict it with
        :class:`EtcdRole` if anonymous clients should not have that.

        :raises EtcdValueError: there is no ``root`` user yet.
        """
        await self._switch(True)

    async def disable(self) -> None:
        """Turn auth off (needs root credentials). Doing it twice is harmless."""
        await self._switch(False)

    async def _switch(self, on: bool) -> None:
        try:
            await _call(self.client, "PUT" if on else "DELETE", self.uri)
        except (EtcdValueError, EtcdInsufficientPermissions) as exc:
            # etcd refuses a switch to the state it is in (409), and refuses an
            # anonymous client once auth is on (401): neither matters when the
            # switch is already where the caller wants it.
            if await self.is_enabled() == on:
                return
            if on and isinstance(exc, EtcdValueError) and "root user" in str(exc):
                raise EtcdValueError(
                    f"{exc} -- create the root user first: "
                    "user = EtcdUser(client, 'root'); user.password = ...; await user.write()",
                    exc.payload,
                ) from exc
            raise
        log.info("etcd auth %s", "enabled" if on else "disabled")

    async def users(self) -> list[str]:
        """The names of every user."""
        answer = await _call(self.client, "GET", self.client.version_prefix + "/auth/users")
        return _names(answer.get("users") if isinstance(answer, Mapping) else None, "user")

    async def roles(self) -> list[str]:
        """The names of every role (``root`` included, ``guest`` once auth was enabled)."""
        answer = await _call(self.client, "GET", self.client.version_prefix + "/auth/roles")
        return _names(answer.get("roles") if isinstance(answer, Mapping) else None, "role")

    def user(self, name: str) -> EtcdUser:
        """An :class:`EtcdUser` for ``name`` on the same client (no I/O)."""
        return EtcdUser(self.client, name)

    def role(self, name: str) -> EtcdRole:
        """An :class:`EtcdRole` for ``name`` on the same client (no I/O)."""
        return EtcdRole(self.client, name)

    # python-etcd / aio_etcd 0.4 spellings
    async def get_active(self) -> bool:
        """The same as :meth:`is_enabled` (the 2018 aio_etcd name)."""
        return await self.is_enabled()

    async def set_active(self, value: bool) -> None:
        """:meth:`enable` if ``value`` is true, else :meth:`disable` (the 2018 aio_etcd name)."""
        await self._switch(bool(value))

    def __repr__(self) -> str:
        return f"<aio_etcd.auth.Auth of {self.client!r}>"


# -- users and roles --------------------------------------------------------------------------

_T = TypeVar("_T", bound=Hashable)


class _Entity(Generic[_T]):
    """What users and roles share: a name, a set of items (roles, or permissions)
    edited locally and sent by :meth:`write` or by awaiting a grant/revoke."""

    entity: ClassVar[str] = ""

    def __init__(self, client: Client, name: str | None = None) -> None:
        #: The client requests go through.
        self.client = client
        self._name = _check_name(self.entity, name)
        self._items: set[_T] = set()
        # Whether _items is the whole truth (read from etcd, or assigned as a
        # whole), or only what was added to an object never read; for the
        # latter, _revokes holds what was taken away.
        self._known = False
        self._revokes: set[_T] = set()

    @property
    def name(self) -> str:
        """The user's or role's name (a non-empty str, or :class:`~aio_etcd.EtcdValueError`)."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = _check_name(self.entity, value)

    # -- what a subclass says ------------------------------------------------------------

    def _parse(self, data: Mapping[str, Any]) -> set[_T]:
        raise NotImplementedError

    def _create_body(self) -> dict[str, Any]:
        raise NotImplementedError

    def _encode(self, items: Iterable[_T]) -> Any:
        """Items in the form etcd's ``grant``/``revoke`` fields take."""
        raise NotImplementedError

    def _delta_body(self, grant: set[_T], revoke: set[_T]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if grant:
            body["grant"] = self._encode(grant)
        if revoke:
            body["revoke"] = self._encode(revoke)
        return body

    async def _before_grant(self, grant: set[_T]) -> None:
        """Checks before items are granted (a user's roles must exist)."""

    def _update_body(self) -> dict[str, Any]:
        """Fields of an update besides grant/revoke (a user's new password)."""
        return {}

    def _written(self) -> None:
        """Called once etcd took a write."""

    def _missing(self, exc: EtcdKeyNotFound) -> bool:
        """Whether a 404 on this object's URL means the object itself does not exist."""
        return True

    # -- state -------------------------------------------------------------------------------

    def _load(self, data: Mapping[str, Any]) -> None:
        self._assign(self._parse(data))

    def _assign(self, items: Iterable[_T]) -> None:
        self._items = set(items)
        self._known = True
        self._revokes.clear()

    def _change(self, add: set[_T], remove: set[_T]) -> Awaitable[None]:
        """Edit the items now; the awaitable sends the same edit to etcd."""
        before = {item: (item in self._items, item in self._revokes) for item in add | remove}
        self._items |= add
        self._revokes -= add
        self._items -= remove
        self._revokes |= remove

        def undo() -> None:
            for item, (in_items, in_revokes) in before.items():
                for target, was_in in ((self._items, in_items), (self._revokes, in_revokes)):
                    if was_in:
                        target.add(item)
                    else:
                        target.discard(item)

        async def send() -> None:
            try:
                current = self._parse(await self._get())
                grant, revoke = add - current, remove & current
                if grant:
                    await self._before_grant(grant)
                if grant or revoke:
                    await self._put(self._delta_body(grant, revoke))
                    log.debug("updated %s %r", self.entity, self.name)
            except BaseException:
                undo()
                raise
            self._revokes -= remove

        return _Change(send)

    # -- requests ----------------------------------------------------------------------------

    @property
    def uri(self) -> str:
        """The path of this user or role (``/v2/auth/users/<name>``)."""
        return f"{self.client.version_prefix}/auth/{self.entity}s/{quote(self.name, safe='')}"

    async def _get(self) -> Mapping[str, Any]:
        answer = await _call(self.client, "GET", self.uri)
        if not isinstance(answer, Mapping):
            raise EtcdException(f"unexpected answer from GET {self.uri}: {answer!r}")
        return answer

    async def _get_or_none(self) -> Mapping[str, Any] | None:
        try:
            return await self._get()
        except EtcdKeyNotFound as exc:
            if self._missing(exc):
                return None
            raise

    async def _put(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        answer = await _call(self.client, "PUT", self.uri, {self.entity: self.name, **body})
        if not isinstance(answer, Mapping):
            raise EtcdException(f"unexpected answer from PUT {self.uri}: {answer!r}")
        return answer

    async def read(self) -> None:
        """Load the current state from etcd, dropping local edits not written.

        :raises EtcdKeyNotFound: there is no such user or role.
        """
        self._load(await self._get())

    async def write(self) -> None:
        """Create it in etcd, or bring etcd to this object's state.

        After :meth:`read` (or assigning ``roles`` or ``acls`` as a whole) the
        object's state is the target: what etcd has beyond it is revoked.
        Without, only the edits made to the object (``grant``, ``revoke``)
        are applied, and the rest stays as etcd has it.
        """
        current = await self._get_or_none()
        if current is None:
            body = self._create_body()
            if self._items:
                await self._before_grant(set(self._items))
            answer = await self._put(body)
            log.debug("created %s %r", self.entity, self.name)
        else:
            existing = self._parse(current)
            target = self._items if self._known else (existing | self._items) - self._revokes
            grant, revoke = target - existing, existing - target
            body = {**self._update_body(), **self._delta_body(grant, revoke)}
            if not body:
                self._assign(existing)
                return
            if grant:
                await self._before_grant(grant)
            answer = await self._put(body)
            log.debug("updated %s %r", self.entity, self.name)
        self._written()
        self._load(answer)

    async def delete(self) -> None:
        """Delete it from etcd.

        :raises EtcdKeyNotFound: there is no such user or role.
        """
        await _call(self.client, "DELETE", self.uri)
        log.debug("deleted %s %r", self.entity, self.name)

    async def exists(self) -> bool:
        """Whether etcd knows it."""
        return await self._get_or_none() is not None

    async def get_names(self) -> list[str]:
        """The names of every user (for a user) or role (for a role); the 2018 aio_etcd call."""
        auth = Auth(self.client)
        return await (auth.users() if self.entity == "user" else auth.roles())


class EtcdUser(_Entity[str]):
    """A user of etcd's auth system.

    Building one does no I/O; :meth:`read` loads it, :meth:`write` creates or
    updates it. The password is write-only: set :attr:`password` and call
    :meth:`write`, or call :meth:`change_password`.

    :param client: the client to talk through.
    :param name: the user's name.
    """

    entity: ClassVar[str] = "user"

    def __init__(self, client: Client, name: str | None = None) -> None:
        super().__init__(client, name)
        self._password: str | None = None

    @classmethod
    def new(cls, client: Client, data: Mapping[str, Any]) -> EtcdUser:
        """A user built from etcd's JSON for it (``{"user": ..., "roles": [...]}``)."""
        user = cls(client, data.get("user"))
        user._load(data)
        return user

    def _parse(self, data: Mapping[str, Any]) -> set[str]:
        return set(_names(data.get("roles"), "role"))

    def _create_body(self) -> dict[str, Any]:
        if self._password is None:
            raise ValueError(f"user {self.name!r} does not exist yet: set its password before write()")
        return {"password": self._password, "roles": sorted(self._items)}

    def _update_body(self) -> dict[str, Any]:
        return {} if self._password is None else {"password": self._password}

    def _encode(self, items: Iterable[str]) -> list[str]:
        return sorted(items)

    def _written(self) -> None:
        self._password = None

    def _missing(self, exc: EtcdKeyNotFound) -> bool:
        # etcd answers 404 "Role x does not exist" for a user holding a role
        # that was deleted behind its back: that user does exist.
        return "auth: role " not in str(exc).lower()

    async def _before_grant(self, grant: set[str]) -> None:
        # etcd accepts unknown role names, and then cannot read the user.
        for role in sorted(grant):
            if not await EtcdRole(self.client, role).exists():
                raise EtcdKeyNotFound(
                    f"role {role!r} does not exist: create it (EtcdRole(client, {role!r}).write()) "
                    f"before granting it to user {self.name!r}",
                    {"errorCode": 100, "message": f"role {role} does not exist"},
                )

    @property
    def roles(self) -> set[str]:
        """The names of the user's roles: as last read or written, with local edits.

        Assign a new set and :meth:`write` to grant and revoke the difference.
        """
        return self._items

    @roles.setter
    def roles(self, roles: Iterable[str | Mapping[str, Any]]) -> None:
        if isinstance(roles, str):
            raise TypeError("roles is a collection of role names, not one str")
        self._assign(_check_name("role", role) for role in _names(roles, "role"))

    @property
    def password(self) -> None:
        """Write-only: reading it gives ``None``. A new value is sent by :meth:`write`."""
        return None

    @password.setter
    def password(self, password: str) -> None:
        self._password = _check_password(password)

    async def write(self) -> None:
        """Create the user, or update its roles and password.

        A new user needs a :attr:`password`. The roles granted must exist:
        etcd itself accepts unknown names, and then fails to read the user.
        The password is forgotten once etcd took it.

        :raises EtcdKeyNotFound: a role to grant does not exist.
        :raises ValueError: a new user without a password.
        """
        await super().write()

    def grant(self, *roles: str) -> Awaitable[None]:
        """Add roles to the user.

        Calling it adds them to :attr:`roles` (for :meth:`write`); awaiting
        it also grants them in etcd at once. Roles the user already has are
        left alone.

        :raises EtcdKeyNotFound: (when awaited) the user or a role does not exist.
        """
        return self._change({_check_name("role", role) for role in roles}, set())

    def revoke(self, *roles: str) -> Awaitable[None]:
        """Take roles from the user.

        Calling it removes them from :attr:`roles` (for :meth:`write`);
        awaiting it also revokes them in etcd at once. Roles the user does
        not have are ignored.

        :raises EtcdKeyNotFound: (when awaited) the user does not exist.
        """
        return self._change(set(), {_check_name("role", role) for role in roles})

    async def change_password(self, password: str) -> None:
        """Set a new password at once.

        A :class:`~aio_etcd.Client` logged in as this user keeps sending the
        old one: build a new client with the new password.

        :raises EtcdKeyNotFound: the user does not exist (:meth:`write` creates users).
        """
        password = _check_password(password)
        await self._get()
        await self._put({"password": password})
        log.debug("changed the password of user %r", self.name)

    def __repr__(self) -> str:
        return f"<aio_etcd.auth.EtcdUser {self.name!r} roles={sorted(self._items)!r}>"


def _check_password(password: str) -> str:
    if not isinstance(password, str) or not password:
        raise ValueError("a password is a non-empty str")
    return password


def _letters(permission: str) -> frozenset[str]:
    letters = frozenset(permission.upper()) if isinstance(permission, str) else frozenset()
    if not letters or not letters <= _PERMISSION_LETTERS:
        raise ValueError(f"a permission is 'R', 'W' or 'RW', not {permission!r}")
    return letters


def _kv(items: Iterable[tuple[str, str]]) -> dict[str, dict[str, list[str]]]:
    items = set(items)
    return {
        "kv": {
            "read": sorted(pattern for letter, pattern in items if letter == "R"),
            "write": sorted(pattern for letter, pattern in items if letter == "W"),
        }
    }


class EtcdRole(_Entity[tuple[str, str]]):
    """A role: the key patterns its users may read and write.

    A pattern is a key (``/app/config``) or a prefix ending in ``*``
    (``/app/*`` covers every key below ``/app``, not ``/app`` itself).
    Building one does no I/O; :meth:`read` loads it, :meth:`write` creates
    or updates it.

    The ``root`` role is built in and cannot be changed. The ``guest`` role
    holds the permissions of anonymous clients while auth is enabled.

    :param client: the client to talk through.
    :param name: the role's name.
    """

    entity: ClassVar[str] = "role"

    @classmethod
    def new(cls, client: Client, data: Mapping[str, Any]) -> EtcdRole:
        """A role built from etcd's JSON for it (``{"role": ..., "permissions": ...}``)."""
        role = cls(client, data.get("role"))
        role._load(data)
        return role

    def _parse(self, data: Mapping[str, Any]) -> set[tuple[str, str]]:
        permissions = data.get("permissions")
        kv = permissions.get("kv") if isinstance(permissions, Mapping) else None
        if not isinstance(kv, Mapping):
            return set()
        return {("R", str(p)) for p in kv.get("read") or ()} | {("W", str(p)) for p in kv.get("write") or ()}

    def _create_body(self) -> dict[str, Any]:
        return {"permissions": _kv(self._items)}

    def _encode(self, items: Iterable[tuple[str, str]]) -> dict[str, dict[str, list[str]]]:
        return _kv(items)

    def _patterns(self, letter: str) -> frozenset[str]:
        return frozenset(pattern for kind, pattern in self._items if kind == letter)

    @property
    def read_permissions(self) -> frozenset[str]:
        """The key patterns the role may read (change them with :meth:`grant`, :meth:`revoke` or :attr:`acls`)."""
        return self._patterns("R")

    @property
    def write_permissions(self) -> frozenset[str]:
        """The key patterns the role may write (change them with :meth:`grant`, :meth:`revoke` or :attr:`acls`)."""
        return self._patterns("W")

    @property
    def acls(self) -> dict[str, str]:
        """The permissions by pattern: ``{"/app/*": "RW", "/config": "R"}``.

        Assign a new mapping and :meth:`write` to replace them.
        """
        read, write = self._patterns("R"), self._patterns("W")
        return {p: ("R" if p in read else "") + ("W" if p in write else "") for p in sorted(read | write)}

    @acls.setter
    def acls(self, acls: Mapping[str, str]) -> None:
        if not isinstance(acls, Mapping):
            raise TypeError("acls is a mapping of key pattern to 'R', 'W' or 'RW'")
        self._assign((letter, pattern) for pattern, permission in acls.items() for letter in _letters(permission))

    async def write(self) -> None:
        """Create the role, or grant and revoke what differs from this object's permissions.

        :raises EtcdValueError: the role is ``root``, which cannot be changed.
        """
        await super().write()

    def grant(self, pattern: str, permission: str) -> Awaitable[None]:
        """Allow reading (``"R"``), writing (``"W"``) or both (``"RW"``) keys matching ``pattern``.

        Calling it changes :attr:`acls` (for :meth:`write`); awaiting it also
        grants the permission in etcd at once. What the role already has is
        left alone.

        :raises EtcdKeyNotFound: (when awaited) the role does not exist.
        """
        return self._change({(letter, pattern) for letter in _letters(permission)}, set())

    def revoke(self, pattern: str, permission: str = "RW") -> Awaitable[None]:
        """Take away reading (``"R"``), writing (``"W"``) or both (``"RW"``, the default) of ``pattern``.

        Calling it changes :attr:`acls` (for :meth:`write`); awaiting it also
        revokes the permission in etcd at once. What the role does not have
        is ignored.

        :raises EtcdKeyNotFound: (when awaited) the role does not exist.
        """
        return self._change(set(), {(letter, pattern) for letter in _letters(permission)})

    async def delete(self) -> None:
        """Delete the role, and revoke it from every user who had it.

        (etcd itself leaves a deleted role on its users, and then cannot
        read those users.)

        :raises EtcdKeyNotFound: there is no such role.
        :raises EtcdValueError: the role is ``root``.
        """
        answer = await _call(self.client, "GET", self.client.version_prefix + "/auth/users")
        users = answer.get("users") if isinstance(answer, Mapping) else None
        holders = [
            str(data.get("user"))
            for data in users or ()
            if isinstance(data, Mapping) and self.name in _names(data.get("roles"), "role")
        ]
        await super().delete()
        for holder in holders:
            # Not EtcdUser.revoke(): etcd cannot read the user while it holds the deleted role.
            user = EtcdUser(self.client, holder)
            with contextlib.suppress(EtcdKeyNotFound):  # the user was deleted meanwhile
                await _call(self.client, "PUT", user.uri, {"user": holder, "revoke": [self.name]})

    def __repr__(self) -> str:
        return f"<aio_etcd.auth.EtcdRole {self.name!r} acls={self.acls!r}>"
