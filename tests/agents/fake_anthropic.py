"""A fake Anthropic Messages API (POST /v1/messages, SSE streaming) playing a scripted session."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.agents.fake_http import JsonReply, RecordedRequest, Reply, ScriptedSession, SseReply, always
from tests.agents.scripts import Say, Step, ToolCall

INPUT_TOKENS = 1000
OUTPUT_TOKENS = 50


class AnthropicScript(ScriptedSession):
    def __call__(self, request: RecordedRequest) -> Reply:
        if request.method != "POST" or not request.path.startswith("/v1/messages"):
            return JsonReply(404, error_body("not_found_error", f"no route {request.path}"))
        if "count_tokens" in request.path:
            return JsonReply(200, {"input_tokens": INPUT_TOKENS})
        body = request.json()
        step: Step = self.next_step(request, body, tool_results(body))
        return stream(body.get("model", "fake"), step, self.turn_requests)


def tool_results(body: dict[str, Any]) -> int:
    return sum(
        1
        for message in body.get("messages", [])
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    )


def stream(model: str, step: Step, request_number: int) -> SseReply:
    start = {
        "type": "message_start",
        "message": {
            "id": f"msg_{request_number}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1},
        },
    }
    events: list[tuple[str | None, Any]] = [("message_start", start)]
    if isinstance(step, ToolCall):
        events += _block(
            {"type": "tool_use", "id": f"toolu_{request_number}", "name": step.name, "input": {}},
            {"type": "input_json_delta", "partial_json": json.dumps(step.arguments)},
        )
        stop_reason = "tool_use"
    elif isinstance(step, Say):
        events += _block({"type": "text", "text": ""}, {"type": "text_delta", "text": step.text})
        stop_reason = "end_turn"
    else:
        raise TypeError(f"the fake Anthropic API has no free-form tool calls: {step!r}")
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": OUTPUT_TOKENS},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return SseReply(events)


def _block(start: dict[str, Any], delta: dict[str, Any]) -> list[tuple[str | None, Any]]:
    return [
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": start}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def failing(status: int, kind: str, message: str) -> Callable[[RecordedRequest], Reply]:
    """A responder that answers every request with an Anthropic error."""
    return always(JsonReply(status, error_body(kind, message)))
