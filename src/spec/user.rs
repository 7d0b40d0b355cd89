//! The process user: `user:` (or the image's `User`) resolved against the image's /etc/passwd
//! and /etc/group text, with `group_add`, as Docker's daemon resolves it (moby/sys/user
//! `GetExecUser` and `GetAdditionalGroups`, whose error texts are kept).

/// Docker's bound for uids and gids.
const MAX_ID: i64 = i32::MAX as i64;

/// A resolved user: what goes into `process.user`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// The primary gid first, then supplementary groups from /etc/group membership (only when the
    /// group was not given explicitly), then `group_add`, as Docker lists them.
    pub additional_gids: Vec<u32>,
    /// The matched passwd entry's home directory, if any.
    pub home: Option<String>,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: i64,
    gid: i64,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: i64,
    members: Vec<&'a str>,
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Go's `strconv.Atoi` failure leaves 0 in moby's parser; a bad field therefore reads as 0.
fn num(s: Option<&str>) -> i64 {
    s.and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn passwd_entries(text: &str) -> Vec<PasswdEntry<'_>> {
    lines(text)
        .map(|l| {
            let mut f = l.split(':');
            let name = f.next().unwrap_or("");
            let _password = f.next();
            let uid = num(f.next());
            let gid = num(f.next());
            let _gecos = f.next();
            let home = f.next().unwrap_or("");
            PasswdEntry {
                name,
                uid,
                gid,
                home,
            }
        })
        .collect()
}

fn group_entries(text: &str) -> Vec<GroupEntry<'_>> {
    lines(text)
        .map(|l| {
            let mut f = l.split(':');
            let name = f.next().unwrap_or("");
            let _password = f.next();
            let gid = num(f.next());
            let members = f
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|m| !m.is_empty())
                .collect();
            GroupEntry { name, gid, members }
        })
        .collect()
}

fn in_range(id: i64) -> Result<u32, String> {
    if (0..=MAX_ID).contains(&id) {
        // the range check above makes the conversion exact
        Ok(id as u32)
    } else {
        Err(format!("uids and gids must be in range 0-{MAX_ID}"))
    }
}

