//! Evaluates the explicit variables one job sees, references included. The same code
//! runs when a job starts (real outputs, secrets and environment) and in `validate`
//! (placeholders), so both agree on what is unknown, cyclic or not set. Iterative, so a
//! chain of thousands of variables cannot overflow the stack.

use std::collections::{BTreeSet, HashMap};

use super::{Scope, ScopeKind};
use crate::refs::{Piece, Reference, pieces};

/// Where a variable is defined: the index of its scope and its name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Site {
    pub scope: usize,
    pub name: String,
}

/// A reference that could not be resolved, where it is written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Failure {
    pub site: Site,
    /// Byte offset of the reference in the variable's value.
    pub offset: usize,
    /// The reference as written, e.g. `${outputs.net.vpc_id}`.
    pub written: String,
    pub kind: FailureKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// `${NAME}` names no variable this job sees and no built-in.
    Unknown(String),
    /// Variables that refer to each other, from the one written at `site` back to it.
    Cycle(Vec<Site>),
    /// A source could not answer (a missing output, secret, environment variable).
    Lookup(String),
}

/// Why a variable is not set for this job: it needs an output of `job`, which is not
/// upstream of the job (written at `site`, as `written`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unset {
    pub site: Site,
    pub written: String,
    pub job: String,
}

/// What a variable is worth for one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Set {
        value: String,
        /// A secret, or made from a secret, a sensitive output or a secret variable.
        secret: bool,
        /// Jobs whose outputs the value uses, directly or through other variables.
        outputs: BTreeSet<String>,
    },
    Unset(Unset),
    Failed(Failure),
}

/// What references resolve against.
pub trait Sources {
    /// A built-in's value; `None` when `name` is no built-in, `Some(Err)` when it is one
    /// this run does not know.
    fn builtin(&self, name: &str) -> Option<Result<String, String>>;
    /// Whether `job` is upstream of the job being resolved (its outputs may be used).
    fn upstream(&self, job: &str) -> bool;
    /// An output's value and whether it is sensitive.
    fn output(&self, job: &str, name: &str) -> Result<(String, bool), String>;
    fn secret(&self, name: &str) -> Result<String, String>;
    fn env(&self, name: &str) -> Result<String, String>;
}

/// The longest value a variable may get: Linux refuses to start a process with one
/// environment string over 128 KiB.
pub const MAX_VALUE_BYTES: usize = 128 * 1024;

/// The most bytes one run's values may add up to, so that values doubling each other
/// (`A1: ${A0}${A0}` ...) or a long chain cannot exhaust memory or time.
pub const MAX_TOTAL_BYTES: usize = 16 * 1024 * 1024;

/// Appends `text` to the value being built, within both limits.
fn grow(built: &mut usize, values: bool, frame: &mut Frame<'_>, text: &str) -> Result<(), String> {
    if !values {
        return Ok(());
    }
    if frame.value.len() + text.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "the value would be longer than {} KiB, the most one environment variable may hold",
            MAX_VALUE_BYTES / 1024
        ));
    }
    if *built + text.len() > MAX_TOTAL_BYTES {
        return Err(format!("the run's variables would add up to more than {} MiB", MAX_TOTAL_BYTES / (1024 * 1024)));
    }
    *built += text.len();
    frame.value.push_str(text);
    Ok(())
}

/// One variable being evaluated.
struct Frame<'a> {
    name: &'a str,
    scope: usize,
    pieces: Vec<Piece<'a>>,
    next: usize,
    value: String,
    secret: bool,
    outputs: BTreeSet<String>,
}

enum State {
    InProgress,
    Done(Status),
}

