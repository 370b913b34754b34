"""The sandbox forge: a local GitHub-compatible server for the demo and the tests (GitHub Enterprise URLs).

server.SandboxForge      lifecycle: start()/stop(), url, api_url, graphql_url, token, wait_ci_idle, faults
gateway                  per request: auth (401), fault injection, rate limit headers, ETag/304, accounting
routes_repos/_issues/_git/_pulls/_checks    the REST routes, GitHub's field names and status codes
payloads, payloads_pulls GitHub's JSON shapes (OpenAPI schema names in the docstrings)
core, db                 shared state: SQLite (one connection + RLock), users, repos, moved-branch events
gitrepo, merging         bare repositories through git plumbing; real merge-tree mergeability and merges
ci                       sandbox CI: the repo's test command on each PR head merged into its base
admin                    /_sandbox/* (stats, faults, users, CI command, push hook, boards)
graphql_api (+ graphql_*, projects_store)   POST /api/graphql: Projects v2
commands, seed           `agentos sandbox serve|seed` and the seeding client
"""
