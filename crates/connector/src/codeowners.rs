//! CODEOWNERS files, GitHub's and GitLab's syntax: which handles own a path.
//!
//! A line is a pattern and its owners (`@user`, `@org/team`, an e-mail
//! address); `#` starts a comment, `\#` and `\ ` escape. Patterns follow
//! gitignore as both hosts document it:
//!
//! - a pattern with a `/` at its start or middle is anchored at the
//!   repository root, one without matches at any depth (`*.js`, `logs`);
//! - `*` and `?` stop at `/`, `**` crosses directories;
//! - a pattern naming a directory (`/docs/`, `apps/`, `**/logs`) owns
//!   everything beneath it, but a trailing `*` does not descend
//!   (`docs/*` owns `docs/a.md`, not `docs/build/b.md`);
//! - the last matching line wins, and a matching line without owners leaves
//!   the path unowned.
//!
//! GitLab's sections (`[Section]`, `^[Optional]`, `[Section][2]`, with
//! default owners after the header) each pick their own last match; a path's
//! owners are those of every section. A `!pattern` (GitLab's exclusions)
//! leaves the paths it matches without owners in its section.

use globset::{GlobBuilder, GlobMatcher};

/// Where GitHub looks for the file, first found wins.
pub const GITHUB_LOCATIONS: &[&str] = &[".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];
/// Where GitLab looks for the file, first found wins.
pub const GITLAB_LOCATIONS: &[&str] = &["CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"];
/// Where a local clone is searched (GitHub's places, then GitLab's).
pub const ANY_LOCATIONS: &[&str] = &[
    ".github/CODEOWNERS",
    "CODEOWNERS",
    "docs/CODEOWNERS",
    ".gitlab/CODEOWNERS",
];

/// The text of a file as the GitHub and GitLab file APIs give it:
/// `content` in base64 (GitHub breaks it into lines), `None` when it is not.
pub fn base64_text(content: &str) -> Option<String> {
    use base64::Engine as _;
    let packed: String = content.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads the first CODEOWNERS file of `locations` through a host's file
/// API (GitHub's contents API, GitLab's repository files API: both answer
/// with the file's `content` in base64). `path(location)` is the API path of
/// one place, `query` its parameters, `repo` names the repository in notes.
/// A place that is not there (404) is passed over; a file that cannot be
/// read, and lines of it that cannot, are notes: the caller syncs on
/// without owners. Only a refused token is an error.
pub async fn from_file_api(
    http: &crate::http::HttpClient,
    repo: &str,
    locations: &[&str],
    path: impl Fn(&str) -> String,
    query: &[(&str, String)],
    notes: &mut Vec<String>,
) -> Result<Option<CodeOwners>, crate::ConnectorError> {
    use crate::ConnectorError;
    for location in locations {
        let body = match http.get(&path(location), query).await {
            Ok(resp) => resp.body,
            Err(ConnectorError::NotFound { .. }) => continue,
            Err(e @ ConnectorError::Unauthorized { .. }) => return Err(e),
            Err(e) => {
                notes.push(format!(
                    "{repo}: CODEOWNERS not read ({e}); no owners recorded"
                ));
                return Ok(None);
            }
        };
        let Some(text) = body["content"].as_str().and_then(base64_text) else {
            notes.push(format!(
                "{repo}: `{location}` is not a base64 file in the API's answer; no owners recorded"
            ));
            return Ok(None);
        };
        let (owners, skipped) = CodeOwners::parse(&text);
        for s in skipped {
            notes.push(format!(
                "{repo}: {location} line {}: skipped, {}",
                s.line, s.reason
            ));
        }
        return Ok(Some(owners));
    }
    Ok(None)
}

/// One pattern line.
#[derive(Debug, Clone)]
struct Rule {
    glob: GlobMatcher,
    /// The pattern also owns everything beneath a directory it matches.
    descends: bool,
    /// Only directories match (a trailing `/`): the path's ancestors.
    dir_only: bool,
    /// A GitLab exclusion (`!pattern`).
    exclude: bool,
    owners: Vec<String>,
}

impl Rule {
    fn matches(&self, path: &str) -> bool {
        if !self.dir_only && self.glob.is_match(path) {
            return true;
        }
        if !(self.descends || self.dir_only) {
            return false;
        }
        path.match_indices('/')
            .any(|(i, _)| self.glob.is_match(&path[..i]))
    }
}

#[derive(Debug, Clone, Default)]
struct Section {
    /// Lower case: GitLab combines sections of the same name.
    name: String,
    rules: Vec<Rule>,
}

/// A parsed CODEOWNERS file.
#[derive(Debug, Clone, Default)]
pub struct CodeOwners {
    sections: Vec<Section>,
}

/// A line the parser skipped, with why (1-based line number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

/// Splits a line into tokens at unescaped blanks, dropping a `#` comment
/// (an unescaped `#` at the start of a token); `\#` and `\ ` keep the
/// character.
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n @ ('#' | ' ' | '\t')) => cur.push(n),
                Some(n) => {
                    cur.push('\\');
                    cur.push(n);
                }
                None => cur.push('\\'),
            },
            '#' if cur.is_empty() => break,
            ' ' | '\t' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A GitLab section header: `[Name]`, `^[Name]`, `[Name][2]`, then its
