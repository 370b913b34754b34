"""Containment: every process that runs agent-controlled code runs in a sandbox.

settings.py   the isolation in force (mode, network policy, extra read-only paths) — plain values
spec.py       a frozen SandboxSpec: what one sandbox sees
bwrap.py      SandboxSpec → bubblewrap command line (pure)
system.py     the host's system files shown read-only, synthetic /etc/passwd and /etc/group
toolchain.py  where a command's installation lives (node_modules tree, venv + interpreter, `#!` interpreter)
private_git.py the agent's own git dir (alternates to our objects, copied refs and index)
layout.py     a Job → SandboxSpec, refusing any mount that would expose a protected path
egress.py     the allow-list proxy (unix socket) for network `allow`; forwarder.py runs inside the sandbox
probe.py      is bwrap here and working (uid inside)? cached per process
commands.py   run one command of agent-controlled code contained (the test step, the dependency audit)
sandbox.py    `contained(isolation, job)` → what to hand to process.run
report.py     what doctor, status and escalations say about the isolation in force
"""
