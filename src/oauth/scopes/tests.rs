use super::*;

fn s(list: &str) -> Vec<String> {
    list.split_whitespace().map(str::to_owned).collect()
}

/// The lists a [`Policy`] borrows.
struct Lists(Vec<String>, Vec<String>, usize);

impl Lists {
    fn policy(&self) -> Policy<'_> {
        Policy {
            preferred: &self.0,
            override_: &self.1,
            max_chars: self.2,
        }
    }
}

fn policy(preferred: &str, override_: &str, max_chars: usize) -> Lists {
    Lists(s(preferred), s(override_), max_chars)
}

/// A reworked cloud catalog (OIDC scopes, umbrella scopes, 120 fine-grained
/// ones), shortened.
fn cloud_catalog() -> Vec<String> {
    let mut c = s("openid profile email offline_access all project:all organization:all");
    for i in 0..120 {
        c.push(format!("project:service{i}.read"));
    }
    c
}

const CURATED: &str = "openid profile email all project:all organization:all";

#[test]
fn policy_table() {
    struct Case {
        name: &'static str,
        preferred: &'static str,
        override_: &'static str,
        catalog: Option<Vec<String>>,
        want: Result<(&'static str, Choice), ()>,
    }
    let cases = [
        Case {
            name: "curated subset of a large catalog",
            preferred: CURATED,
            override_: "",
            catalog: Some(cloud_catalog()),
            want: Ok((CURATED, Choice::Curated)),
        },
        Case {
            name: "removed scopes are dropped, order kept",
            preferred: "account.admin email teams.read openid",
            override_: "",
            catalog: Some(cloud_catalog()),
            want: Ok(("email openid", Choice::Curated)),
        },
        Case {
            name: "override replaces preferred",
            preferred: CURATED,
            override_: "project:service3.read all",
            catalog: Some(cloud_catalog()),
            want: Ok(("project:service3.read all", Choice::Override)),
        },
        Case {
            name: "override partially matching keeps the matches",
            preferred: "",
            override_: "gone all",
            catalog: Some(cloud_catalog()),
            want: Ok(("all", Choice::Override)),
        },
        Case {
            name: "strict: override matching nothing is an error",
            preferred: CURATED,
            override_: "account.admin teams.read",
            catalog: Some(cloud_catalog()),
            want: Err(()),
        },
        Case {
            name: "strict: override of only offline_access is an error",
            preferred: "",
            override_: "offline_access",
            catalog: Some(cloud_catalog()),
            want: Err(()),
        },
        Case {
            name: "custom catalog without preferred scopes is mirrored",
            preferred: CURATED,
            override_: "",
            catalog: Some(s("read write offline_access admin")),
            want: Ok(("read write admin", Choice::Mirror)),
        },
        Case {
            name: "offline_access never advertised even if preferred",
            preferred: "offline_access openid",
            override_: "",
            catalog: Some(cloud_catalog()),
            want: Ok(("openid", Choice::Curated)),
        },
        Case {
            name: "catalog entries outside the grammar are dropped from a mirror",
            preferred: "",
            override_: "",
            catalog: Some(vec![
                "ok".into(),
                "bad\"quote".into(),
                "bad\\slash".into(),
                "new\r\nline".into(),
                "".into(),
                "sp ace".into(),
                "ünïcode".into(),
                "also:ok".into(),
            ]),
            want: Ok(("ok also:ok", Choice::Mirror)),
        },
        Case {
            name: "duplicates collapse",
            preferred: "email email openid",
            override_: "",
            catalog: Some(s("openid email email")),
            want: Ok(("email openid", Choice::Curated)),
        },
        Case {
            name: "no scopes_supported: configured list advertised unverified",
            preferred: "openid offline_access all",
            override_: "",
            catalog: None,
            want: Ok(("openid all", Choice::Unverified)),
        },
        Case {
            name: "empty catalog and no override mirrors nothing",
            preferred: CURATED,
            override_: "",
            catalog: Some(Vec::new()),
            want: Ok(("", Choice::Mirror)),
        },
    ];
    for case in cases {
        let p = policy(case.preferred, case.override_, 1024);
        let got = advertise(&p.policy(), case.catalog.as_deref());
        match (got, case.want) {
            (Ok(a), Ok((scopes, choice))) => {
                assert_eq!(a.scopes, s(scopes), "{}", case.name);
                assert_eq!(a.choice, choice, "{}", case.name);
            }
            (Err(m), Err(())) => {
                assert_eq!(m.override_, p.1, "{}", case.name);
                assert!(!m.catalog_sample.is_empty(), "{}", case.name);
                assert!(
                    !m.catalog_sample.iter().any(|s| s == OFFLINE_ACCESS),
                    "{}",
                    case.name
                );
            }
            (got, want) => panic!("{}: got {got:?}, want {want:?}", case.name),
        }
    }
}

#[test]
fn mirror_of_large_catalog_is_flagged_over_max_chars() {
    let a = advertise(&policy("", "", 1024).policy(), Some(&cloud_catalog())).unwrap();
    assert_eq!(a.choice, Choice::Mirror);
    assert_eq!(a.scopes.len(), 126);
    assert!(a.chars > 1024 && a.over_max);
    assert_eq!(a.chars, a.joined().len());
}

#[test]
fn curated_set_fits_and_counts_chars() {
    let a = advertise(&policy(CURATED, "", 1024).policy(), Some(&cloud_catalog())).unwrap();
    assert_eq!(a.chars, CURATED.len());
    assert!(!a.over_max);
    assert!(a.missing.is_empty());
}

#[test]
fn missing_lists_configured_scopes_not_in_catalog() {
    let a = advertise(
        &policy("openid account.admin", "", 1024).policy(),
        Some(&cloud_catalog()),
    )
    .unwrap();
    assert_eq!(a.missing, s("account.admin"));
}

#[test]
fn mismatch_message_names_override_and_sample() {
    let m = advertise(
        &policy("", "teams.read", 1024).policy(),
        Some(&cloud_catalog()),
    )
    .unwrap_err();
    let text = m.to_string();
    assert!(text.contains("teams.read"), "{text}");
    assert!(text.contains("127 scopes"), "{text}");
    assert!(text.contains("project:all"), "{text}");
    assert_eq!(m.catalog_sample.len(), 10);
}

#[test]
fn scope_token_grammar() {
    for ok in ["a", "project:all", "!#[]^~", "x.y-z_1"] {
        assert!(is_scope_token(ok), "{ok}");
    }
    for bad in ["", " ", "a b", "a\"b", "a\\b", "a\nb", "é", "\u{7f}"] {
        assert!(!is_scope_token(bad), "{bad:?}");
    }
}

#[test]
fn hierarchy_is_followed_transitively() {
    let implies: std::collections::BTreeMap<String, Vec<String>> = [
        ("all".to_owned(), s("project:all organization:all")),
        ("project:all".to_owned(), s("project:functions.write")),
        ("loop".to_owned(), s("loop")),
    ]
    .into_iter()
    .collect();
    let needed = s("project:functions.write organization:all");
    assert!(unmet(&s("all"), &needed, &implies).is_empty());
    assert_eq!(unmet(&s("project:all"), &needed, &implies), [&needed[1]]);
    assert_eq!(unmet(&s("loop"), &needed, &implies).len(), 2);
    assert_eq!(
        unmet(
            &s("project:functions.write organization:all"),
            &needed,
            &Default::default()
        )
        .len(),
        0
    );
}