/// default owners. `None` when the line is not one.
fn section_header(line: &str) -> Option<(String, Vec<String>)> {
    let rest = line.strip_prefix('^').unwrap_or(line).strip_prefix('[')?;
    let close = rest.find(']')?;
    let name = rest[..close].trim().to_lowercase();
    if name.is_empty() {
        return None;
    }
    let mut rest = &rest[close + 1..];
    if let Some(r) = rest.strip_prefix('[') {
        let end = r.find(']')?;
        if !r[..end].chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        rest = &r[end + 1..];
    }
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some((name, tokens(rest)))
}

fn is_owner(token: &str) -> bool {
    token.starts_with('@') && token.len() > 1
        || token.contains('@') && !token.starts_with('@') && !token.ends_with('@')
}

/// The glob of a pattern (without `!`), whether it descends into matched
/// directories and whether it matches directories only.
fn rule_glob(pattern: &str) -> Result<(GlobMatcher, bool, bool), String> {
    let dir_only = pattern.ends_with('/') && pattern.len() > 1;
    let body = pattern.trim_end_matches('/');
    let anchored = body.starts_with('/') || body.contains('/');
    let body = body.trim_start_matches('/');
    if body.is_empty() {
        return Err("the pattern names no path".into());
    }
    let last = body.rsplit('/').next().unwrap_or(body);
    // `docs/*` owns the files of `docs`, not what its subdirectories hold;
    // `apps`, `**/logs` and `/build/logs` own whole directories.
    let descends = !(last.contains('*') || last.contains('?')) || last == "**";
    let glob = if anchored {
        body.to_string()
    } else {
        format!("**/{body}")
    };
    let matcher = GlobBuilder::new(&glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("pattern `{pattern}` is not a valid glob: {e}"))?
        .compile_matcher();
    Ok((matcher, descends, dir_only))
}