/// Lazily evaluates the variables of `scopes` (lowest first; a later scope's
/// definition of a name hides the earlier ones).
pub struct Evaluator<'a, S: Sources> {
    scopes: &'a [Scope<'a>],
    sources: &'a S,
    states: HashMap<&'a str, State>,
    /// False when only the statuses matter (`validate`): values are not built, so a long
    /// chain of variables costs linear time, not quadratic.
    values: bool,
    /// Bytes of values built so far (bounded by `MAX_TOTAL_BYTES`).
    built: usize,
    /// Statuses already known (from an evaluation of the same variables), used instead of
    /// evaluating again.
    known: Option<&'a Known<'a>>,
}

/// Answers the status of a variable when it is already known.
pub type Known<'a> = dyn Fn(&str) -> Option<Status> + 'a;

impl<'a, S: Sources> Evaluator<'a, S> {
    pub fn new(scopes: &'a [Scope<'a>], sources: &'a S) -> Self {
        Evaluator { scopes, sources, states: HashMap::new(), values: true, built: 0, known: None }
    }

    /// Takes the status of a variable from `known` when it answers, before evaluating it.
    pub fn with_known(mut self, known: &'a Known<'a>) -> Self {
        self.known = Some(known);
        self
    }

    /// The known status of `name`, recorded as done; false when there is none.
    fn take_known(&mut self, name: &'a str) -> bool {
        match self.known.and_then(|known| known(name)) {
            Some(status) => {
                self.states.insert(name, State::Done(status));
                true
            }
            None => false,
        }
    }

    /// An evaluator that decides statuses only; every `Set` value is empty.
    pub fn statuses_only(scopes: &'a [Scope<'a>], sources: &'a S) -> Self {
        Evaluator { values: false, ..Evaluator::new(scopes, sources) }
    }

    /// The scope whose definition of `name` the job sees.
    pub fn binding(&self, name: &str) -> Option<usize> {
        self.scopes.iter().rposition(|s| s.vars.contains_key(name))
    }

    /// The status of the variable `name` (which must be defined in some scope).
    pub fn status(&mut self, name: &'a str) -> &Status {
        if !matches!(self.states.get(name), Some(State::Done(_))) && !self.take_known(name) {
            self.evaluate(name);
        }
        match self.states.get(name) {
            Some(State::Done(status)) => status,
            _ => unreachable!("evaluate leaves every variable it starts done"),
        }
    }

    fn frame(&self, name: &'a str, scope: usize) -> Result<Frame<'a>, Failure> {
        let value = &self.scopes[scope].vars[name].value;
        let pieces = pieces(value).map_err(|e| Failure {
            site: Site { scope, name: name.to_string() },
            offset: e.offset,
            written: e.written.clone(),
            kind: FailureKind::Lookup(e.message),
        })?;
        let secret = self.scopes[scope].vars[name].secret;
        Ok(Frame { name, scope, pieces, next: 0, value: String::new(), secret, outputs: BTreeSet::new() })
    }

    fn evaluate(&mut self, root: &'a str) {
        let Some(scope) = self.binding(root) else { return };
        let mut stack: Vec<Frame<'a>> = Vec::new();
        self.states.insert(root, State::InProgress);
        match self.frame(root, scope) {
            Ok(f) => stack.push(f),
            Err(failure) => {
                self.states.insert(root, State::Done(Status::Failed(failure)));
                return;
            }
        }
        while !stack.is_empty() {
            let t = stack.len() - 1;
            let Some(piece) = stack[t].pieces.get(stack[t].next).copied() else {
                let f = stack.pop().expect("a frame");
                let status = Status::Set { value: f.value, secret: f.secret, outputs: f.outputs };
                self.states.insert(f.name, State::Done(status));
                continue;
            };
            let (reference, offset) = match piece {
                Piece::Text(text) => {
                    if let Err(why) = grow(&mut self.built, self.values, &mut stack[t], text) {
                        let f = stack.pop().expect("a frame");
                        let site = Site { scope: f.scope, name: f.name.to_string() };
                        let failure =
                            Failure { site, offset: 0, written: String::new(), kind: FailureKind::Lookup(why) };
                        self.states.insert(f.name, State::Done(Status::Failed(failure)));
                    } else {
                        stack[t].next += 1;
                    }
                    continue;
                }
                Piece::Ref { reference, offset } => (reference, offset),
            };
            let here = Site { scope: stack[t].scope, name: stack[t].name.to_string() };
            let fail =
                |kind| Status::Failed(Failure { site: here.clone(), offset, written: reference.to_string(), kind });
            // Some(status) ends this frame early; None goes on to the next piece.
            let end: Option<Status> = match reference {
                Reference::Var(name) => match self.binding(name) {
                    Some(scope) => match self.states.get(name) {
                        Some(State::Done(Status::Set { value, secret, outputs })) => {
                            let top = &mut stack[t];
                            top.secret |= *secret;
                            top.outputs.extend(outputs.iter().cloned());
                            grow(&mut self.built, self.values, top, value)
                                .err()
                                .map(|why| fail(FailureKind::Lookup(why)))
                        }
                        Some(State::Done(other)) => Some(other.clone()),
                        Some(State::InProgress) => {
                            let from = stack.iter().position(|f| f.name == name).unwrap_or(0);
                            let path = stack[from..]
                                .iter()
                                .map(|f| Site { scope: f.scope, name: f.name.to_string() })
                                .collect();
                            Some(fail(FailureKind::Cycle(path)))
                        }
                        None => {
                            if self.take_known(name) {
                                continue;
                            }
                            self.states.insert(name, State::InProgress);
                            match self.frame(name, scope) {
                                Ok(f) => stack.push(f),
                                Err(failure) => {
                                    self.states.insert(name, State::Done(Status::Failed(failure)));
                                }
                            }
                            // The same piece is read again once `name` is done.
                            continue;
                        }
                    },
                    None => match self.sources.builtin(name) {
                        Some(Ok(value)) => grow(&mut self.built, self.values, &mut stack[t], &value)
                            .err()
                            .map(|why| fail(FailureKind::Lookup(why))),
                        Some(Err(why)) => Some(fail(FailureKind::Lookup(why))),
                        None => Some(fail(FailureKind::Unknown(name.to_string()))),
                    },
                },
                Reference::Output { job, .. } if !self.sources.upstream(job) => Some(Status::Unset(Unset {
                    site: here.clone(),
                    written: reference.to_string(),
                    job: job.to_string(),
                })),
                Reference::Output { job, name } => match self.sources.output(job, name) {
                    Ok((value, sensitive)) => {
                        let top = &mut stack[t];
                        top.secret |= sensitive;
                        top.outputs.insert(job.to_string());
                        grow(&mut self.built, self.values, top, &value).err().map(|why| fail(FailureKind::Lookup(why)))
                    }
                    Err(why) => Some(fail(FailureKind::Lookup(why))),
                },
                Reference::Secret(name) => match self.sources.secret(name) {
                    Ok(value) => {
                        stack[t].secret = true;
                        grow(&mut self.built, self.values, &mut stack[t], &value)
                            .err()
                            .map(|why| fail(FailureKind::Lookup(why)))
                    }
                    Err(why) => Some(fail(FailureKind::Lookup(why))),
                },
                Reference::Env(name) => match self.sources.env(name) {
                    Ok(value) => grow(&mut self.built, self.values, &mut stack[t], &value)
                        .err()
                        .map(|why| fail(FailureKind::Lookup(why))),
                    Err(why) => Some(fail(FailureKind::Lookup(why))),
                },
            };
            match end {
                None => stack[t].next += 1,
                Some(status) => {
                    let f = stack.pop().expect("a frame");
                    self.states.insert(f.name, State::Done(status));
                }
            }
        }
    }

    /// How many variables have been evaluated (a measure of the work done).
    pub fn work(&self) -> usize {
        self.states.len()
    }

    /// The scope's kind of a site (for messages and rules).
    pub fn kind(&self, site: &Site) -> ScopeKind {
        self.scopes[site.scope].kind
    }
}
