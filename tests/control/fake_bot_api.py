"""A fake Telegram Bot API server (stdlib http.server on 127.0.0.1) for driving the real python-telegram-bot.

Serves /bot<TOKEN>/<method> for getMe, getUpdates (offset + long-poll timeout, Telegram's confirm-by-offset
semantics), sendMessage, answerCallbackQuery, editMessageText and setMyCommands; records every call.
A wrong token gets Telegram's 401. Tests queue updates with `add_message` / `add_callback` (or any body,
malformed ones included, with `add_raw`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from tests.loopback import LoopbackHTTP, request_body

BOT_USER = {"id": 999, "is_bot": True, "first_name": "Agent OS", "username": "agentos_bot"}
JSON_FIELDS = (
    "offset",
    "timeout",
    "limit",
    "chat_id",
    "message_id",
    "reply_markup",
    "allowed_updates",
    "commands",
)


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]


class FakeBotApi:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.on_call: Callable[[Call], None] | None = None  # runs before the response is written
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 100
        self._next_message_id = 5000
        self._cond = threading.Condition()
        self._http = LoopbackHTTP(self._handler_class())

    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> FakeBotApi:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    # --- test controls ---------------------------------------------------------------------------------

    def add_message(self, chat_id: int, user_id: int, text: str, username: str = "alice") -> int:
        message = {
            "message_id": self._new_message_id(),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": {"id": user_id, "is_bot": False, "first_name": username.title(), "username": username},
            "text": text,
        }
        return self._add_update({"message": message})

    def add_callback(self, chat_id: int, user_id: int, data: str, message_text: str = "escalated") -> int:
        message = {
            "message_id": self._new_message_id(),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "text": message_text,
        }
        query = {
            "id": f"cb{self._next_update_id}",
            "from": {"id": user_id, "is_bot": False, "first_name": "Alice", "username": "alice"},
            "chat_instance": "ci-1",
            "data": data,
            "message": message,
        }
        return self._add_update({"callback_query": query})

    def add_raw(self, body: dict[str, Any]) -> int:
        """An update with any body, e.g. one python-telegram-bot cannot parse."""
        return self._add_update(body)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [call.params for call in self.calls if call.method == method]

    def pending_update_ids(self) -> list[int]:
        with self._cond:
            return [u["update_id"] for u in self._updates]

    # --- internals ---------------------------------------------------------------------------------------

    def _new_message_id(self) -> int:
        self._next_message_id += 1
        return self._next_message_id

    def _add_update(self, body: dict[str, Any]) -> int:
        with self._cond:
            update_id = self._next_update_id
            self._next_update_id += 1
            self._updates.append({"update_id": update_id, **body})
            self._cond.notify_all()
        return update_id

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = params.get("offset")
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        with self._cond:
            if offset is not None:  # Telegram forgets every update below the offset
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return list(self._updates[: int(params.get("limit") or 100)])

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False}
        if method == "getUpdates":
            return self._get_updates(params)
        if method in ("sendMessage", "editMessageText"):
            message_id = params.get("message_id") or self._new_message_id()
            return {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": params["chat_id"], "type": "private"},
                "from": BOT_USER,
                "text": params["text"],
            }
        if method in ("answerCallbackQuery", "setMyCommands", "deleteWebhook", "close", "logOut"):
            return True
        raise LookupError(method)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                self._dispatch()

            def do_GET(self) -> None:
                self._dispatch()

            def _dispatch(self) -> None:
                prefix = f"/bot{api.token}/"
                if not self.path.startswith(prefix):
                    self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                    return
                call = Call(self.path[len(prefix) :], self._params())
                api.calls.append(call)
                if api.on_call is not None:
                    api.on_call(call)
                try:
                    result = api._answer(call.method, call.params)
                except LookupError:
                    self._reply(
                        404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
                    )
                    return
                self._reply(200, {"ok": True, "result": result})

            def _params(self) -> dict[str, Any]:
                raw = request_body(self).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    return json.loads(raw or "{}")
                params: dict[str, Any] = {key: values[0] for key, values in parse_qs(raw).items()}
                for key in JSON_FIELDS:
                    if key in params:
                        params[key] = json.loads(params[key])
                return params

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
