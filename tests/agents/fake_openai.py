"""A fake OpenAI Responses API (POST /v1/responses, SSE streaming) playing a scripted session."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.agents.fake_http import JsonReply, RecordedRequest, Reply, ScriptedSession, SseReply, always
from tests.agents.scripts import CustomToolCall, Say, Step, ToolCall

INPUT_TOKENS = 2000
OUTPUT_TOKENS = 40


class ResponsesScript(ScriptedSession):
    def __call__(self, request: RecordedRequest) -> Reply:
        if request.method != "POST" or not request.path.rstrip("/").endswith("/responses"):
            return JsonReply(404, error_body("not_found", f"no route {request.path}"))
        body = request.json()
        step: Step = self.next_step(request, body, tool_outputs(body))
        return stream(body.get("model", "fake"), step, self.turn_requests)


def tool_outputs(body: dict[str, Any]) -> int:
    return sum(
        1
        for item in body.get("input", [])
        if isinstance(item, dict) and item.get("type") in ("function_call_output", "custom_tool_call_output")
    )


def stream(model: str, step: Step, number: int) -> SseReply:
    response = {
        "id": f"resp_{number}",
        "object": "response",
        "model": model,
        "status": "in_progress",
        "output": [],
    }
    if isinstance(step, CustomToolCall):
        item: dict[str, Any] = {
            "type": "custom_tool_call",
            "id": f"ctc_{number}",
            "call_id": f"call_{number}",
            "name": step.name,
            "input": step.input,
            "status": "completed",
        }
    elif isinstance(step, ToolCall):
        item = {
            "type": "function_call",
            "id": f"fc_{number}",
            "call_id": f"call_{number}",
            "name": step.name,
            "arguments": json.dumps(step.arguments),
            "status": "completed",
        }
    else:
        item = {
            "type": "message",
            "id": f"msg_{number}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": step.text, "annotations": []}],
        }
    usage = {
        "input_tokens": INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": OUTPUT_TOKENS,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
    }
    events: list[tuple[str | None, Any]] = [
        ("response.created", {"type": "response.created", "response": response}),
        (
            "response.output_item.added",
            {"type": "response.output_item.added", "output_index": 0, "item": item},
        ),
    ]
    if isinstance(step, Say):
        delta = {
            "type": "response.output_text.delta",
            "item_id": item["id"],
            "output_index": 0,
            "content_index": 0,
            "delta": step.text,
        }
        events.append(("response.output_text.delta", delta))
    events += [
        ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
        (
            "response.completed",
            {
                "type": "response.completed",
                "response": {**response, "status": "completed", "output": [item], "usage": usage},
            },
        ),
    ]
    return SseReply(events)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "code": code, "param": None}}


def failing_stream(code: str, message: str) -> Callable[[RecordedRequest], Reply]:
    """Answers every request with a stream whose response fails (`response.failed`)."""

    def respond(request: RecordedRequest) -> Reply:
        response = {
            "id": "resp_failed",
            "object": "response",
            "status": "failed",
            "output": [],
            "error": {"code": code, "message": message},
        }
        return SseReply(
            [
                (
                    "response.created",
                    {"type": "response.created", "response": {**response, "status": "in_progress"}},
                ),
                ("response.failed", {"type": "response.failed", "response": response}),
            ]
        )

    return respond


def failing(status: int, code: str, message: str) -> Callable[[RecordedRequest], Reply]:
    return always(JsonReply(status, error_body(code, message)))
