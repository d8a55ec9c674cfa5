//! Property tests (issue #3, section 4): arbitrary field values, under
//! exotic field names, round-trip through layer -> database -> store without
//! panics and without lost records.
//!
//! Every case records one workflow with one step. The same fields are given
//! to the workflow span (its `params`), to the step span (its
//! `input_params`) and to an INFO event inside the step (that log event's
//! `fields`); all three must read back exactly as expected, and the run must
//! hold exactly one step, one log event and its four status changes. The
//! cases of one property share a database and a writer (each case flushes
//! before reading back; building a writer per case costs more than the
//! case), so every case also checks that the database holds exactly one run
//! per case so far, and the writer's final stats that nothing was dropped
//! or lost.
//!
//! Every property runs on both databases (see `backends!`). They differ in
//! two places, by PostgreSQL's nature: `numeric` has no negative zero (see
//! [`stored_float`]) and text holds no NUL (see [`stored_text`]).

mod support;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;

use proptest::prelude::*;
use proptest::test_runner::{TestCaseResult, TestError, TestRunner};
use serde_json::{Value as Json, json};
use support::TestDb;
use tracing::{Dispatch, info, info_span};
use workflow_history::{
    EventKind, HistoryGuard, HistoryLayer, HistoryLayerBuilder, HistoryStore, JsonMap, RunEvent,
    RunFilter, StepRun, StepStatus, WorkflowRun, WorkflowStatus,
};

// ---------------------------------------------------------------------------
// Recording one case and reading it back
// ---------------------------------------------------------------------------

/// Field names are `&'static str` in `tracing`, so they cannot be generated:
/// these literals are used by every property, with generated values.
const NAMES: [&str; 4] = ["ünïcödé", "with space", "dots.in.name", "emoji😀"];

/// What one case left in the database.
struct Recorded {
    run: WorkflowRun,
    step: StepRun,
    log: RunEvent,
}

impl Recorded {
    /// The three places the case's fields land, named.
    fn places(&self) -> [(&'static str, &JsonMap); 3] {
        [
            ("run params", &self.run.params),
            ("step input_params", &self.step.input_params),
            ("log event fields", &self.log.fields),
        ]
    }
}

/// One database and writer shared by the cases of one property.
struct Session<'db> {
    db: &'db TestDb,
    dispatch: Dispatch,
    guard: HistoryGuard,
    store: HistoryStore,
    cases: Cell<u64>,
    /// Why the writer could not commit a case, once that happened.
    broken: RefCell<Option<String>>,
}

impl<'db> Session<'db> {
    fn new(db: &'db TestDb) -> Self {
        Session::with(db, |builder| builder)
    }

    fn with(
        db: &'db TestDb,
        configure: impl FnOnce(HistoryLayerBuilder) -> HistoryLayerBuilder,
    ) -> Self {
        let (dispatch, guard) = db.dispatch(configure(db.builder()));
        let store = db.store();
        Session {
            db,
            dispatch,
            guard,
            store,
            cases: Cell::new(0),
            broken: RefCell::new(None),
        }
    }

    /// A run id no other case of this session has.
    fn next_run_id(&self) -> String {
        let n = self.cases.get() + 1;
        self.cases.set(n);
        format!("case-{n}")
    }

    /// Runs `body` with the layer as this thread's subscriber, then waits
    /// until everything it recorded is committed. A case the writer cannot
    /// commit fails, and breaks the session: the writer keeps retrying it.
    fn record(&self, body: impl FnOnce()) -> TestCaseResult {
        tracing::dispatcher::with_default(&self.dispatch, body);
        self.guard.flush().map_err(|e| {
            let why = format!("the writer could not commit this case: {e}");
            *self.broken.borrow_mut() = Some(why.clone());
            TestCaseError::fail(why)
        })
    }

