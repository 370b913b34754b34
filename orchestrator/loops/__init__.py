"""The self-improvement loops' shared machinery (common.py: cadence, filing, LLM; dedup.py: duplicates).

The loops themselves are jobs (orchestrator/jobs/<loop>.py) over pure policies (orchestrator/policy/<loop>.py).
"""
