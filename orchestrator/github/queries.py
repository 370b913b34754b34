"""Every GraphQL document Agent OS sends. Nothing else in the code builds GraphQL text.

The contract test validates each document in `ALL` against GitHub's published schema
(npm @octokit/graphql-schema); the sandbox forge executes the same documents.
"""

from __future__ import annotations

# One query finds a user's or an organization's board and its Status field (ProjectV2Owner covers both).
BOARD = """
query Board($owner: String!, $number: Int!, $field: String!) {
  repositoryOwner(login: $owner) {
    ... on ProjectV2Owner {
      projectV2(number: $number) {
        id
        updatedAt
        field(name: $field) {
          ... on ProjectV2SingleSelectField {
            id
            options { id name }
          }
        }
      }
    }
  }
  rateLimit { cost remaining }
}
"""

# Cheap probe: has anything on the board changed since the items were last read?
BOARD_UPDATED_AT = """
query BoardUpdatedAt($id: ID!) {
  node(id: $id) {
    ... on ProjectV2 { updatedAt }
  }
  rateLimit { cost remaining }
}
"""

# Every board's probe in one query (`nodes` takes up to 100 ids): 1 point a tick however many boards.
BOARDS_UPDATED_AT = """
query BoardsUpdatedAt($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on ProjectV2 { id updatedAt }
  }
  rateLimit { cost remaining }
}
"""

# One page (100 items) of a board with only the fields used: item id, Status value and who set it (the value's
# `creator`: trusted authors accept an issue a trusted user moved to Ready), issue identity.
BOARD_ITEMS = """
query BoardItems($id: ID!, $field: String!, $after: String) {
  node(id: $id) {
    ... on ProjectV2 {
      items(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id
          fieldValueByName(name: $field) {
            ... on ProjectV2ItemFieldSingleSelectValue { name optionId creator { login } }
          }
          content {
            ... on Issue {
              id
              number
              repository { nameWithOwner }
            }
          }
        }
      }
    }
  }
  rateLimit { cost remaining }
}
"""

# The board's built-in workflows (GitHub's API reads them; only the web UI changes them). "Item closed" on means
# GitHub itself moves a closed issue's card to Done: our own move would be a wasted write.
BOARD_WORKFLOWS = """
query BoardWorkflows($id: ID!) {
  node(id: $id) {
    ... on ProjectV2 {
      workflows(first: 20) { nodes { name enabled } }
    }
  }
  rateLimit { cost remaining }
}
"""

SET_ITEM_STATUS = """
mutation SetItemStatus($project: ID!, $item: ID!, $field: ID!, $option: String!) {
  updateProjectV2ItemFieldValue(
    input: {projectId: $project, itemId: $item, fieldId: $field, value: {singleSelectOptionId: $option}}
  ) {
    projectV2Item { id }
  }
}
"""

ADD_ITEM = """
mutation AddItem($project: ID!, $content: ID!) {
  addProjectV2ItemById(input: {projectId: $project, contentId: $content}) {
    item { id }
  }
}
"""

# pr_monitor's view of a repository, one query per 50 open pull requests (about 1 point): each PR's identity
# (number, branches, head and base tips, body with the task marker, labels), GitHub's mergeability, and its
# head's check runs and commit statuses (`statusCheckRollup`, the latest of each name/context); beside them the
# repository's open issues carrying the blocked label (escalated tasks), so no PR needs a read of its issue.
OPEN_PULLS = """
query OpenPulls($owner: String!, $name: String!, $blocked: [String!]!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequests(states: [OPEN], first: 50, after: $after, orderBy: {field: CREATED_AT, direction: ASC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id
        number
        title
        body
        url
        state
        merged
        isDraft
        updatedAt
        author { login }
        headRefName
        headRefOid
        baseRefName
        baseRef { target { oid } }
        mergeable
        mergeStateStatus
        labels(first: 100) {
          pageInfo { hasNextPage }
          nodes { name }
        }
        statusCheckRollup {
          commit { oid }
          contexts(first: 100) {
            pageInfo { hasNextPage }
            nodes {
              __typename
              ... on CheckRun { name status conclusion detailsUrl }
              ... on StatusContext { context state description targetUrl }
            }
          }
        }
      }
    }
    blocked: issues(states: [OPEN], labels: $blocked, first: 100) {
      pageInfo { hasNextPage }
      nodes { number }
    }
  }
  rateLimit { cost remaining }
}
"""

# Used by `agentos init` and the sandbox seeder to create a board for an owner.
OWNER_ID = """
query OwnerId($owner: String!) {
  repositoryOwner(login: $owner) { id }
}
"""

CREATE_PROJECT = """
mutation CreateProject($owner: ID!, $title: String!) {
  createProjectV2(input: {ownerId: $owner, title: $title}) {
    projectV2 { id number }
  }
}
"""

CREATE_STATUS_FIELD = """
mutation CreateStatusField($project: ID!, $name: String!, $options: [ProjectV2SingleSelectFieldOptionInput!]!) {
  createProjectV2Field(
    input: {projectId: $project, dataType: SINGLE_SELECT, name: $name, singleSelectOptions: $options}
  ) {
    projectV2Field {
      ... on ProjectV2SingleSelectField { id options { id name } }
    }
  }
}
"""

ALL: dict[str, str] = {
    "BOARD": BOARD,
    "BOARD_UPDATED_AT": BOARD_UPDATED_AT,
    "BOARDS_UPDATED_AT": BOARDS_UPDATED_AT,
    "BOARD_ITEMS": BOARD_ITEMS,
    "BOARD_WORKFLOWS": BOARD_WORKFLOWS,
    "OPEN_PULLS": OPEN_PULLS,
    "SET_ITEM_STATUS": SET_ITEM_STATUS,
    "ADD_ITEM": ADD_ITEM,
    "OWNER_ID": OWNER_ID,
    "CREATE_PROJECT": CREATE_PROJECT,
    "CREATE_STATUS_FIELD": CREATE_STATUS_FIELD,
}
