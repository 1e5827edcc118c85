//! Whether a symlink of a snapshot stays inside it. The target is resolved the way the
//! kernel would, component by component, following the snapshot's other symlinks: a
//! purely lexical check is fooled by `r -> .` and `sub/x -> ../r/..`.

use std::collections::HashMap;

/// Symlinks hops allowed in one resolution, as Linux's `MAXSYMLINKS`.
const MAX_HOPS: u32 = 40;

/// Why a target is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Escape {
    Absolute,
    Outside,
    Loop,
}

/// Checks the symlink at `link` (a path relative to the snapshot's root) given every
/// symlink of the snapshot, `links`, keyed by path.
pub(crate) fn check(links: &HashMap<Vec<u8>, Vec<u8>>, link: &[u8]) -> Result<(), Escape> {
    let target = links.get(link).ok_or(Escape::Outside)?;
    let mut dir: Vec<&[u8]> = link.split(|&b| b == b'/').collect();
    dir.pop();
    let mut hops = 0;
    resolve(links, dir, target, &mut hops).map(|_| ())
}

fn resolve<'a>(
    links: &'a HashMap<Vec<u8>, Vec<u8>>,
    mut at: Vec<&'a [u8]>,
    target: &'a [u8],
    hops: &mut u32,
) -> Result<Vec<&'a [u8]>, Escape> {
    if target.starts_with(b"/") {
        return Err(Escape::Absolute);
    }
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                at.pop().ok_or(Escape::Outside)?;
            }
            name => {
                at.push(name);
                if let Some(next) = links.get(&at.join(&b'/')) {
                    *hops += 1;
                    if *hops > MAX_HOPS {
                        return Err(Escape::Loop);
                    }
                    at.pop();
                    at = resolve(links, at, next, hops)?;
                }
            }
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(pairs: &[(&str, &str)]) -> HashMap<Vec<u8>, Vec<u8>> {
        pairs.iter().map(|(l, t)| (l.as_bytes().to_vec(), t.as_bytes().to_vec())).collect()
    }

    fn verdict(pairs: &[(&str, &str)], link: &str) -> Result<(), Escape> {
        check(&links(pairs), link.as_bytes())
    }

    #[test]
    fn links_inside_pass() {
        assert_eq!(verdict(&[("a", "b/c")], "a"), Ok(()));
        assert_eq!(verdict(&[("d/x", "../y")], "d/x"), Ok(()));
        assert_eq!(verdict(&[("r", ".")], "r"), Ok(()));
        assert_eq!(verdict(&[("d/e/x", "../../f")], "d/e/x"), Ok(()));
        assert_eq!(verdict(&[("s", "sub/.."), ("sub", "d1/d2")], "s"), Ok(()));
    }

    #[test]
    fn links_outside_are_refused() {
        assert_eq!(verdict(&[("a", "/etc/passwd")], "a"), Err(Escape::Absolute));
        assert_eq!(verdict(&[("a", "..")], "a"), Err(Escape::Outside));
        assert_eq!(verdict(&[("d/x", "../../y")], "d/x"), Err(Escape::Outside));
        // Lexically `sub/../r/..` is the root; physically `r` is the root and `..` leaves it.
        assert_eq!(verdict(&[("r", "."), ("sub/x", "../r/..")], "sub/x"), Err(Escape::Outside));
        // A link through a link that itself leads up.
        assert_eq!(verdict(&[("d/up", ".."), ("x", "d/up/d/up/..")], "x"), Err(Escape::Outside));
        assert_eq!(verdict(&[("a", "b"), ("b", "a")], "a"), Err(Escape::Loop));
    }
}
