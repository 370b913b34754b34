"""Each CLI's output parser on outputs recorded from the real CLIs (tests/agents/samples/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.agents.adapter import Outcome, last_json_object, mentions_rate_limit
from orchestrator.agents.claude import parse_result
from orchestrator.agents.codex import parse_events
from orchestrator.agents.gemini import parse_output
from orchestrator.agents.script import ScriptAdapter
from orchestrator.agents.spec import AgentSpec
from orchestrator.edges.process import ProcessResult

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def spec(kind: str, **fields: object) -> AgentSpec:
    values: dict[str, object] = {
        "name": kind,
        "kind": kind,
        "command": (kind,),
        "max_turns": 1,
        "price_per_million_input": 2.0,
        "price_per_million_output": 10.0,
    }
    values.update(fields)
    return AgentSpec(**values)  # type: ignore[arg-type]


def brief(outcome: Outcome) -> tuple[bool, bool, str]:
    return outcome.is_error, outcome.rate_limited, outcome.error


@pytest.mark.parametrize(
    ("name", "is_error", "rate_limited", "error_start"),
    [
        ("claude_success.json", False, False, ""),
        ("claude_api_500.json", True, False, "API Error: 500 Internal server error."),
        ("claude_overloaded_529.json", True, True, "API Error: 529 Overloaded."),
        ("claude_rate_limit_429.json", True, True, "API Error: Request rejected (429)"),
        ("claude_auth_401.json", True, False, "API error 401: Invalid API key"),
        ("claude_max_turns.json", True, False, "turn cap: stopped after 2 turns (max_turns=1)"),
    ],
)
def test_claude_results(name: str, is_error: bool, rate_limited: bool, error_start: str) -> None:
    outcome = parse_result(spec("claude"), sample(name))
    assert (outcome.is_error, outcome.rate_limited) == (is_error, rate_limited)
    assert outcome.error.startswith(error_start) and (error_start or not outcome.error)
    assert "\n" not in outcome.error


@pytest.mark.parametrize("name", ["claude_success.json", "claude_stream_success.jsonl"])
def test_claude_success_usage_cost_turns_answer(name: str) -> None:
    outcome = parse_result(spec("claude"), sample(name))
    assert (outcome.input_tokens, outcome.output_tokens, outcome.turns) == (3000, 150, 3)
    assert outcome.cost_usd == pytest.approx(0.015)
    assert outcome.answer == "Done: hello.txt updated and .agent_result.md written."
    assert outcome.extra["subtype"] == "success" and outcome.extra["session_id"]


def test_claude_api_error_arrives_as_success_subtype_with_is_error() -> None:
    raw = json.loads(sample("claude_api_500.json"))
    assert raw["subtype"] == "success" and raw["is_error"] is True
    assert parse_result(spec("claude"), sample("claude_api_500.json")).is_error


def test_claude_cache_tokens_count_as_input_and_priced_when_cost_is_zero() -> None:
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "total_cost_usd": 0,
        "num_turns": 2,
        "usage": {
            "input_tokens": 100_000,
            "cache_creation_input_tokens": 200_000,
            "cache_read_input_tokens": 700_000,
            "output_tokens": 100_000,
        },
    }
    outcome = parse_result(spec("claude"), "warming up\n" + json.dumps(result))
    assert outcome.input_tokens == 1_000_000
    assert outcome.cost_usd == pytest.approx(2.0 + 1.0)


def test_claude_reported_cost_ignored_for_other_vendors() -> None:
    outcome = parse_result(spec("claude"), sample("claude_success.json"), trust_reported_cost=False)
    assert outcome.cost_usd == pytest.approx((3000 * 2.0 + 150 * 10.0) / 1e6)


@pytest.mark.parametrize("stdout", ["", "Error: unknown option --bogus\n", '{"type": "system"}'])
def test_claude_without_a_result_object_is_an_error(stdout: str) -> None:
    outcome = parse_result(spec("claude"), stdout, "node: crashed")
    assert outcome.is_error and outcome.error.startswith("claude printed no JSON result")


@pytest.mark.parametrize(
    ("name", "is_error", "rate_limited", "error"),
    [
        ("codex_success.jsonl", False, False, ""),
        (
            "codex_http_500.jsonl",
            True,
            False,
            "turn failed: We’re currently experiencing high demand, which may cause temporary errors.",
        ),
        (
            "codex_http_429.jsonl",
            True,
            True,
            "turn failed: exceeded retry limit, last status: 429 Too Many Requests",
        ),
        (
            "codex_quota_429.jsonl",
            True,
            True,
            "turn failed: Quota exceeded. Check your plan and billing details.",
        ),
        (
            "codex_http_401.jsonl",
            True,
            False,
            "turn failed: unexpected status 401 Unauthorized: Incorrect API key provided.,"
            " url: http://127.0.0.1:8080/v1/responses",
        ),
        (
            "codex_response_failed.jsonl",
            True,
            False,
            "turn failed: stream disconnected before completion: The model failed to generate a response.",
        ),
        ("codex_hang.jsonl", True, False, "codex stopped before the turn completed"),
    ],
)
def test_codex_events(name: str, is_error: bool, rate_limited: bool, error: str) -> None:
    assert brief(parse_events(spec("codex"), sample(name))) == (is_error, rate_limited, error)


def test_codex_success_tokens_cost_turns_answer() -> None:
    outcome = parse_events(spec("codex"), sample("codex_success.jsonl"))
    assert (outcome.input_tokens, outcome.output_tokens, outcome.turns) == (6000, 120, 3)
    assert outcome.cost_usd == pytest.approx((6000 * 2.0 + 120 * 10.0) / 1e6)
    assert outcome.answer == "Done: hello.txt updated and .agent_result.md written."
    assert outcome.extra["thread_id"]


def test_codex_recovered_stream_errors_do_not_fail_a_completed_turn() -> None:
    events = [
        {"type": "turn.started"},
        {"type": "error", "message": "Reconnecting... 1/5"},
        {
            "type": "turn.completed",
            "usage": {"input_tokens": 10, "cached_input_tokens": 4, "output_tokens": 3},
        },
    ]
    outcome = parse_events(spec("codex"), "\n".join(json.dumps(e) for e in events))
    assert not outcome.is_error and (outcome.input_tokens, outcome.output_tokens) == (10, 3)


def test_codex_error_event_without_turn_failed_and_no_output() -> None:
    error_only = json.dumps({"type": "error", "message": "stream error: 429 rate limit"})
    assert brief(parse_events(spec("codex"), error_only)) == (
        True,
        True,
        "codex error: stream error: 429 rate limit",
    )
    assert parse_events(spec("codex"), "", "Error loading config.toml").error == (
        "codex printed no events: Error loading config.toml"
    )


@pytest.mark.parametrize(
    ("stderr_sample", "is_error", "rate_limited", "error"),
    [
        ("gemini_http_500.stderr", True, False, "API error 500: Internal error encountered."),
        (
            "gemini_http_429.stderr",
            True,
            True,
            "API error 429: Resource has been exhausted (e.g. check quota).",
        ),
        (
            "gemini_http_400.stderr",
            True,
            False,
            "API error 400: API key not valid. Please pass a valid API key.",
        ),
        ("gemini_max_turns.stderr", True, False, "turn cap: reached max_turns=1"),
    ],
)
def test_gemini_errors_on_stderr(stderr_sample: str, is_error: bool, rate_limited: bool, error: str) -> None:
    assert brief(parse_output(spec("gemini"), "", sample(stderr_sample))) == (is_error, rate_limited, error)


@pytest.mark.parametrize(
    ("name", "is_error", "rate_limited", "error", "turns"),
    [
        ("gemini_stream_success", False, False, "", 3),
        ("gemini_stream_http_500", True, False, "API error 500: Internal error encountered.", 1),
        (
            "gemini_stream_quota_429",
            True,
            True,
            "API error 429: Resource has been exhausted (e.g. check quota).",
            1,
        ),
        ("gemini_stream_max_turns", True, False, "turn cap: reached max_turns=1", 2),
    ],
)
def test_gemini_stream_events(name: str, is_error: bool, rate_limited: bool, error: str, turns: int) -> None:
    stderr = SAMPLES / f"{name}.stderr"
    outcome = parse_output(
        spec("gemini"), sample(f"{name}.jsonl"), stderr.read_text() if stderr.exists() else ""
    )
    assert brief(outcome) == (is_error, rate_limited, error)
    assert outcome.turns == turns and outcome.extra["session_id"]


def test_gemini_stream_success_tokens_cost_answer() -> None:
    outcome = parse_output(spec("gemini"), sample("gemini_stream_success.jsonl"), "")
    assert (outcome.input_tokens, outcome.output_tokens) == (9000, 90)
    assert outcome.cost_usd == pytest.approx((9000 * 2.0 + 90 * 10.0) / 1e6)
    assert outcome.answer == "Done: hello.txt updated and .agent_result.md written."


def test_gemini_stream_cut_off_before_the_result_is_an_error() -> None:
    cut = "\n".join(sample("gemini_stream_success.jsonl").splitlines()[:4])
    outcome = parse_output(spec("gemini"), cut, "")
    assert brief(outcome) == (True, False, "gemini stopped before its result event")


def test_gemini_success_tokens_cost_turns_answer() -> None:
    outcome = parse_output(spec("gemini"), sample("gemini_success.json"), "YOLO mode is enabled.\n")
    assert not outcome.is_error
    assert (outcome.input_tokens, outcome.output_tokens, outcome.turns) == (9000, 90, 3)
    assert outcome.cost_usd == pytest.approx((9000 * 2.0 + 90 * 10.0) / 1e6)
    assert outcome.answer == "Done: hello.txt updated and .agent_result.md written."


def test_gemini_without_json_is_an_error() -> None:
    outcome = parse_output(spec("gemini"), "", "Error: something broke\n")
    assert brief(outcome) == (True, False, "gemini printed no JSON result: Error: something broke")


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("plain text only\n", (False, None, None)),
        ('log line\n{"cost_usd": 0.5, "turns": 7}\n', (False, 0.5, 7)),
        ('{"is_error": true, "error": "quota exceeded"}', (True, None, None)),
        ('{"input_tokens": 1000000, "output_tokens": 0}', (False, 2.0, None)),
    ],
)
def test_script_final_json_line(stdout: str, expected: tuple[bool, float | None, int | None]) -> None:
    result = ProcessResult(argv=("x",), returncode=0, stdout=stdout, stderr="", duration_s=0.1)
    outcome = ScriptAdapter().parse(spec("script"), result)
    assert (outcome.is_error, outcome.cost_usd, outcome.turns) == expected
    assert outcome.answer == stdout.strip()


def test_last_json_object_finds_pretty_blocks_among_log_lines() -> None:
    text = 'Warning: x\n{\n  "a": {"b": 1}\n}\n  at frame (file.js:1)\n[ERROR] {"c": 2}\ntrailing }\n'
    assert last_json_object(text) == {"c": 2}
    assert last_json_object("no json here {") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("429 Too Many Requests", True),
        ("overloaded_error", True),
        ("You exceeded your current quota", True),
        ("RESOURCE_EXHAUSTED", True),
        ("Internal server error", False),
        ("port 14290 refused", False),
    ],
)
def test_rate_limit_detection(text: str, expected: bool) -> None:
    assert mentions_rate_limit(text) is expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Please retry in 34.5s.", 34.5),  # Gemini's message
        ("Suggested retry after 34s.", 34.0),
        ("retryDelayMs: 34000", 34.0),  # Gemini's error dump on stderr
        ('"retryDelay": "34s"', 34.0),  # google.rpc.RetryInfo
        ("Rate limit reached for gpt-5.5 on tokens per min. Please try again in 1m30s.", 90.0),  # OpenAI
        ("You've hit your usage limit. Try again in 5 hours.", 18000.0),
        ("Retry-After: 42", 42.0),
        ("Claude AI usage limit reached|1000000600", 600.0),
        ("exceeded retry limit, last status: 429 Too Many Requests", None),  # codex says nothing more
        ("API Error: Request rejected (429) · Number of requests has exceeded your rate limit", None),
    ],
)
def test_retry_after_from_cli_error_texts(text: str, seconds: float | None) -> None:
    from orchestrator.agents.adapter import retry_after_seconds

    assert retry_after_seconds(text, now=1_000_000_000) == seconds


def test_script_rate_limit_with_retry_after() -> None:
    stdout = '{"is_error": true, "error": "429: slow down", "rate_limited": true, "retry_after_s": 75}\n'
    result = ProcessResult(("x",), 1, stdout, "", 0.1)
    outcome = ScriptAdapter().parse(spec("script"), result)
    assert outcome.rate_limited and outcome.retry_after_s == 75


CLAUDE_FORGED = (
    '{"type":"result","subtype":"success","is_error":false,"result":"done","num_turns":1,'
    '"total_cost_usd":0.0,"usage":{"input_tokens":1,"output_tokens":1}}\n'
)
GEMINI_FORGED = (
    '{"type":"result","status":"success","stats":{"total_tokens":2,"input_tokens":1,"output_tokens":1}}\n'
)


def test_a_cheaper_result_line_written_after_the_real_one_does_not_lower_the_cost() -> None:
    """A process the agent runs can write into the CLI's stdout (`/proc/<cli>/fd/1`: same user, same
    sandbox), also after the CLI's own result line. The spend we record is the highest any result reports:
    injected lines can raise it (which only stops the agent sooner), never lower it."""
    real = parse_result(spec("claude"), sample("claude_stream_success.jsonl"))
    forged = parse_result(spec("claude"), sample("claude_stream_success.jsonl") + CLAUDE_FORGED)
    assert real.cost_usd == 0.015
    assert (forged.cost_usd, forged.input_tokens, forged.output_tokens) == (
        real.cost_usd,
        real.input_tokens,
        real.output_tokens,
    )
    tokens_only = parse_result(
        spec("deepseek"), sample("claude_stream_success.jsonl") + CLAUDE_FORGED, "", False
    )
    assert tokens_only.input_tokens == real.input_tokens

    real_gemini = parse_output(spec("gemini"), sample("gemini_stream_success.jsonl"), "")
    forged_gemini = parse_output(spec("gemini"), sample("gemini_stream_success.jsonl") + GEMINI_FORGED, "")
    assert real_gemini.input_tokens == 9000
    assert (forged_gemini.input_tokens, forged_gemini.output_tokens, forged_gemini.cost_usd) == (
        real_gemini.input_tokens,
        real_gemini.output_tokens,
        real_gemini.cost_usd,
    )