    /// Reads back run `run_id`, its only step and its only log event,
    /// checking that nothing was lost or duplicated on the way.
    ///
    /// The checks return errors rather than panic, so that proptest shrinks
    /// a failing case quietly and reports the smallest one.
    fn read_back(&self, run_id: &str) -> Result<Recorded, TestCaseError> {
        let runs = self
            .store
            .count_runs(&RunFilter::default())
            .expect("count runs");
        prop_assert_eq!(runs, self.cases.get(), "runs in the database, one per case");
        let run = self.store.get_run(run_id).expect("get run");
        let Some(run) = run else {
            return Err(TestCaseError::fail(format!(
                "run {run_id} was not recorded"
            )));
        };
        prop_assert_eq!(&run.workflow_name, "properties");
        prop_assert_eq!(run.status, WorkflowStatus::Completed, "{:#?}", run);
        prop_assert_eq!(&run.error, &None);
        let steps = self.store.get_steps(run_id).expect("get steps");
        prop_assert_eq!(steps.len(), 1, "expected exactly one step: {:#?}", steps);
        let step = steps.into_iter().next().expect("one step");
        prop_assert_eq!(&step.step_name, "carry");
        prop_assert_eq!(step.status, StepStatus::Completed, "{:#?}", step);

        let events = self.store.get_events(run_id).expect("get events");
        let (logs, status): (Vec<RunEvent>, Vec<RunEvent>) =
            events.into_iter().partition(|e| e.kind == EventKind::Log);
        prop_assert_eq!(logs.len(), 1, "expected exactly one log event: {:#?}", logs);
        let transitions: Vec<(Option<&str>, Json)> = status
            .iter()
            .map(|e| (e.step_id.as_deref(), Json::Object(e.fields.clone())))
            .collect();
        let step_id = Some(step.step_id.as_str());
        prop_assert_eq!(
            transitions,
            vec![
                (None, json!({"old": "PENDING", "new": "RUNNING"})),
                (step_id, json!({"old": "PENDING", "new": "RUNNING"})),
                (step_id, json!({"old": "RUNNING", "new": "COMPLETED"})),
                (None, json!({"old": "RUNNING", "new": "COMPLETED"})),
            ],
            "status events"
        );
        let log = logs.into_iter().next().expect("one log event");
        prop_assert_eq!(log.step_id.as_deref(), step_id);
        prop_assert_eq!(log.level.as_deref(), Some("INFO"));
        prop_assert_eq!(log.message.as_deref(), Some("values"));
        Ok(Recorded { run, step, log })
    }

    /// Stops the writer: nothing may have been dropped or lost, and the
    /// database holds exactly one run per case.
    fn finish(self) {
        let stats = self.guard.shutdown().expect("clean shutdown");
        assert_eq!(stats.messages_dropped, 0, "{stats:?}");
        assert_eq!(stats.records_lost, 0, "{stats:?}");
        assert_eq!(stats.write_errors, 0, "{stats:?}");
        let runs = self.db.runs();
        assert_eq!(runs.len() as u64, self.cases.get(), "one run per case");
    }
}

