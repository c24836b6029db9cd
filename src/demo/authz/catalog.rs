//! The demo authorization server's scope catalog: the shape of a cloud
//! provider's after a scope-model rework, large enough that mirroring it
//! would overflow an authorize URL's `scope` parameter.

/// The scope catalog of a reworked cloud authorization server: OIDC scopes,
/// the umbrella scopes `all project:all organization:all`, and 120
/// fine-grained `project:*` / `organization:*` scopes (127 in all).
pub fn cloud_catalog() -> Vec<String> {
    const PROJECT: [&str; 40] = [
        "databases",
        "collections",
        "documents",
        "attributes",
        "indexes",
        "buckets",
        "files",
        "functions",
        "executions",
        "deployments",
        "variables",
        "sites",
        "users",
        "sessions",
        "teams",
        "memberships",
        "messages",
        "topics",
        "subscribers",
        "providers",
        "targets",
        "keys",
        "platforms",
        "webhooks",
        "domains",
        "rules",
        "migrations",
        "backups",
        "policies",
        "tokens",
        "avatars",
        "locale",
        "health",
        "logs",
        "usage",
        "realtime",
        "tables",
        "rows",
        "columns",
        "transactions",
    ];
    const ORGANIZATION: [&str; 20] = [
        "projects",
        "members",
        "invites",
        "billing",
        "invoices",
        "payments",
        "addresses",
        "credits",
        "plans",
        "usage",
        "roles",
        "keys",
        "domains",
        "audit",
        "support",
        "settings",
        "identity",
        "backups",
        "alerts",
        "budgets",
    ];
    let mut catalog: Vec<String> = [
        "openid",
        "profile",
        "email",
        "offline_access",
        "all",
        "project:all",
        "organization:all",
    ]
    .map(String::from)
    .to_vec();
    for (prefix, names) in [
        ("project", &PROJECT[..]),
        ("organization", &ORGANIZATION[..]),
    ] {
        for name in names {
            for access in ["read", "write"] {
                catalog.push(format!("{prefix}:{name}.{access}"));
            }
        }
    }
    catalog
}
