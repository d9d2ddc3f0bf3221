//! How people appear in reports: by name, never by e-mail address.
//!
//! Git stores authors as `Name <address>`, and push payloads can carry a
//! bare address. Reports, explain and the API show only the name part; a
//! bare address shows as nobody.

/// The name of `raw` without any e-mail address, or `None` when nothing
/// but an address (or nothing at all) is left.
pub fn display_name(raw: &str) -> Option<String> {
    let mut name = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.find('<') {
        name.push_str(&rest[..open]);
        rest = match rest[open..].find('>') {
            Some(close) => &rest[open + close + 1..],
            None => "",
        };
    }
    name.push_str(rest);
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    (!name.is_empty() && !name.contains('@')).then_some(name)
}

/// [`display_name`] over an optional author.
pub fn display(raw: Option<String>) -> Option<String> {
    raw.as_deref().and_then(display_name)
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn names_lose_their_addresses() {
        assert_eq!(
            display_name("Ada Lovelace <ada@example.com>").as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(display_name("octocat").as_deref(), Some("octocat"));
        assert_eq!(display_name("<ada@example.com>"), None);
        assert_eq!(display_name("ada@example.com"), None);
        assert_eq!(display_name("  "), None);
        assert_eq!(display_name("Eve <eve@x"), Some("Eve".into()));
    }
}