/// Runs `case` on values of `strategy` (128 cases, then shrinking on
/// failure) against one session, and fails with the smallest failing input.
///
/// Once the writer could not commit a case, every later case would fail
/// for that alone, so they are passed over: the input reported is then the
/// one that broke the writer, not shrunk.
fn check<S>(session: Session, strategy: S, case: impl Fn(&Session, S::Value) -> TestCaseResult)
where
    S: Strategy,
{
    let mut runner = TestRunner::new(config());
    let result = runner.run(&strategy, |value| {
        if session.broken.borrow().is_some() {
            return Ok(());
        }
        case(&session, value)
    });
    match result {
        Ok(()) => session.finish(),
        Err(TestError::Fail(reason, value)) => {
            let which = if session.broken.borrow().is_some() {
                "failing input (not shrunk: the writer stopped committing)"
            } else {
                "minimal failing input"
            };
            // Inputs can be hundreds of KB: show their start.
            let mut shown = format!("{value:?}");
            if let Some((cut, _)) = shown.char_indices().nth(2000) {
                shown.truncate(cut);
                shown.push('…');
            }
            panic!("Test failed: {reason}\n{which}: {shown}");
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// Records `$fields` (the inside of a field list, without a trailing comma)
/// in session `$session` on a workflow span, on a step span inside it and
/// on an INFO event inside the step, then reads the case back.
macro_rules! round_trip {
    ($session:expr, $($fields:tt)*) => {{
        let session: &Session = $session;
        let id = session.next_run_id();
        session
            .record(|| {
                info_span!("workflow", workflow = "properties", run_id = id.as_str(), $($fields)*)
                    .in_scope(|| {
                        info_span!("step", step = "carry", $($fields)*).in_scope(|| {
                            info!($($fields)*, "values");
                        });
                    });
            })
            .and_then(|()| session.read_back(&id))
    }};
}

/// The same JSON, also telling `0.0` from `-0.0` (which `==` on JSON
/// numbers does not): the serialized text of identical values is identical.
fn check_same_map(actual: &JsonMap, expected: &JsonMap, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(actual, expected, "{}", what);
    prop_assert_eq!(
        serde_json::to_string(actual).unwrap(),
        serde_json::to_string(expected).unwrap(),
        "{} (exact text)",
        what
    );
    Ok(())
}

/// The three places a case's fields land all hold exactly `expected`.
fn check_fields(recorded: &Recorded, expected: &JsonMap) -> TestCaseResult {
    for (what, fields) in recorded.places() {
        check_same_map(fields, expected, what)?;
    }
    Ok(())
}

fn map(pairs: impl IntoIterator<Item = (&'static str, Json)>) -> JsonMap {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

// ---------------------------------------------------------------------------
// Expected values
// ---------------------------------------------------------------------------

/// A float as stored: finite as the same number, non-finite by name.
fn float_json(f: f64) -> Json {
    if f.is_nan() {
        json!("NaN")
    } else if f == f64::INFINITY {
        json!("inf")
    } else if f == f64::NEG_INFINITY {
        json!("-inf")
    } else {
        Json::Number(serde_json::Number::from_f64(f).expect("finite"))
    }
}

/// A float as `db` gives it back: the very same float, a float still,
/// but for one thing PostgreSQL cannot keep: `jsonb` holds numbers as
/// `numeric`, which has no negative zero, so `-0.0` comes back as `0.0`.
fn stored_float(db: &TestDb, f: f64) -> Json {
    if db.is_postgres() && f == 0.0 {
        float_json(0.0)
    } else {
        float_json(f)
    }
}

/// Text as `db` gives it back: PostgreSQL stores no NUL, and the library
/// stores U+FFFD in its place there.
fn stored_text(db: &TestDb, text: &str) -> String {
    if db.is_postgres() {
        text.replace('\0', "\u{FFFD}")
    } else {
        text.to_owned()
    }
}

/// An integer of any width as stored: a JSON number when it fits a 64-bit
/// integer (signed or unsigned, as `i64`/`u64` fields are), else its
/// decimal text.
fn wide_int_json(n: i128) -> Json {
    if let Ok(small) = i64::try_from(n) {
        json!(small)
    } else if let Ok(small) = u64::try_from(n) {
        json!(small)
    } else {
        json!(n.to_string())
    }
}

fn wide_uint_json(n: u128) -> Json {
    match u64::try_from(n) {
        Ok(small) => json!(small),
        Err(_) => json!(n.to_string()),
    }
}

/// Checks the stored text of an input that may have been cut at
/// `max_bytes`: unchanged if it fits; else the longest prefix that fits,
/// cut on a char boundary, then `…[truncated N bytes]` with N the bytes cut.
fn check_bounded(
    stored: &Json,
    input: &str,
    max_bytes: usize,
    what: &str,
) -> Result<(), TestCaseError> {
    const MARKER: &str = "…[truncated ";
    let Some(stored) = stored.as_str() else {
        return Err(TestCaseError::fail(format!(
            "{what}: not a string: {stored}"
        )));
    };
    if input.len() <= max_bytes {
        prop_assert_eq!(stored, input, "{}: fits, so kept whole", what);
        return Ok(());
    }
    let Some(at) = stored.rfind(MARKER) else {
        return Err(TestCaseError::fail(format!(
            "{what}: {} bytes over the limit of {max_bytes} but no marker: {stored:?}",
            input.len()
        )));
    };
    let (kept, marker) = stored.split_at(at);
    let Some(cut) = marker[MARKER.len()..]
        .strip_suffix(" bytes]")
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return Err(TestCaseError::fail(format!(
            "{what}: malformed marker {marker:?}"
        )));
    };
    prop_assert!(
        input.starts_with(kept),
        "{}: kept text {:?} is not a prefix of the input",
        what,
        kept
    );
    prop_assert!(
        kept.len() <= max_bytes,
        "{}: kept {} bytes, limit {}",
        what,
        kept.len(),
        max_bytes
    );
    prop_assert_eq!(kept.len() + cut, input.len(), "{}: marker count", what);
    // The longest such prefix: the next char would not have fitted.
    let next = input[kept.len()..]
        .chars()
        .next()
        .expect("something was cut");
    prop_assert!(
        kept.len() + next.len_utf8() > max_bytes,
        "{}: cut at {} although {:?} fitted under {}",
        what,
        kept.len(),
        next,
        max_bytes
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// Any char, with the awkward ones well represented: controls and NUL, the
/// astral planes, JSON's escapes, line separators, BOM, combining marks.
///
/// Without `nul`, NUL becomes U+0001: PostgreSQL stores no NUL (the library
/// stores U+FFFD there instead, which `nul_is_kept_or_replaced_never_wedging`
/// checks on its own), so its round trips are exact only without one.
fn awkward_char(nul: bool) -> impl Strategy<Value = char> {
    let any_char = prop_oneof![
        3 => any::<char>(),
        2 => prop::char::range('\u{0}', '\u{1f}'),
        2 => prop::char::range('\u{10000}', '\u{10FFFF}'),
        1 => prop::char::range('\u{80}', '\u{7ff}'),
        1 => prop::sample::select(vec![
            '\0', '"', '\\', '/', '\u{7f}', '\u{85}', '\u{2028}', '\u{2029}', '\u{FEFF}',
            '\u{FFFD}', '\u{FFFF}', '\u{301}', '…', 'é', '😀', '𝄞', '\u{10FFFF}',
        ]),
    ];
    any_char.prop_map(move |c| if c == '\0' && !nul { '\u{1}' } else { c })
}

fn awkward_string(max_chars: usize, nul: bool) -> impl Strategy<Value = String> {
    prop::collection::vec(awkward_char(nul), 0..=max_chars).prop_map(String::from_iter)
}

/// Long strings, up to a few hundred KB: a short awkward chunk repeated to
/// a length around or well past the default 64 KiB limit.
fn long_string(nul: bool) -> impl Strategy<Value = String> {
    let limit = HistoryLayer::DEFAULT_MAX_FIELD_BYTES;
    let target = prop_oneof![
        0..400_000usize,
        limit - 8..limit + 8,
        Just(limit),
        Just(limit + 1),
    ];
    (prop::collection::vec(awkward_char(nul), 1..12), target).prop_map(|(chunk, target)| {
        let chunk = String::from_iter(chunk);
        let mut s = String::with_capacity(target + chunk.len());
        while s.len() < target {
            s.push_str(&chunk);
        }
        s
    })
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        2 => prop::num::f64::SUBNORMAL | prop::num::f64::POSITIVE | prop::num::f64::NEGATIVE,
        1 => -1.0e6..1.0e6f64,
        1 => prop::sample::select(vec![
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            1.0,
            0.1,
            1e21,
            9007199254740993.0,
        ]),
    ]
}

fn wide_int() -> impl Strategy<Value = i128> {
    let (i64_min, i64_max, u64_max) = (
        i128::from(i64::MIN),
        i128::from(i64::MAX),
        i128::from(u64::MAX),
    );
    prop_oneof![
        2 => any::<i128>(),
        2 => i64_min - 2..=u64_max + 2,
        1 => prop::sample::select(vec![
            i128::MIN,
            i128::MIN + 1,
            i128::MAX,
            i64_min - 1,
            i64_min,
            -1,
            0,
            i64_max,
            i64_max + 1,
            u64_max,
            u64_max + 1,
        ]),
    ]
}

fn wide_uint() -> impl Strategy<Value = u128> {
    let u64_max = u128::from(u64::MAX);
    prop_oneof![
        2 => any::<u128>(),
        2 => 0..=u64_max + 2,
        1 => prop::sample::select(vec![0, u64_max, u64_max + 1, u128::MAX - 1, u128::MAX]),
    ]
}

fn int64() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX]),
    ]
}

fn uint64() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        prop::sample::select(vec![0, 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX]),
    ]
}

