"""Shared values: the frozen dataclasses and enums every layer passes around (`models`), the one table of jobs
(`job_registry`), the task record and its JSON form (`task_record`), a task's identity on GitHub
(`task_identity`), the kill-switch values and their pure rule (`switch_state`) and the shaping of text that did
not come from Agent OS (`untrusted_text`). These modules import the standard library and each other only, so
policies, edges and views can all depend on them; the purity contract in pyproject.toml keeps it so."""
