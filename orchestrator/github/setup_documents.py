"""GraphQL documents only repository setup (`agentos init`, orchestrator.github.setup) sends.

They are kept out of queries.ALL because the sandbox forge does not implement `updateProjectV2Field` (setup
falls back to DELETE_FIELD + CREATE_STATUS_FIELD there); tests/init validates them against GitHub's published
schema.

A new Projects v2 board comes with GitHub's built-in Status field (Todo, In Progress, Done). GitHub.com sets
its options with `updateProjectV2Field` (its `singleSelectOptions` replace the existing ones, so it is only
used on a board init has just created, which has no items). A forge without that mutation (older GitHub
Enterprise Server, the sandbox forge) gets the field deleted and created again with CREATE_STATUS_FIELD.
"""

from __future__ import annotations

UPDATE_FIELD_OPTIONS = """
mutation UpdateFieldOptions($field: ID!, $options: [ProjectV2SingleSelectFieldOptionInput!]!) {
  updateProjectV2Field(input: {fieldId: $field, singleSelectOptions: $options}) {
    projectV2Field {
      ... on ProjectV2SingleSelectField { id options { id name } }
    }
  }
}
"""

DELETE_FIELD = """
mutation DeleteField($field: ID!) {
  deleteProjectV2Field(input: {fieldId: $field}) {
    projectV2Field {
      ... on ProjectV2SingleSelectField { id }
    }
  }
}
"""

ALL: dict[str, str] = {"UPDATE_FIELD_OPTIONS": UPDATE_FIELD_OPTIONS, "DELETE_FIELD": DELETE_FIELD}