/// A nested `Debug`-only value.
type Nested = Vec<Option<(String, f64)>>;

fn nested(nul: bool) -> impl Strategy<Value = Nested> {
    prop::collection::vec(prop::option::of((awkward_string(12, nul), float())), 0..8)
}

/// An error without a source: stored as its message alone.
#[derive(Debug)]
struct Single(String);

impl fmt::Display for Single {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Single {}

/// A linked error chain: `message: source message: ...`.
#[derive(Debug)]
struct Link {
    message: String,
    source: Option<Box<Link>>,
}

impl Link {
    fn chain(messages: &[String]) -> Link {
        let (first, rest) = messages.split_first().expect("at least one message");
        Link {
            message: first.clone(),
            source: (!rest.is_empty()).then(|| Box::new(Link::chain(rest))),
        }
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Link {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        // Other people's files stay untouched: no regression file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

backends! {
    /// Short strings of any chars, empty included, as `&str` and as `Display`,
    /// come back byte for byte.
    fn strings_round_trip_exactly(db) {
        // PostgreSQL stores no NUL: see `awkward_char`.
        let nul = !db.is_postgres();
        let strategy = (
            awkward_string(64, nul),
            awkward_string(64, nul),
            awkward_string(8, nul),
            awkward_string(300, nul),
        );
        check(Session::new(db), strategy, |session, (a, b, c, d)| {
            let recorded = round_trip!(
                session,
                "ünïcödé" = a.as_str(),
                "with space" = b.as_str(),
                "dots.in.name" = c.as_str(),
                "emoji😀" = d.as_str(),
                empty = "",
                display = %a
            )?;
            let expected = map([
                (NAMES[0], json!(a)),
                (NAMES[1], json!(b)),
                (NAMES[2], json!(c)),
                (NAMES[3], json!(d)),
                ("empty", json!("")),
                ("display", json!(a)),
            ]);
            check_fields(&recorded, &expected)
        });
    }

    /// Strings up to a few hundred KB: those within the default 64 KiB come
    /// back whole, longer ones as their longest fitting prefix (cut on a char
    /// boundary) with the truncation marker.
    fn long_strings_are_kept_or_cut_with_a_marker(db) {
        // PostgreSQL stores no NUL: see `awkward_char`.
        let nul = !db.is_postgres();
        let strategy = (long_string(nul), awkward_string(16, nul));
        check(Session::new(db), strategy, |session, (long, short)| {
            let recorded = round_trip!(
                session,
                "emoji😀" = long.as_str(),
                "with space" = short.as_str()
            )?;
            let limit = HistoryLayer::DEFAULT_MAX_FIELD_BYTES;
            for (what, fields) in recorded.places() {
                let names: Vec<&String> = fields.keys().collect();
                prop_assert_eq!(fields.len(), 2, "{}: {:?}", what, names);
                check_bounded(&fields[NAMES[3]], &long, limit, what)?;
                prop_assert_eq!(&fields[NAMES[1]], &json!(short), "{}", what);
            }
            Ok(())
        });
    }

    /// With a small `max_field_bytes`, strings, `Debug` text and error chains
    /// are all cut by the same rule, at every position relative to the chars.
    fn small_limits_cut_every_kind_of_text_on_a_char_boundary(db) {
        // PostgreSQL stores no NUL: see `awkward_char`.
        let nul = !db.is_postgres();
        // Odd, so cuts fall inside multi-byte chars; and at least as long as
        // the names and run ids this test gives, which are text values too and
        // are cut alike.
        const MAX: usize = 23;
        let strategy = (
            awkward_string(40, nul),
            awkward_string(20, nul),
            prop::collection::vec(awkward_string(10, nul), 1..4),
        );
        let session = Session::with(db, |builder| builder.max_field_bytes(MAX));
        check(session, strategy, |session, (text, quoted, messages)| {
            let error = Link::chain(&messages);
            let recorded = round_trip!(
                session,
                "ünïcödé" = text.as_str(),
                "with space" = ?quoted,
                "dots.in.name" = &error as &(dyn Error + 'static)
            )?;
            let debug_text = format!("{quoted:?}");
            let chain_text = messages.join(": ");
            for (what, fields) in recorded.places() {
                prop_assert_eq!(fields.len(), 3, "{}", what);
                check_bounded(&fields[NAMES[0]], &text, MAX, what)?;
                check_bounded(&fields[NAMES[1]], &debug_text, MAX, what)?;
                check_bounded(&fields[NAMES[2]], &chain_text, MAX, what)?;
            }
            Ok(())
        });
    }

    /// Floats of every class: finite ones come back as the very same number
    /// (bit for bit, sign of zero and subnormals included; on PostgreSQL as
    /// [`stored_float`] says), non-finite ones as `"NaN"`, `"inf"`, `"-inf"`; an
    /// `f32` comes back as its `f64`.
    fn floats_round_trip_as_numbers_or_by_name(db) {
        let strategy = (float(), float(), float(), float(), any::<f32>());
        check(Session::new(db), strategy, |session, (a, b, c, d, e)| {
            let recorded = round_trip!(
                session,
                "ünïcödé" = a,
                "with space" = b,
                "dots.in.name" = c,
                "emoji😀" = d,
                single = e
            )?;
            let expected = map([
                (NAMES[0], stored_float(db, a)),
                (NAMES[1], stored_float(db, b)),
                (NAMES[2], stored_float(db, c)),
                (NAMES[3], stored_float(db, d)),
                ("single", stored_float(db, f64::from(e))),
            ]);
            check_fields(&recorded, &expected)?;
            let inputs = [(NAMES[0], a), (NAMES[1], b), (NAMES[2], c), (NAMES[3], d)];
            for (what, fields) in recorded.places() {
                for (name, input) in inputs {
                    if let Some(stored) = fields[name].as_f64() {
                        // The same float, but for PostgreSQL's zero without a sign.
                        let input = if db.is_postgres() && input == 0.0 {
                            0.0
                        } else {
                            input
                        };
                        prop_assert_eq!(
                            stored.to_bits(),
                            input.to_bits(),
                            "{} {}: {:e} vs {:e}",
                            what,
                            name,
                            stored,
                            input
                        );
                    }
                }
            }
            Ok(())
        });
    }

    /// Integers at and around every width's extremes: 64-bit ones as JSON
    /// numbers; 128-bit ones as numbers when they fit 64 bits, else as their
    /// exact decimal text.
    fn integers_of_every_width_round_trip_exactly(db) {
        let strategy = (
            int64(),
            uint64(),
            wide_int(),
            wide_uint(),
            any::<i8>(),
            any::<u32>(),
        );
        check(
            Session::new(db),
            strategy,
            |session, (a, b, c, d, small, word)| {
                let recorded = round_trip!(
                    session,
                    "ünïcödé" = a,
                    "with space" = b,
                    "dots.in.name" = c,
                    "emoji😀" = d,
                    small = small,
                    word = word
                )?;
                let expected = map([
                    (NAMES[0], json!(a)),
                    (NAMES[1], json!(b)),
                    (NAMES[2], wide_int_json(c)),
                    (NAMES[3], wide_uint_json(d)),
                    ("small", json!(small)),
                    ("word", json!(word)),
                ]);
                check_fields(&recorded, &expected)
            },
        );
    }

    /// Booleans stay booleans; nested `Debug`-only values are stored as exactly
    /// their `{:?}` text; errors as `&dyn Error` as their message followed by
    /// every source, `: `-separated.
    fn bools_debug_values_and_error_chains_round_trip(db) {
        // PostgreSQL stores no NUL: see `awkward_char`.
        let nul = !db.is_postgres();
        let keyed = prop::collection::btree_map(
            awkward_string(6, nul),
            prop::collection::vec(wide_int(), 0..3),
            0..4,
        );
        let messages = prop::collection::vec(awkward_string(24, nul), 1..5);
        let strategy = (any::<bool>(), nested(nul), keyed, messages);
        check(
            Session::new(db),
            strategy,
            |session, (flag, value, keyed, messages)| {
                let error = Link::chain(&messages);
                let single = Single(messages[0].clone());
                let keyed: BTreeMap<String, Vec<i128>> = keyed;
                let recorded = round_trip!(
                    session,
                    "ünïcödé" = flag,
                    "with space" = ?value,
                    "dots.in.name" = &error as &(dyn Error + 'static),
                    "emoji😀" = ?keyed,
                    single = &single as &(dyn Error + 'static)
                )?;
                let expected = map([
                    (NAMES[0], json!(flag)),
                    (NAMES[1], json!(format!("{value:?}"))),
                    (NAMES[2], json!(messages.join(": "))),
                    (NAMES[3], json!(format!("{keyed:?}"))),
                    ("single", json!(messages[0])),
                ]);
                check_fields(&recorded, &expected)
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Fixed cases worth naming on their own
// ---------------------------------------------------------------------------

backends! {
    /// The boundaries of every class in one record, so a failure names the value.
    fn extreme_values_in_one_record(db) {
        let session = Session::new(db);
        let recorded = round_trip!(
            &session,
            "ünïcödé" = "\0\u{1}\u{1f}\u{7f}\"\\\n\r\t\u{2028}𝄞😀",
            "with space" = f64::NAN,
            "dots.in.name" = -0.0f64,
            "emoji😀" = 5e-324f64,
            inf = f64::INFINITY,
            neg_inf = f64::NEG_INFINITY,
            i128_min = i128::MIN,
            u128_max = u128::MAX,
            i128_small = -5i128,
            u128_small = 7u128,
            i64_min = i64::MIN,
            u64_max = u64::MAX
        );
        let expected = map([
            (NAMES[0], json!(stored_text(db, "\0\u{1}\u{1f}\u{7f}\"\\\n\r\t\u{2028}𝄞😀"))),
            (NAMES[1], json!("NaN")),
            (NAMES[2], stored_float(db, -0.0)),
            (NAMES[3], stored_float(db, 5e-324)),
            ("inf", json!("inf")),
            ("neg_inf", json!("-inf")),
            ("i128_min", json!(i128::MIN.to_string())),
            ("u128_max", json!(u128::MAX.to_string())),
            ("i128_small", json!(-5)),
            ("u128_small", json!(7)),
            ("i64_min", json!(i64::MIN)),
            ("u64_max", json!(u64::MAX)),
        ]);
        let checked = recorded.and_then(|recorded| check_fields(&recorded, &expected));
        if let Err(failure) = checked {
            panic!("{failure}");
        }
        session.finish();
    }

    /// A float whose shortest text parses back to a neighbour unless the JSON
    /// parser rounds correctly: the database holds the exact number (the
    /// writer's text on SQLite, the same value as a plain decimal in
    /// PostgreSQL's `jsonb`), and the store must read back the very same number.
    fn a_float_needing_exact_parsing_reads_back_bit_for_bit(db) {
        let x = 5.762705934144052e-233f64;
        db.record(|| {
            info_span!("workflow", workflow = "properties", run_id = "case", x).in_scope(|| {});
        });
        let params: String = db.sql_one("SELECT CAST(params AS TEXT) FROM workflow_runs", &[]);
        // The stored number is exact: parsed with std's correctly rounding parser.
        let text: String = params
            .split_once(r#""x":"#)
            .map(|(_, rest)| rest.trim_start())
            .unwrap_or_default()
            .chars()
            .take_while(|c| c.is_ascii_digit() || "+-.eE".contains(*c))
            .collect();
        assert_eq!(
            text.parse::<f64>().map(f64::to_bits),
            Ok(x.to_bits()),
            "stored text {params}"
        );
        let stored = db.only_run().params["x"].as_f64().expect("a number");
        assert_eq!(
            stored.to_bits(),
            x.to_bits(),
            "read back {stored:e}, recorded {x:e}"
        );
    }
}

backends! {
    /// A NUL anywhere (a param, a message, a step name) is kept on SQLite and
    /// stored as U+FFFD on PostgreSQL, which rejects NUL: it must never make
    /// a batch fail, or the writer would retry it forever and record nothing
    /// after it.
    fn nul_is_kept_or_replaced_never_wedging(db) {
        db.record(|| {
            info_span!("workflow", workflow = "nul", run_id = "nul", note = "a\0b").in_scope(|| {
                info_span!("step", step = "s\0").in_scope(|| tracing::info!("m\0n"));
            });
            info_span!("workflow", workflow = "after", run_id = "after").in_scope(|| {});
        });
        let store = db.store();
        let run = store.get_run("nul").expect("get").expect("recorded");
        assert_eq!(run.params["note"], stored_text(db, "a\0b"));
        let steps = store.get_steps("nul").expect("steps");
        assert_eq!(steps[0].step_name, stored_text(db, "s\0"));
        let messages: Vec<_> = store
            .get_events("nul")
            .expect("events")
            .into_iter()
            .filter_map(|e| e.message)
            .collect();
        assert_eq!(messages, [stored_text(db, "m\0n")]);
        assert!(store.get_run("after").expect("get").is_some(), "the writer went on");
    }
}
