"""A fake Gemini API (generateContent / streamGenerateContent?alt=sse) playing a scripted session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tests.agents.fake_http import JsonReply, RecordedRequest, Reply, ScriptedSession, SseReply, always
from tests.agents.scripts import Say, Step, ToolCall

PROMPT_TOKENS = 3000
CANDIDATE_TOKENS = 30


class GeminiScript(ScriptedSession):
    def __init__(self, steps: Sequence[Step], utility_answer: str = "{}") -> None:
        super().__init__(steps)
        self.utility_answer = utility_answer

    def __call__(self, request: RecordedRequest) -> Reply:
        path = request.path.split("?")[0]
        if request.method != "POST" or ":" not in path:
            return JsonReply(404, error_body(404, "NOT_FOUND", f"no route {request.path}"))
        body = request.json()
        if not body.get("tools"):
            # Side requests (routing, next-speaker checks) ask for JSON without tools.
            return _reply(path, _response(Say(self.utility_answer)))
        step: Step = self.next_step(request, body, function_responses(body))
        return _reply(path, _response(step))


def function_responses(body: dict[str, Any]) -> int:
    return sum(
        1
        for content in body.get("contents", [])
        for part in content.get("parts", [])
        if isinstance(part, dict) and "functionResponse" in part
    )


def _response(step: Step) -> dict[str, Any]:
    if isinstance(step, ToolCall):
        part: dict[str, Any] = {"functionCall": {"name": step.name, "args": step.arguments}}
    elif isinstance(step, Say):
        part = {"text": step.text}
    else:
        raise TypeError(f"the fake Gemini API has no free-form tool calls: {step!r}")
    return {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": PROMPT_TOKENS,
            "candidatesTokenCount": CANDIDATE_TOKENS,
            "totalTokenCount": PROMPT_TOKENS + CANDIDATE_TOKENS,
        },
        "modelVersion": "gemini-fake",
    }


def _reply(path: str, response: dict[str, Any]) -> Reply:
    if path.endswith(":streamGenerateContent"):
        return SseReply([(None, response)])
    return JsonReply(200, response)


def error_body(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def failing(code: int, status: str, message: str) -> Callable[[RecordedRequest], Reply]:
    return always(JsonReply(code, error_body(code, status, message)))
