//! Process identity and group kills from /proc. A pid is checked together with its
//! start time, so cleaning up after a crash of Terrace never signals an unrelated
//! process that happens to reuse the pid.

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The fields of /proc/<pid>/stat after the command name, which may itself contain
/// spaces and parentheses.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat).
pub fn process_start_time(pid: u32) -> Option<u64> {
    // Fields after the name start at field 3, the state.
    stat_fields(pid)?.get(22 - 3)?.parse().ok()
}

/// Whether `pid` runs (a zombie does not) and, if `start` is given, is still the
/// process that started then.
pub fn is_alive(pid: u32, start: Option<u64>) -> bool {
    let Some(raw) = to_pid(pid) else { return false };
    match stat_fields(pid) {
        Some(fields) => {
            let running = !matches!(fields.first().map(String::as_str), Some("Z" | "X" | "x"));
            let same = start.is_none_or(|s| fields.get(22 - 3).and_then(|f| f.parse().ok()) == Some(s));
            running && same
        }
        // Without /proc only existence can be checked.
        None => start.is_none() && matches!(nix::sys::signal::kill(raw, None), Ok(()) | Err(Errno::EPERM)),
    }
}

/// SIGKILLs what is left of the process group `pgid` whose leader started at `start`,
/// whatever state the leader is in: alive, a zombie, or gone while the group lives on.
/// The kernel keeps a pid number in use while any process of its group lives, so when
/// no process holds the leader's pid, the members left are the job's. Only a process
/// at that pid with another start time (the number was free and reused) is spared.
pub fn kill_group(pgid: u32, start: Option<u64>) {
    let reused = match (process_start_time(pgid), start) {
        (Some(now), Some(then)) => now != then,
        _ => false,
    };
    if !reused {
        signal_group(pgid, Signal::SIGKILL);
    }
}

/// SIGKILLs the process group of every process whose environment holds `NAME=value`
/// (a run's `TERRACE_RUN_ID`): the job's processes, also those a crash left before their
/// group was recorded, and those that moved to a group of their own. Never this
/// process's own group. Returns how many groups were signalled.
pub fn kill_marked(name: &str, value: &str) -> usize {
    let marker = format!("{name}={value}");
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let own_group = nix::unistd::getpgrp().as_raw();
    let mut groups = std::collections::BTreeSet::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        if environ.split(|&b| b == 0).any(|var| var == marker.as_bytes())
            && let Some(pgid) = stat_fields(pid).and_then(|f| f.get(5 - 3).and_then(|g| g.parse::<i32>().ok()))
            && pgid != own_group
            && pid != std::process::id()
        {
            groups.insert(pgid);
        }
    }
    for &pgid in &groups {
        signal_group(pgid as u32, Signal::SIGKILL);
    }
    groups.len()
}

/// Sends `signal` to every process of group `pgid`; a group already gone is not an error.
pub(crate) fn signal_group(pgid: u32, signal: Signal) {
    if let Some(pg) = to_pid(pgid) {
        match killpg(pg, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => tracing::warn!(pgid, %signal, "cannot signal process group: {e}"),
        }
    }
}

/// Whether any process is left in group `pgid`.
pub(crate) fn group_exists(pgid: u32) -> bool {
    to_pid(pgid).is_some_and(|pg| matches!(killpg(pg, None), Ok(()) | Err(Errno::EPERM)))
}

/// Pids 0 and negatives mean "my group" or "everything" to kill(2): never pass them on.
fn to_pid(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().filter(|&p| p > 1).map(Pid::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn own_process_is_alive_with_its_start_time() {
        let me = std::process::id();
        let start = process_start_time(me);
        assert!(start.is_some());
        assert!(is_alive(me, None));
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start.map(|s| s + 1)));
    }

    #[test]
    fn absent_and_invalid_pids() {
        assert!(process_start_time(0).is_none());
        assert!(!is_alive(0, None));
        assert!(!is_alive(u32::MAX, None));
        // Above the kernel's pid_max (at most 2^22).
        assert!(!is_alive(5_000_000, None));
        kill_group(0, None);
        kill_group(u32::MAX, None);
    }

    #[test]
    fn kill_group_kills_the_whole_group_only_when_the_start_matches() {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("/bin/sh")
            .args(["-c", "sleep 1000 & echo $!; wait"])
            .process_group(0)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let sleeper: u32 = line.trim().parse().unwrap();
        let start = process_start_time(pid);

        kill_group(pid, start.map(|s| s + 1));
        assert!(is_alive(pid, start) && is_alive(sleeper, None), "a wrong start time must spare the group");

        kill_group(pid, start);
        let status = child.wait().unwrap();
        assert!(!status.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while is_alive(sleeper, None) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!is_alive(sleeper, None), "the grandchild must be killed too");
        assert!(!is_alive(pid, None));
    }

    #[test]
    fn kill_group_kills_the_members_left_after_the_leader_died() {
        use std::os::unix::process::CommandExt;
        // The leader starts a member, says its pid, and dies; the member lives on in the group.
        let mut leader = Command::new("/bin/sh")
            .args(["-c", "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!"])
            .process_group(0)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pgid = leader.id();
        let start = process_start_time(pgid);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(leader.stdout.take().unwrap()), &mut line).unwrap();
        let member: u32 = line.trim().parse().unwrap();
        leader.wait().unwrap();
        assert!(process_start_time(pgid).is_none(), "the leader is reaped");
        assert!(is_alive(member, None));

        kill_group(pgid, start);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while is_alive(member, None) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!is_alive(member, None), "the member outlived its dead leader");
    }

    #[test]
    fn kill_marked_finds_groups_by_their_environment() {
        use std::os::unix::process::CommandExt;
        let value = format!("test-{}", std::process::id());
        let mut marked = Command::new("/bin/sh")
            .args(["-c", "sleep 1000 & wait"])
            .env("TERRACE_TEST_MARK", &value)
            .process_group(0)
            .spawn()
            .unwrap();
        let mut other = Command::new("sleep").arg("1000").env("TERRACE_TEST_MARK", "another").spawn().unwrap();
        // The marked shell's environment is its own once it runs: wait for that, not a time.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let needle = format!("TERRACE_TEST_MARK={value}");
        while !std::fs::read(format!("/proc/{}/environ", marked.id()))
            .is_ok_and(|e| e.split(|&b| b == 0).any(|v| v == needle.as_bytes()))
        {
            assert!(std::time::Instant::now() < deadline);
            std::thread::yield_now();
        }
        assert_eq!(kill_marked("TERRACE_TEST_MARK", &value), 1);
        assert!(!marked.wait().unwrap().success());
        assert!(other.try_wait().unwrap().is_none(), "another run's process must be spared");
        other.kill().unwrap();
        other.wait().unwrap();
    }
}