impl CodeOwners {
    /// Parses a CODEOWNERS file. Lines that cannot be read (an unknown
    /// pattern syntax, an owner that is no handle or address) are skipped
    /// and returned, so one bad line does not lose the file.
    pub fn parse(text: &str) -> (CodeOwners, Vec<Skipped>) {
        let mut sections = vec![Section::default()];
        // The section being read and its header's default owners.
        let (mut at, mut defaults) = (0, Vec::new());
        let mut skipped = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((name, owners)) = section_header(line) {
                defaults = owners.into_iter().filter(|t| is_owner(t)).collect();
                at = match sections.iter().position(|s| s.name == name) {
                    Some(i) => i,
                    None => {
                        sections.push(Section {
                            name,
                            rules: Vec::new(),
                        });
                        sections.len() - 1
                    }
                };
                continue;
            }
            let mut toks = tokens(line).into_iter();
            let Some(pattern) = toks.next() else { continue };
            let (exclude, pattern) = match pattern.strip_prefix('!') {
                Some(p) => (true, p.to_string()),
                None => (false, pattern),
            };
            let mut owners = Vec::new();
            for t in toks {
                if is_owner(&t) {
                    owners.push(t);
                } else {
                    skipped.push(Skipped {
                        line: n + 1,
                        reason: format!(
                            "`{t}` is not an owner (@user, @org/team or an e-mail address)"
                        ),
                    });
                }
            }
            match rule_glob(&pattern) {
                Ok((glob, descends, dir_only)) => {
                    if owners.is_empty() && !exclude {
                        owners = defaults.clone();
                    }
                    sections[at].rules.push(Rule {
                        glob,
                        descends,
                        dir_only,
                        exclude,
                        owners,
                    });
                }
                Err(reason) => skipped.push(Skipped {
                    line: n + 1,
                    reason,
                }),
            }
        }
        (CodeOwners { sections }, skipped)
    }

    /// Whether the file has any rule.
    pub fn is_empty(&self) -> bool {
        self.sections.iter().all(|s| s.rules.is_empty())
    }

    /// The owners of one path (relative to the repository root), in the
    /// file's order, without repeats.
    pub fn owners_of(&self, path: &str) -> Vec<&str> {
        let path = path.trim_start_matches('/');
        let mut out: Vec<&str> = Vec::new();
        for section in &self.sections {
            if section.rules.iter().any(|r| r.exclude && r.matches(path)) {
                continue;
            }
            let last = section
                .rules
                .iter()
                .rev()
                .find(|r| !r.exclude && r.matches(path));
            for owner in last.map(|r| r.owners.as_slice()).unwrap_or_default() {
                if !out.contains(&owner.as_str()) {
                    out.push(owner);
                }
            }
        }
        out
    }

    /// The owners of any of `paths`, sorted, without repeats.
    pub fn owners_of_all<'p>(&self, paths: impl IntoIterator<Item = &'p str>) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        for path in paths {
            out.extend(self.owners_of(path).into_iter().map(str::to_string));
        }
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(file: &str, path: &str) -> Vec<String> {
        let (co, skipped) = CodeOwners::parse(file);
        assert!(skipped.is_empty(), "{skipped:?}");
        co.owners_of(path).into_iter().map(str::to_string).collect()
    }

    /// The examples of GitHub's "About code owners" page.
    const GITHUB: &str = r"
