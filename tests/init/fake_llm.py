"""A stand-in LLM for print mode (run as a `script` agent): reads the prompt on stdin, prints an answer.

`fake_llm.py good`: a fenced JSON charter built from the prompt (it must quote the owner's paragraph);
`fake_llm.py garbage`: prose with no JSON; `fake_llm.py fail`: exits 1.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    mode = sys.argv[1]
    prompt = sys.stdin.read()
    if mode == "fail":
        print("model unavailable", file=sys.stderr)
        return 1
    if mode == "garbage":
        print("Sure! Here are some thoughts about your project.")
        return 0
    if "owner's description" not in prompt or "A bakery ordering site" not in prompt:
        print("the prompt lacks the owner's description", file=sys.stderr)
        return 1
    issues = [
        {
            "title": f"LLM issue {n}: take orders for @someone",
            "goal": f"Let customers place order type {n} online so the bakery stops taking them by phone.",
            "success_criteria": [f"an order of type {n} can be placed and is stored", "a test covers it"],
            "context": "Closes #1 is not meant here",
        }
        for n in range(1, 5)
    ]
    answer = {
        "north_star": "# North Star\n\nLLM north star: every order arrives online.",
        "vision": "# Vision\n\nLLM vision.",
        "strategy": "# Strategy\n\nLLM strategy.",
        "planning_principles": "# Planning principles\n\nLLM principles.",
        "issues": issues,
    }
    print("```json\n" + json.dumps(answer, indent=2) + "\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
