//! Reading samples back from Prometheus text, so that tests assert values
//! without depending on the full label set (a new label must not break
//! them).

/// The value of the first sample of metric `name` whose labels include
/// every `(label, value)` of `labels` (values as they appear escaped in
/// the text), or `None`.
///
/// ```
/// let text = "m{listener=\"a\",family=\"tcp4\"} 3\nm{listener=\"b\"} 4\n";
/// assert_eq!(raindrops_testutil::exposition::sample(text, "m", &[("listener", "b")]), Some(4.0));
/// assert_eq!(raindrops_testutil::exposition::sample(text, "m", &[("listener", "c")]), None);
/// ```
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (lbls, value) = match rest.strip_prefix('{') {
            Some(r) => {
                let end = r.rfind('}')?;
                (&r[..end], r[end + 1..].trim())
            }
            None if rest.starts_with(' ') => ("", rest.trim()),
            None => return None,
        };
        let ok = labels
            .iter()
            .all(|(k, v)| lbls.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
        let value = value.split_whitespace().next()?;
        ok.then(|| value.parse().ok()).flatten()
    })
}