/// Resolves `spec` (`name`, `uid`, `name:group`, `uid:gid`, empty = root) against the image's
/// passwd and group files (`None` when the image has none), and appends `group_add`.
/// The error is Docker's text, e.g. `unable to find user x: no matching entries in passwd file`.
pub fn resolve_user(
    spec: &str,
    group_add: &[String],
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, String> {
    let mut fields = spec.split(':');
    let user_arg = fields.next().unwrap_or("");
    let group_arg = fields.next().unwrap_or("");

    let users = passwd.map(passwd_entries).unwrap_or_default();
    let uid_arg: Option<i64> = user_arg.parse().ok();
    let matched = users.iter().find(|u| {
        if user_arg.is_empty() {
            u.uid == 0
        } else if let Some(uid) = uid_arg {
            u.uid == uid
        } else {
            u.name == user_arg
        }
    });

    let (mut uid, mut gid, mut home, mut matched_name) = (0i64, 0i64, None, None);
    match matched {
        Some(u) => {
            uid = u.uid;
            gid = u.gid;
            home = Some(u.home.to_string());
            matched_name = Some(u.name);
        }
        None if !user_arg.is_empty() => match uid_arg {
            Some(n) => {
                in_range(n)?;
                uid = n;
            }
            None => {
                return Err(format!(
                    "unable to find user {user_arg}: no matching entries in passwd file"
                ))
            }
        },
        None => {}
    }

    let groups = group.map(group_entries).unwrap_or_default();
    let mut sgids = Vec::new();
    if !group_arg.is_empty() || matched_name.is_some() {
        if !group_arg.is_empty() {
            let found = groups
                .iter()
                .find(|g| g.name == group_arg || g.gid.to_string() == group_arg);
            match found {
                Some(g) => gid = g.gid,
                None => match group_arg.parse::<i64>() {
                    Ok(n) => {
                        in_range(n)?;
                        gid = n;
                    }
                    Err(_) => {
                        return Err(format!(
                            "unable to find group {group_arg}: no matching entries in group file"
                        ))
                    }
                },
            }
        } else if let Some(name) = matched_name {
            sgids = groups
                .iter()
                .filter(|g| g.members.contains(&name))
                .map(|g| g.gid)
                .collect();
        }
    }

    let mut additional = vec![in_range(gid)?];
    for g in sgids {
        additional.push(in_range(g)?);
    }
    for g in additional_groups(group_add, &groups)? {
        additional.push(g);
    }
    Ok(ResolvedUser {
        uid: in_range(uid)?,
        gid: in_range(gid)?,
        additional_gids: additional,
        home,
    })
}

/// `group_add`: names or gids; a name must exist in the image's /etc/group.
fn additional_groups(wanted: &[String], groups: &[GroupEntry<'_>]) -> Result<Vec<u32>, String> {
    let mut out: Vec<u32> = Vec::new();
    for ag in wanted {
        let found = groups
            .iter()
            .find(|g| g.name == ag || g.gid.to_string() == *ag);
        let gid = match found {
            Some(g) => in_range(g.gid)?,
            None => match ag.parse::<i64>() {
                Ok(n) => in_range(n)?,
                Err(_) => {
                    return Err(format!(
                        "Unable to find group {ag}: no matching entries in group file"
                    ))
                }
            },
        };
        if !out.contains(&gid) {
            out.push(gid);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        # a comment\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        app:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:root\nbin:x:1:root,bin,daemon\nwheel:x:10:root,app\n\
        nogroup:x:65534:\napp:x:1000:\nvideo:x:44:app\n";

    fn r(spec: &str, add: &[&str]) -> Result<ResolvedUser, String> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve_user(spec, &add, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn empty_user_is_root_with_its_memberships() {
        let u = r("", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        assert_eq!(u.additional_gids, vec![0, 0, 1, 10]);
        assert_eq!(u.home.as_deref(), Some("/root"));
    }

    #[test]
    fn name_resolves_uid_gid_and_supplementary_groups() {
        let u = r("app", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![1000, 10, 44]);
    }

    #[test]
    fn explicit_group_drops_membership_groups() {
        let u = r("app:nogroup", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 65534));
        assert_eq!(u.additional_gids, vec![65534]);
        let u = r("app:4242", &[]).unwrap();
        assert_eq!(u.gid, 4242);
    }

    #[test]
    fn numeric_user_without_entry_keeps_gid_zero() {
        let u = r("4000", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (4000, 0));
        assert_eq!(u.additional_gids, vec![0]);
        let u = r("1000", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        let u = r("4000:4000", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (4000, 4000));
    }

    #[test]
    fn unknown_names_fail_with_dockers_text() {
        assert_eq!(
            r("nobody2", &[]).unwrap_err(),
            "unable to find user nobody2: no matching entries in passwd file"
        );
        assert_eq!(
            r("app:staff", &[]).unwrap_err(),
            "unable to find group staff: no matching entries in group file"
        );
        assert_eq!(
            r("app", &["audio"]).unwrap_err(),
            "Unable to find group audio: no matching entries in group file"
        );
        assert!(r("-1", &[]).unwrap_err().contains("range"));
    }

    #[test]
    fn group_add_by_name_and_number() {
        let u = r("nobody", &["video", "123", "44"]).unwrap();
        assert_eq!(u.additional_gids, vec![65534, 44, 123]);
    }

    #[test]
    fn no_passwd_file_allows_numbers_only() {
        let u = resolve_user("12:34", &[], None, None).unwrap();
        assert_eq!((u.uid, u.gid), (12, 34));
        assert!(resolve_user("www", &[], None, None).is_err());
    }
}
