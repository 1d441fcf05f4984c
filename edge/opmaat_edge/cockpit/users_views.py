"""The users page (admins): add a user with a role and a password, change a role, give a new
password (their sessions end), remove a user. Every change goes into the audit log."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from opmaat_edge.cockpit import pages
from opmaat_edge.cockpit.access import Caller, cockpit_access, guarded
from opmaat_edge.cockpit.audit import record_or_log
from opmaat_edge.cockpit.auth import hash_password
from opmaat_edge.cockpit.users import (
    ROLES,
    UserError,
    add_user,
    change_password,
    change_role,
    check_password,
    new_user,
    remove_user,
    user_name,
)


async def _page(
    request: Request,
    caller: Caller,
    errors: dict[str, str] | None = None,
    status: int = 200,
    typed: dict[str, str] | None = None,
) -> Response:
    users = await caller.ledger.users()
    return pages.page(
        request,
        "users.html",
        {
            "csrf": caller.csrf,
            "who": caller.who,
            "users": sorted(users.values(), key=lambda u: u.name),
            "roles": ROLES,
            "errors": errors or {},
            "typed": typed or {},
            "done": request.query_params.get("done", "")[:200],
            "shared": cockpit_access(request).passwords is not None,
            "where": caller.ledger.where,
        },
        status=status,
    )


async def _list(request: Request, caller: Caller) -> Response:
    return await _page(request, caller)


def _done(what: str) -> Response:
    return RedirectResponse(f"/cockpit/users?{urlencode({'done': what})}", status_code=303)


async def _add(request: Request, caller: Caller) -> Response:
    name, role = caller.field("name"), caller.field("role")
    password = caller.field("password")
    typed = {"name": name[:100], "role": role}
    try:
        user = await run_in_threadpool(new_user, name, role, password, caller.who.shown)
        await add_user(caller.ledger, user)
    except UserError as exc:
        return await _page(request, caller, {"add": str(exc)}, 400, typed)
    cockpit_access(request).forget_users()
    await record_or_log(
        caller.ledger, caller.who.shown, "user add", user.name, f"added {user.name} as {user.role}"
    )
    return _done(f"{user.name} added as {user.role}")


def _target(request: Request, caller: Caller) -> str:
    try:
        name = user_name(request.path_params["name"])
    except UserError:
        name = ""
    if name and name == caller.who.name and not caller.who.shared:
        raise UserError("you cannot change or remove yourself here: ask another admin")
    return name


async def _change(request: Request, caller: Caller) -> Response:
    what: dict[str, Any] = {}
    try:
        name = _target(request, caller)
        if caller.field("role"):
            user = await change_role(caller.ledger, name, caller.field("role"), caller.who.shown)
            what = {"action": "user role", "summary": f"made {name} {user.role}"}
        elif caller.field("password"):
            password = check_password(caller.field("password"))
            hashed = await run_in_threadpool(hash_password, password)
            await change_password(caller.ledger, name, hashed, caller.who.shown)
            what = {"action": "user password", "summary": f"gave {name} a new password"}
        else:
            raise UserError("give a role or a new password")
    except UserError as exc:
        return await _page(request, caller, {request.path_params["name"][:64]: str(exc)}, 400)
    cockpit_access(request).forget_users()
    await record_or_log(caller.ledger, caller.who.shown, what["action"], name, what["summary"])
    return _done(what["summary"])


async def _remove(request: Request, caller: Caller) -> Response:
    try:
        name = _target(request, caller)
        await remove_user(caller.ledger, name)
    except UserError as exc:
        return await _page(request, caller, {request.path_params["name"][:64]: str(exc)}, 400)
    cockpit_access(request).forget_users()
    await record_or_log(caller.ledger, caller.who.shown, "user remove", name, f"removed {name}")
    return _done(f"{name} removed")


routes: list[BaseRoute] = [
    Route("/cockpit/users", guarded(_list, "admin"), methods=["GET"]),
    Route("/cockpit/users", guarded(_add, "admin"), methods=["POST"]),
    Route("/cockpit/users/{name}", guarded(_change, "admin"), methods=["POST"]),
    Route("/cockpit/users/{name}/remove", guarded(_remove, "admin"), methods=["POST"]),
]