# This is a comment.
*       @global-owner1 @global-owner2
*.js    @js-owner #This is an inline comment.
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
/apps/ @octocat
/apps/github @doctocat
";

    #[test]
    fn github_examples() {
        assert_eq!(
            owners(GITHUB, "README.md"),
            ["@global-owner1", "@global-owner2"]
        );
        assert_eq!(owners(GITHUB, "src/app.js"), ["@js-owner"]);
        assert_eq!(owners(GITHUB, "cmd/main.go"), ["docs@example.com"]);
        assert_eq!(owners(GITHUB, "notes/a.txt"), ["@octo-org/octocats"]);
        // `/build/logs/` is anchored; `**/logs` (later) matches at any depth.
        assert_eq!(owners(GITHUB, "build/logs/x.log"), ["@octocat"]);
        assert_eq!(owners(GITHUB, "deeply/nested/logs/x.log"), ["@octocat"]);
        // `docs/*` is overridden by `/docs/` below it, which descends.
        assert_eq!(
            owners(GITHUB, "docs/build-app/troubleshooting.md"),
            ["@doctocat"]
        );
        assert_eq!(
            owners(GITHUB, "scripts/ci/run.sh"),
            ["@doctocat", "@octocat"]
        );
        // The last line for /apps/github wins over the unowned line.
        assert_eq!(owners(GITHUB, "apps/github/x.rb"), ["@doctocat"]);
        assert_eq!(owners(GITHUB, "apps/other/x.rb"), ["@octocat"]);
        assert_eq!(owners(GITHUB, "a/apps/x.rb"), ["@octocat"]);
    }

    #[test]
    fn a_trailing_star_does_not_descend_and_an_ownerless_line_unowns() {
        let file = "docs/*  @docs\n/vendor/ @a\n/vendor/ignored/\n";
        assert_eq!(owners(file, "docs/a.md"), ["@docs"]);
        assert!(owners(file, "docs/build/b.md").is_empty());
        assert_eq!(owners(file, "vendor/lib/x.c"), ["@a"]);
        assert!(owners(file, "vendor/ignored/x.c").is_empty());
        // A directory pattern does not match a file of that name.
        assert!(owners("/vendor/ @a\n", "vendor").is_empty());
    }

    #[test]
    fn escapes_and_anchoring() {
        let file = "\\#notes @hash\nmy\\ dir/ @space\nsrc/*.rs @rust\n";
        assert_eq!(owners(file, "#notes"), ["@hash"]);
        assert_eq!(owners(file, "my dir/a"), ["@space"]);
        assert_eq!(owners(file, "src/lib.rs"), ["@rust"]);
        // `src/*.rs` has a slash: anchored at the root.
        assert!(owners(file, "crates/src/lib.rs").is_empty());
        assert!(owners(file, "src/a/lib.rs").is_empty());
        assert_eq!(
            owners("services/**/api/ @api\n", "services/a/b/api/x.go"),
            ["@api"]
        );
        assert_eq!(
            owners("services/**/api/ @api\n", "services/api/x.go"),
            ["@api"]
        );
    }

    #[test]
    fn gitlab_sections_each_pick_their_last_match_and_combine() {
        let file = "\
* @everyone
[Docs] @docs-team
docs/
*.md @writers
^[Database][2] @dba
db/ @dba @acme/data
!db/README.md
[Docs]
/db/ @db-docs
";
        assert_eq!(owners(file, "docs/intro.txt"), ["@everyone", "@docs-team"]);
        assert_eq!(owners(file, "docs/intro.md"), ["@everyone", "@writers"]);
        // The second [Docs] header continues the first section.
        assert_eq!(
            owners(file, "db/schema.sql"),
            ["@everyone", "@db-docs", "@dba", "@acme/data"]
        );
        // Excluded in the Database section only.
        assert_eq!(owners(file, "db/README.md"), ["@everyone", "@db-docs"]);
    }

    #[test]
    fn bad_lines_are_skipped_and_named() {
        let (co, skipped) = CodeOwners::parse("*.rs @rust not-an-owner\n/ @root\n[a-\n");
        assert_eq!(co.owners_of("x.rs"), ["@rust"]);
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert_eq!(skipped[0].line, 1);
        assert!(skipped[0].reason.contains("not-an-owner"));
        assert_eq!(skipped[1].line, 2);
        assert_eq!(skipped[2].line, 3);
    }

    #[test]
    fn file_api_content_is_base64_in_lines() {
        assert_eq!(base64_text("KiBA\nYQo=\n").as_deref(), Some("* @a\n"));
        assert_eq!(base64_text("not base64!"), None);
    }

    #[test]
    fn owners_of_all_is_sorted_and_unique() {
        let (co, _) = CodeOwners::parse("*.rs @b\n*.md @a\nweb/ @b\n");
        assert_eq!(
            co.owners_of_all(["x.rs", "y.md", "web/z.rs", "other.txt"]),
            ["@a", "@b"]
        );
        assert!(CodeOwners::parse("# none\n").0.is_empty());
    }
}
