"""Users, roles and switching authentication on: ``client.auth``.

Each method is one call to ``/v3/auth/...``. Reads (``user_list``,
``user_get``, ``role_list``, ``role_get``, ``status``) are sent again on
another member when one fails; changes are not (a change whose answer was
lost raises :class:`~aio_etcd.EtcdOutcomeUnknown`).

Permissions are granted on a key, a prefix (``prefix=True``) or a range::

    await etcd.auth.role_grant("reader", "/pub/", prefix=True, perm="read")
"""

from __future__ import annotations

from typing import Any, Protocol

from .txn import key_range

__all__ = ["Auth", "AuthClient"]

_PERMS = {"read": "READ", "write": "WRITE", "readwrite": "READWRITE"}


class AuthClient(Protocol):
    """What :class:`Auth` uses of its :class:`~aio_etcd.v3.Client`."""

    async def call(
        self, path: str, request: dict[str, Any], *, safe: bool | None = ..., op: str = ...
    ) -> dict[str, Any]: ...


class Auth:
    """The auth API of a :class:`~aio_etcd.v3.Client` (``client.auth``)."""

    def __init__(self, client: AuthClient) -> None:
        self._client = client

    async def _change(self, path: str, request: dict[str, Any], op: str) -> dict[str, Any]:
        return await self._client.call("/v3/auth/" + path, request, safe=False, op=op)

    async def _read(self, path: str, request: dict[str, Any], op: str) -> dict[str, Any]:
        return await self._client.call("/v3/auth/" + path, request, safe=True, op=op)

    async def enable(self) -> None:
        """Switch authentication on (a ``root`` user with the ``root`` role must exist)."""
        await self._change("enable", {}, "auth enable")

    async def disable(self) -> None:
        """Switch authentication off (as ``root``)."""
        await self._change("disable", {}, "auth disable")

    async def status(self) -> bool:
        """Whether authentication is on."""
        return bool((await self._read("status", {}, "auth status")).get("enabled"))

    async def user_add(self, name: str, password: str | None = None) -> None:
        """Add a user; without a password it can only be used with a client certificate."""
        request: dict[str, Any] = {"name": name}
        if password is None:
            request["options"] = {"no_password": True}
        else:
            request["password"] = password
        await self._change("user/add", request, f"user add {name!r}")

    async def user_delete(self, name: str) -> None:
        """Delete a user."""
        await self._change("user/delete", {"name": name}, f"user delete {name!r}")

    async def user_change_password(self, name: str, password: str) -> None:
        """Change a user's password (tokens of the user stop working)."""
        await self._change("user/changepw", {"name": name, "password": password}, f"user passwd {name!r}")

    async def user_grant(self, user: str, role: str) -> None:
        """Give a user a role."""
        await self._change("user/grant", {"user": user, "role": role}, f"user grant {user!r}")

    async def user_revoke(self, user: str, role: str) -> None:
        """Take a role from a user."""
        await self._change("user/revoke", {"name": user, "role": role}, f"user revoke {user!r}")

    async def user_get(self, name: str) -> list[str]:
        """The roles of a user."""
        return [str(r) for r in (await self._read("user/get", {"name": name}, f"user get {name!r}")).get("roles", ())]

    async def user_list(self) -> list[str]:
        """Every user name."""
        return [str(u) for u in (await self._read("user/list", {}, "user list")).get("users", ())]

    async def role_add(self, name: str) -> None:
        """Add a role."""
        await self._change("role/add", {"name": name}, f"role add {name!r}")

    async def role_delete(self, name: str) -> None:
        """Delete a role."""
        await self._change("role/delete", {"role": name}, f"role delete {name!r}")

    async def role_grant(
        self,
        role: str,
        key: str | bytes,
        *,
        prefix: bool = False,
        range_end: str | bytes | None = None,
        perm: str = "readwrite",
    ) -> None:
        """Let ``role`` read, write or both (``perm``) a key, a prefix or a range."""
        try:
            perm_type = _PERMS[perm.lower()]
        except KeyError:
            raise ValueError(f"perm is 'read', 'write' or 'readwrite', not {perm!r}") from None
        permission = {"permType": perm_type, **key_range(key, prefix, range_end)}
        await self._change("role/grant", {"name": role, "perm": permission}, f"role grant {role!r}")

    async def role_revoke(
        self, role: str, key: str | bytes, *, prefix: bool = False, range_end: str | bytes | None = None
    ) -> None:
        """Take back a permission granted on exactly this key or range."""
        fields = key_range(key, prefix, range_end)
        request = {"role": role, "key": fields["key"], "range_end": fields.get("range_end", "")}
        await self._change("role/revoke", request, f"role revoke {role!r}")

    async def role_get(self, name: str) -> list[dict[str, Any]]:
        """A role's permissions: ``{"perm": "READ", "key": bytes, "range_end": bytes}`` each."""
        import base64

        answer = await self._read("role/get", {"role": name}, f"role get {name!r}")
        return [
            {
                "perm": str(p.get("permType") or "READ"),
                "key": base64.b64decode(p.get("key", "")),
                "range_end": base64.b64decode(p.get("range_end", "")),
            }
            for p in answer.get("perm", ())
        ]

    async def role_list(self) -> list[str]:
        """Every role name."""
        return [str(r) for r in (await self._read("role/list", {}, "role list")).get("roles", ())]
