"""Users, roles and enabling auth (aio_etcd.auth), against a real etcd.

Auth is global to a server, so these tests run on an etcd of their own (one
per module), and every test leaves it as it found it: auth off, no users, no
roles but ``root``.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator

import pytest

import aio_etcd as etcd
from aio_etcd.auth import Auth, EtcdRole, EtcdUser
from aio_etcd.testing import EtcdCluster

ROOT_PW = "root-pw-Kq81zT"
ALICE_PW = "alice-pw-Vx93bQ"
WRONG_PW = "wrong-pw-Lm27cR"


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
async def anon(auth_server: EtcdCluster) -> AsyncIterator[etcd.Client]:
    async with auth_server.client() as client:
        yield client


@pytest.fixture
async def root(auth_server: EtcdCluster) -> AsyncIterator[etcd.Client]:
    async with auth_server.client(username="root", password=ROOT_PW) as client:
        yield client


@pytest.fixture(autouse=True)
async def _pristine(auth_server: EtcdCluster) -> AsyncIterator[None]:
    """Put the server back as it started: auth off, no users, only the root role."""
    yield
    async with auth_server.client(username="root", password=ROOT_PW) as client:
        if await Auth(client).is_enabled():
            await Auth(client).disable()
    async with auth_server.client() as client:
        auth = Auth(client)
        assert not await auth.is_enabled()
        for name in await auth.users():
            await EtcdUser(client, name).delete()
        for name in await auth.roles():
            if name != "root":
                await EtcdRole(client, name).delete()
        if await client.contains("/app"):
            await client.delete("/app", recursive=True, dir=True)


async def _setup_app_user(client: etcd.Client) -> None:
    """Role ``app`` (read/write ``/app/*``), user ``alice`` with it, and ``root``."""
    role = EtcdRole(client, "app")
    role.grant("/app/*", "RW")
    await role.write()
    alice = EtcdUser(client, "alice")
    alice.password = ALICE_PW
    alice.roles = {"app"}
    await alice.write()
    root_user = EtcdUser(client, "root")
    root_user.password = ROOT_PW
    await root_user.write()


async def _enable(server: EtcdCluster) -> None:
    async with server.client() as client:
        await _setup_app_user(client)
        await Auth(client).enable()


# -- lifecycle (auth off: no credentials needed) ---------------------------------------------


async def test_role_lifecycle(anon: etcd.Client) -> None:
    auth = Auth(anon)
    assert await auth.roles() == ["root"]

    role = EtcdRole(anon, "app")
    assert not await role.exists()
    role.grant("/app/*", "RW")
    role.grant("/shared", "r")
    assert role.acls == {"/app/*": "RW", "/shared": "R"}  # edited, not sent yet
    assert await auth.roles() == ["root"]
    await role.write()
    assert sorted(await auth.roles()) == ["app", "root"]

    loaded = EtcdRole(anon, "app")
    await loaded.read()
    assert loaded.acls == {"/app/*": "RW", "/shared": "R"}
    assert loaded.read_permissions == {"/app/*", "/shared"}
    assert loaded.write_permissions == {"/app/*"}

    # Assigning acls as a whole, then write(): the difference is granted and revoked.
    loaded.acls = {"/app/*": "R", "/logs/*": "W"}
    await loaded.write()
    again = EtcdRole(anon, "app")
    await again.read()
    assert again.acls == {"/app/*": "R", "/logs/*": "W"}

    # Awaited grant/revoke act at once, and are idempotent.
    await again.grant("/x", "RW")
    await again.grant("/x", "W")
    await again.revoke("/logs/*", "W")
    await again.revoke("/never-granted", "R")
    fresh = EtcdRole(anon, "app")
    await fresh.read()
    assert fresh.acls == {"/app/*": "R", "/x": "RW"}
    assert again.acls == fresh.acls

    # An object never read applies only its own edits on write().
    partial = EtcdRole(anon, "app")
    partial.revoke("/x", "R")
    await partial.write()
    await fresh.read()
    assert fresh.acls == {"/app/*": "R", "/x": "W"}

    with pytest.raises(ValueError, match="permission"):
        fresh.grant("/y", "X")

    await fresh.delete()
    assert await auth.roles() == ["root"]
    with pytest.raises(etcd.EtcdKeyNotFound, match="app"):
        await EtcdRole(anon, "app").read()
    with pytest.raises(etcd.EtcdKeyNotFound):
        await EtcdRole(anon, "app").delete()
    with pytest.raises(etcd.EtcdKeyNotFound):
        await EtcdRole(anon, "app").grant("/z", "R")


async def test_root_role_cannot_change(anon: etcd.Client) -> None:
    admin = EtcdUser(anon, "admin")
    admin.password = ROOT_PW
    admin.roles = {"root"}
    await admin.write()

    role = EtcdRole(anon, "root")
    await role.read()
    assert role.acls == {"/*": "RW"}
    with pytest.raises(etcd.EtcdValueError, match="root"):
        await role.grant("/extra", "R")
    assert role.acls == {"/*": "RW"}  # the refused edit was undone
    with pytest.raises(etcd.EtcdValueError, match="root"):
        await role.delete()
    # The refused delete took the role from nobody.
    await admin.read()
    assert admin.roles == {"root"}


async def test_missing_or_empty_names_are_etcd_errors(anon: etcd.Client) -> None:
    for cls in (EtcdUser, EtcdRole):
        with pytest.raises(etcd.EtcdValueError, match="name"):
            cls(anon)
        with pytest.raises(etcd.EtcdValueError, match="name"):
            cls(anon, "")
        entity = cls(anon, "named")
        with pytest.raises(etcd.EtcdValueError, match="name"):
            entity.name = ""
        assert entity.name == "named"
    with pytest.raises(etcd.EtcdException):
        EtcdUser.new(anon, {"roles": []})
    user = EtcdUser(anon, "x")
    with pytest.raises(etcd.EtcdValueError):
        user.grant("")
    assert await Auth(anon).users() == []  # nothing was sent


async def test_user_lifecycle(anon: etcd.Client) -> None:
    auth = Auth(anon)
    assert await auth.users() == []
    for name in ("app", "ops"):
        await EtcdRole(anon, name).write()

    alice = EtcdUser(anon, "alice")
    alice.roles = {"app"}
    with pytest.raises(ValueError, match="password"):
        await alice.write()  # a new user needs a password
    alice.password = ALICE_PW
    assert alice.password is None  # write-only
    await alice.write()
    assert await auth.users() == ["alice"]
    assert ALICE_PW not in repr(alice)

    loaded = auth.user("alice")
    await loaded.read()
    assert loaded.roles == {"app"}
    with pytest.raises(TypeError):
        loaded.roles = "app"  # a str is not a set of names

    await loaded.grant("ops")
    await loaded.grant("ops")  # already there: nothing to do
    assert loaded.roles == {"app", "ops"}
    await loaded.revoke("app", "never-had")
    fresh = EtcdUser(anon, "alice")
    await fresh.read()
    assert fresh.roles == {"ops"}

    # etcd would accept an unknown role and then fail to read the user: refused first.
    with pytest.raises(etcd.EtcdKeyNotFound, match="nosuch"):
        await fresh.grant("nosuch")
    assert fresh.roles == {"ops"}
    fresh.roles = {"ops", "nosuch"}
    with pytest.raises(etcd.EtcdKeyNotFound, match="nosuch"):
        await fresh.write()
    await fresh.read()
    assert fresh.roles == {"ops"}

    # An object never read applies only its own edits on write().
    partial = EtcdUser(anon, "alice")
    partial.grant("app")
    await partial.write()
    await fresh.read()
    assert fresh.roles == {"app", "ops"}

    # Assigning roles as a whole, then write(), revokes the rest.
    fresh.roles = {"app"}
    await fresh.write()
    await loaded.read()
    assert loaded.roles == {"app"}

    # Deleting a role takes it from its users (etcd alone would leave alice unreadable).
    await EtcdRole(anon, "app").delete()
    await loaded.read()
    assert loaded.roles == set()

    with pytest.raises(etcd.EtcdKeyNotFound, match="bob"):
        await EtcdUser(anon, "bob").read()
    with pytest.raises(etcd.EtcdKeyNotFound):
        await EtcdUser(anon, "bob").change_password("whatever")
    assert await auth.users() == ["alice"]  # change_password did not create bob

    await loaded.delete()
    assert await auth.users() == []
    with pytest.raises(etcd.EtcdKeyNotFound):
        await loaded.delete()


# -- enabling ----------------------------------------------------------------------------------


async def test_enable_needs_root_user_then_root_credentials(auth_server: EtcdCluster, anon: etcd.Client) -> None:
    auth = Auth(anon)
    assert await auth.enabled is False
    with pytest.raises(etcd.EtcdValueError, match="root user"):
        await auth.enable()
    assert not await auth.is_enabled()

    await _setup_app_user(anon)
    await auth.enable()
    assert await auth.enabled is True
    await auth.enable()  # already on: harmless, even without credentials

    # Administration now needs root credentials.
    with pytest.raises(etcd.EtcdInsufficientPermissions, match="root role"):
        await auth.users()
    with pytest.raises(etcd.EtcdInsufficientPermissions):
        await auth.disable()
    async with auth_server.client(username="alice", password=ALICE_PW) as alice:
        with pytest.raises(etcd.EtcdInsufficientPermissions):
            await Auth(alice).users()
        with pytest.raises(etcd.EtcdInsufficientPermissions):
            await EtcdUser(alice, "alice").change_password("new-pw")
    async with auth_server.client(username="root", password=WRONG_PW) as impostor:
        with pytest.raises(etcd.EtcdInsufficientPermissions):
            await Auth(impostor).users()
    assert await auth.is_enabled()

    async with auth_server.client(username="root", password=ROOT_PW) as root:
        root_auth = Auth(root)
        assert sorted(await root_auth.users()) == ["alice", "root"]
        # etcd made the guest role on enabling.
        assert sorted(await root_auth.roles()) == ["app", "guest", "root"]
        await root_auth.disable()
        assert not await root_auth.is_enabled()
        await root_auth.disable()  # already off: harmless
    assert sorted(await auth.users()) == ["alice", "root"]  # anonymous works again


async def test_set_active_and_get_active(auth_server: EtcdCluster, root: etcd.Client) -> None:
    await _setup_app_user(root)
    auth = Auth(root)
    await auth.set_active(True)
    assert await auth.get_active() is True
    await auth.set_active(False)
    assert await auth.get_active() is False
    assert sorted(await EtcdUser(root, "x").get_names()) == ["alice", "root"]
    assert sorted(await EtcdRole(root, "x").get_names()) == ["app", "guest", "root"]


# -- permissions -------------------------------------------------------------------------------


async def test_role_limits_user_to_its_keys(auth_server: EtcdCluster) -> None:
    await _enable(auth_server)
    async with auth_server.client(username="alice", password=ALICE_PW) as alice:
        await alice.write("/app/config", "on")
        await alice.write("/app/deep/er", "yes")
        assert (await alice.read("/app/config")).value == "on"
        with pytest.raises(etcd.EtcdInsufficientPermissions):
            await alice.write("/other", "x")
        with pytest.raises(etcd.EtcdInsufficientPermissions):
            await alice.read("/other")
        with pytest.raises(etcd.EtcdInsufficientPermissions):
            await alice.delete("/other")
    async with auth_server.client(username="root", password=ROOT_PW) as root:
        await root.write("/other", "root may")
        assert (await root.read("/app/config")).value == "on"
        await root.delete("/other")


async def test_change_password(auth_server: EtcdCluster) -> None:
    await _enable(auth_server)
    async with auth_server.client(username="root", password=ROOT_PW) as root:
        await EtcdUser(root, "alice").change_password("brand-new-pw")
        await EtcdRole(root, "guest").revoke("/*", "RW")
    async with auth_server.client(username="alice", password=ALICE_PW) as old:
        with pytest.raises(etcd.EtcdInsufficientPermissions):
            await old.write("/app/k", "v")
    async with auth_server.client(username="alice", password="brand-new-pw") as new:
        await new.write("/app/k", "v")


async def test_guest_role_governs_anonymous_access(auth_server: EtcdCluster, anon: etcd.Client) -> None:
    await _enable(auth_server)
    # etcd creates "guest" with read and write on every key: anonymous clients
    # keep full key access (not auth administration) until it is restricted.
    await anon.write("/app/public", "1")
    await anon.write("/elsewhere", "1")
    assert (await anon.read("/elsewhere")).value == "1"
    async with auth_server.client(username="root", password=ROOT_PW) as root:
        guest = EtcdRole(root, "guest")
        await guest.read()
        assert guest.acls == {"/*": "RW"}
        await guest.revoke("/*", "W")
        assert guest.acls == {"/*": "R"}

    with pytest.raises(etcd.EtcdInsufficientPermissions):
        await anon.write("/elsewhere", "2")
    with pytest.raises(etcd.EtcdInsufficientPermissions):
        await anon.delete("/elsewhere")
    assert (await anon.read("/elsewhere")).value == "1"  # reading is still allowed

    # Wrong credentials are refused, not downgraded to guest: even a key guest may read.
    async with auth_server.client(username="alice", password=WRONG_PW) as wrong:
        with pytest.raises(etcd.EtcdInsufficientPermissions):
            await wrong.read("/elsewhere")
    async with auth_server.client(username="nobody", password=WRONG_PW) as unknown:
        with pytest.raises(etcd.EtcdInsufficientPermissions):
            await unknown.read("/elsewhere")

    async with auth_server.client(username="root", password=ROOT_PW) as root:
        await Auth(root).disable()
    await anon.write("/elsewhere", "3")  # auth off: guest no longer applies
    await anon.delete("/elsewhere")


# -- what errors and logs say ------------------------------------------------------------------


async def _restrict_guest(server: EtcdCluster) -> None:
    async with server.client(username="root", password=ROOT_PW) as root:
        await EtcdRole(root, "guest").revoke("/*", "RW")
        await root.write("/app/secret", "s")


@pytest.mark.parametrize("username, password", [("alice", WRONG_PW), (None, None)], ids=["wrong", "missing"])
async def test_refused_credentials_name_the_key_not_the_password(
    auth_server: EtcdCluster, username: str | None, password: str | None
) -> None:
    await _enable(auth_server)
    await _restrict_guest(auth_server)
    async with auth_server.client(username=username, password=password) as client:
        with pytest.raises(etcd.EtcdInsufficientPermissions) as refused_read:
            await client.read("/app/secret")
        with pytest.raises(etcd.EtcdInsufficientPermissions) as refused_write:
            await client.write("/app/secret", "overwrite")
    for info in (refused_read, refused_write):
        assert info.value.error_code == 110
        assert "/app/secret" in str(info.value)
        for text in (str(info.value), repr(info.value), repr(info.value.payload)):
            assert WRONG_PW not in text
            assert _basic("alice", WRONG_PW) not in text


async def test_passwords_never_in_logs_reprs_or_errors(
    auth_server: EtcdCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, aio_etcd's included
    errors: list[etcd.EtcdException] = []
    async with auth_server.client() as anon:
        await _setup_app_user(anon)
        await EtcdUser(anon, "alice").change_password(ALICE_PW)
        await Auth(anon).enable()
    await _restrict_guest(auth_server)
    async with auth_server.client(username="alice", password=WRONG_PW) as wrong:
        assert WRONG_PW not in repr(wrong)
        with pytest.raises(etcd.EtcdInsufficientPermissions) as refused_key:
            await wrong.write("/app/secret", "x")
        errors.append(refused_key.value)
        with pytest.raises(etcd.EtcdInsufficientPermissions) as refused_admin:
            await EtcdUser(wrong, "alice").change_password(WRONG_PW)
        errors.append(refused_admin.value)
        user = EtcdUser(wrong, "carol")
        user.password = WRONG_PW
        assert WRONG_PW not in repr(user) and WRONG_PW not in str(user)
        with pytest.raises(etcd.EtcdInsufficientPermissions) as refused_create:
            await user.write()
        errors.append(refused_create.value)

    secrets = [ROOT_PW, ALICE_PW, WRONG_PW, _basic("alice", WRONG_PW), _basic("root", ROOT_PW)]
    assert caplog.records, "nothing was logged at DEBUG: the check would prove nothing"
    logged = caplog.text + "".join(repr(r.args) + repr(r.__dict__.get("exc_text")) for r in caplog.records)
    for error in errors:
        text = f"{error}{error!r}{error.payload!r}{error.__cause__!r}{error.__context__!r}"
        for secret in secrets:
            assert secret not in text
    for secret in secrets:
        assert secret not in logged
