//! The GraphQL documents the connector sends (GitHub GraphQL API v4).

/// The pull requests query with `$files` selected before each pull
/// request's commits.
macro_rules! pull_requests {
    ($files:literal) => {
        concat!(
            r#"query($owner: String!, $name: String!, $first: Int!, $after: String) {
  rateLimit { cost remaining resetAt }
  repository(owner: $owner, name: $name) {
    pullRequests(first: $first, after: $after, orderBy: {field: UPDATED_AT, direction: DESC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        number
        title
        url
        updatedAt
        createdAt
        mergedAt
        closedAt
        isDraft
        author { login }
        baseRefName
        headRefName
        additions
        deletions
        mergeCommit { oid }
        labels(first: 100) {
          pageInfo { hasNextPage endCursor }
          nodes { name }
        }
        timelineItems(last: 1, itemTypes: [READY_FOR_REVIEW_EVENT]) {
          nodes { ... on ReadyForReviewEvent { createdAt } }
        }
        reviews(first: 100) {
          totalCount
          pageInfo { hasNextPage endCursor }
          nodes { id author { login } state submittedAt }
        }
"#,
            $files,
            r#"        commits(first: 100) {
          totalCount
          pageInfo { hasNextPage endCursor }
          nodes { commit { oid authoredDate } }
        }
      }
    }
  }
}"#
        )
    };
}

/// Pull requests, most recently updated first, each with its labels,
/// ready-for-review events, submitted reviews and own commits, in one query
/// per page. Variables: `owner`, `name`, `first`, `after`.
pub const PULL_REQUESTS: &str = pull_requests!("");

/// [`PULL_REQUESTS`] with each pull request's changed files (for
/// `code_owners = true`).
pub const PULL_REQUESTS_WITH_FILES: &str = pull_requests!(
    r#"        files(first: 100) {
          pageInfo { hasNextPage endCursor }
          nodes { path }
        }
"#
);

/// The next page of one pull request's changed files. Variables: `owner`,
/// `name`, `number`, `after`.
pub const PULL_REQUEST_FILES: &str = r#"query($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      files(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { path }
      }
    }
  }
}"#;

/// The next page of one pull request's commits (a pull request lists up to
/// 250). Variables: `owner`, `name`, `number`, `after`.
pub const PULL_REQUEST_COMMITS: &str = r#"query($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      commits(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { commit { oid authoredDate } }
      }
    }
  }
}"#;

/// The next page of one pull request's labels (a rework label may be past
/// the first 100). Variables: `owner`, `name`, `number`, `after`.
pub const PULL_REQUEST_LABELS: &str = r#"query($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      labels(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { name }
      }
    }
  }
}"#;

/// The next page of one pull request's reviews. Variables: `owner`,
/// `name`, `number`, `after`.
pub const PULL_REQUEST_REVIEWS: &str = r#"query($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviews(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { id author { login } state submittedAt }
      }
    }
  }
}"#;

/// Tags, newest commit first, with the tagger date of annotated tags and
/// the commit they point at. Variables: `owner`, `name`, `first`, `after`.
pub const TAGS: &str = r#"query($owner: String!, $name: String!, $first: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    refs(refPrefix: "refs/tags/", first: $first, after: $after, orderBy: {field: TAG_COMMIT_DATE, direction: DESC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        name
        target {
          __typename
          ... on Commit { oid committedDate }
          ... on Tag {
            tagger { date }
            target { __typename ... on Commit { oid committedDate } }
          }
        }
      }
    }
  }
}"#;

/// Deployments, newest first, each with its statuses, 100 per page: one
/// request per page instead of one REST call per deployment for its
/// statuses (GitHub's REST API has no way to list both at once).
/// Variables: `owner`, `name`, `first`, `after`.
pub const DEPLOYMENTS: &str = r#"query($owner: String!, $name: String!, $first: Int!, $after: String) {
  rateLimit { cost remaining resetAt }
  repository(owner: $owner, name: $name) {
    deployments(first: $first, after: $after, orderBy: {field: CREATED_AT, direction: DESC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        databaseId
        commitOid
        createdAt
        environment
        task
        ref { name }
        creator { login }
        statuses(first: 50) {
          totalCount
          nodes { state createdAt logUrl environmentUrl }
        }
      }
    }
  }
}"#;
