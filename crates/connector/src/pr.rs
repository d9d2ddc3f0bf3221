//! What a commit message says about the pull request that landed it, as
//! GitHub, GitLab and bors write their merge and squash commits. The git
//! connector recovers pull requests from it; the GitHub connector skips
//! the commits whose files come with their pull request.

/// The first non-empty line of a commit message.
pub fn subject(message: &str) -> &str {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The first non-empty line after the subject's paragraph.
fn body_title(message: &str) -> Option<&str> {
    let mut lines = message.lines().map(str::trim).skip_while(|l| l.is_empty());
    lines.next()?;
    lines
        .skip_while(|l| !l.is_empty())
        .find(|l| !l.is_empty())
        .filter(|l| !l.starts_with("See merge request"))
}

fn leading_number(s: &str) -> Option<i64> {
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() {
        None
    } else {
        digits.parse().ok()
    }
}

/// What a commit message says about the pull request it landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrHint {
    /// A merge commit of a pull request (GitHub, bors or GitLab style).
    Merge {
        number: i64,
        title: Option<String>,
        head: Option<String>,
    },
    /// A squash (or single-commit) merge whose subject ends in `(#N)`.
    Squash { number: i64, title: String },
}

/// Recognises the pull request a commit message records, if any.
pub fn recognise_pr(message: &str) -> Option<PrHint> {
    let subj = subject(message);
    if let Some(rest) = subj.strip_prefix("Merge pull request #") {
        let number = leading_number(rest)?;
        let head = rest
            .split_once(" from ")
            .map(|(_, h)| h.trim().to_string())
            .filter(|h| !h.is_empty());
        return Some(PrHint::Merge {
            number,
            title: body_title(message).map(str::to_string),
            head,
        });
    }
    if let Some(rest) = subj.strip_prefix("Auto merge of #") {
        let number = leading_number(rest)?;
        let head = rest
            .split_once(" - ")
            .map(|(_, h)| h.split(',').next().unwrap_or("").trim().to_string())
            .filter(|h| !h.is_empty());
        return Some(PrHint::Merge {
            number,
            title: body_title(message).map(str::to_string),
            head,
        });
    }
    if subj.starts_with("Merge branch ") {
        if let Some(number) = message.lines().rev().find_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("See merge request ")?;
            let (_, n) = rest.rsplit_once('!')?;
            n.parse::<i64>().ok()
        }) {
            let head = subj
                .strip_prefix("Merge branch '")
                .and_then(|r| r.split_once('\''))
                .map(|(h, _)| h.to_string());
            return Some(PrHint::Merge {
                number,
                title: body_title(message).map(str::to_string),
                head,
            });
        }
    }
    let body = subj.strip_suffix(')')?;
    let open = body.rfind("(#")?;
    let digits = &body[open + 2..];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let number = digits.parse().ok()?;
    Some(PrHint::Squash {
        number,
        title: body[..open].trim().to_string(),
    })
}
