"""The sandbox forge: a local GitHub-compatible server for the demo and the tests (GitHub Enterprise URLs).

server.SandboxForge      lifecycle: start()/stop(), url, api_url, graphql_url, token, ca_bundle, git_env, faults
gateway                  per request: auth (401 + WWW-Authenticate), faults, rate limit headers, ETag/304
routing                  the route table; each route declares its parameters: anything else is a loud 422
routes_*                 the REST routes (repos, issues, labels, milestones, comments, git, commits, contents,
                         pulls, reviews, checks, search), GitHub's field names and status codes
issue_query, search_query, issue_events    issue list filters, issue search syntax, the issue history
payloads, payloads_pulls GitHub's JSON shapes (OpenAPI schema names in the docstrings)
core, db                 shared state: SQLite (one connection + RLock), users, permissions, repos, pushes
git_http, git_auth, tls  git smart HTTP behind token auth; how a client passes the token; --tls certificates
gitrepo, merging         bare repositories through git plumbing; real merge-tree mergeability and merges
ci, auto_merge           sandbox CI on each PR head merged into its base; GitHub's auto-merge
admin                    /_sandbox/* (stats, faults, users, CI command, push hook, boards)
graphql_api (+ graphql_*, projects_store)   POST /api/graphql: Projects v2, issues, PRs, checks, search, mutations
commands, seed           `agentos sandbox serve|seed` and the seeding client
See docs/sandbox.md.
"""
