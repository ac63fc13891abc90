//! Everything the server is configured with, each setting declared once: its flag, environment
//! variable, default and doc in one clap argument group per section (`ApnsSettings`,
//! `HttpSettings`, ...), flattened into [`Settings`]. The command line parses it from flags, the
//! environment and `.env`; tests start from [`Settings::default`] and change fields.
//!
//! The rules that look at more than one setting live here too, in [`Settings::validate`] and in
//! the sections' methods that composition reads the settings through (`dedup_choice`,
//! `RelaySettings::key_source`, `ApnsSettings::credentials`, ...), so a rule is written once and
//! checked before anything is built.
//!
//! A setting's flag and value name follow its environment variable (`DEDUP_TTL_SECS`:
//! `--dedup-ttl-secs <DEDUP_TTL_SECS>`): [`flags_follow_env`] sets both, so a declaration names
//! only the variable. A field name that two sections share (`max_connections`)
//! gets an explicit `id`, which only clap sees.

mod egress;
mod error;
mod http;
mod projects;
mod providers;
mod relay;
mod store;
mod walletconnect;
mod webpush;

use std::{collections::BTreeSet, net::IpAddr, ops::RangeBounds, path::PathBuf, sync::Mutex, time::Duration};

use clap::{
    Arg, Args, Command, FromArgMatches,
    builder::{PossibleValuesParser, TypedValueParser},
};

pub use self::{
    egress::EgressSettings,
    error::SettingsError,
    http::{ClientAuthSettings, HttpSettings, PublicUrls},
    projects::ProjectSettings,
    providers::{ApnsAuthSource, ApnsSettings, ApnsSource, FcmSettings, FcmSource, ProviderSettings},
    relay::{MAX_CLOCK_SKEW_SECS, RelayKeySource, RelaySettings},
    store::{DatabaseKind, DedupBackend, DedupChoice, DedupSettings, RedisTarget, ReplicaAckRule, StoreSettings},
    walletconnect::{WITHOUT_COUNTERPART, WalletConnectSettings, pem_text, without_counterpart_set},
    webpush::{VapidKeySource, WebPushSettings},
};
use crate::{domain::Secret, telemetry::LogFormat};

#[derive(Debug, Clone, Args)]
#[command(mut_args = flags_follow_env)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// TCP port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// `sqlite://PATH` or `postgres://...`
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://push-server.db")]
    pub database_url: String,
    /// One Redis node (`redis://` or `rediss://`) for dedup, shared by all instances.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    #[command(flatten)]
    pub dedup: DedupSettings,
    #[command(flatten)]
    pub relay: RelaySettings,
    /// `true` keeps the log sink on beside real providers [default: on only without real providers]
    #[arg(long, env = "LOG_SINK", value_parser = parse_switch)]
    pub log_sink: Option<bool>,
    /// The log sink's JSON-lines file.
    #[arg(long, env = "LOG_SINK_PATH")]
    pub log_sink_path: Option<PathBuf>,
    #[command(flatten)]
    pub projects: ProjectSettings,
    /// The dedup window in seconds.
    #[arg(long, id = "dedup_ttl_secs", env = "DEDUP_TTL_SECS", default_value = "86400", value_parser = secs(1..))]
    pub dedup_ttl: Duration,
    /// Most claims the in-memory dedup store holds (about 70 bytes each); when full, expired
    /// claims are dropped first, then the claims closest to expiry. Not used with Redis.
    #[arg(long, env = "DEDUP_MAX_ENTRIES", default_value_t = crate::adapters::dedup::memory::DEFAULT_MAX_ENTRIES,
          value_parser = count(64..=1_000_000_000))]
    pub dedup_max_entries: usize,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 16 * 1024, value_parser = count(64..=16 * 1024 * 1024))]
    pub max_body_bytes: usize,
    #[command(flatten)]
    pub store: StoreSettings,
    #[command(flatten)]
    pub apns: ApnsSettings,
    #[command(flatten)]
    pub fcm: FcmSettings,
    #[command(flatten)]
    pub webpush: WebPushSettings,
    #[command(flatten)]
    pub provider: ProviderSettings,
    #[command(flatten)]
    pub egress: EgressSettings,
    #[command(flatten)]
    pub http: HttpSettings,
    #[command(flatten)]
    pub client_auth: ClientAuthSettings,
    #[command(flatten)]
    pub walletconnect: WalletConnectSettings,
    /// Log format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", ignore_case = true,
          value_parser = PossibleValuesParser::new(["text", "json"]).map(|f| if f.eq_ignore_ascii_case("json") { LogFormat::Json } else { LogFormat::Text }))]
    pub log_format: LogFormat,
}

impl Settings {
    /// Checks every rule that no single setting's parser can: the first one broken, in the order
    /// composition meets them. Composition calls this before it builds anything; each rule is
    /// written once, in the method composition then reads that part of the settings through.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.check_replay_window()?;
        self.relay.key_source()?;
        self.projects.cipher()?;
        self.database()?;
        self.dedup_choice()?;
        self.apns.credentials()?;
        self.egress.config()?;
        self.webpush.credentials()?;
        self.http.cors()?;
        self.fcm.source()?;
        self.projects.default_project()?;
        Ok(())
    }

    /// A signed request can be replayed as long as its timestamp is accepted (the skew, either
    /// side of the server clock); dedup is what turns a replay into a harmless duplicate, so its
    /// window must cover that whole span, or a captured request could be delivered again.
    fn check_replay_window(&self) -> Result<(), SettingsError> {
        let skew = self.relay.max_clock_skew.as_secs();
        if skew > MAX_CLOCK_SKEW_SECS {
            return Err(SettingsError::SkewTooLarge { skew });
        }
        let ttl = self.dedup_ttl.as_secs();
        if ttl < 2 * skew {
            return Err(SettingsError::ReplayWindow { ttl, skew });
        }
        Ok(())
    }
}

impl Default for Settings {
    /// What the command line gives with no flags and no environment: the declared defaults, read
    /// without looking at the process environment (see [`defaults`]).
    fn default() -> Self {
        defaults()
    }
}

/// A settings group with every value at its declared default. The group's arguments lose their
/// environment variables first: clap reads a variable when the argument is declared, and tests
/// build `Settings::default()` inside a process whose environment is not theirs to choose.
fn defaults<T: Args + FromArgMatches>() -> T {
    let command = T::augment_args(Command::new("defaults")).mut_args(|arg| arg.env(None));
    let matches = command.try_get_matches_from(["defaults"]).expect("every setting has a default or is optional");
    T::from_arg_matches(&matches).expect("the defaults parse")
}

/// `Default` for sections, through [`defaults`], so a test can build one section and change it.
macro_rules! section_defaults {
    ($($section:ty),*) => {$(
        impl Default for $section {
            fn default() -> Self {
                defaults()
            }
        }
    )*};
}
section_defaults!(
    DedupSettings,
    RelaySettings,
    ProjectSettings,
    StoreSettings,
    ApnsSettings,
    FcmSettings,
    WebPushSettings,
    ProviderSettings,
    EgressSettings,
    HttpSettings,
    ClientAuthSettings
);

/// The flag and value name of a setting, from its environment variable: `--dedup-ttl-secs
/// <DEDUP_TTL_SECS>` for `DEDUP_TTL_SECS` (a switch shows no value name). Arguments without a
/// variable are left as declared.
fn flags_follow_env(arg: Arg) -> Arg {
    let Some(env) = arg.get_env().and_then(|e| e.to_str()).map(str::to_owned) else {
        return arg;
    };
    arg.long(static_name(flag_of(&env))).value_name(static_name(env))
}

/// The flag of a variable: lower case with dashes, except for a variable that is lower case
/// already (`https_proxy`, the conventional twin of `HTTPS_PROXY`), whose flag is spelled as it
/// is so the two stay distinct.
fn flag_of(env: &str) -> String {
    if env.bytes().any(|b| b.is_ascii_uppercase()) {
        env.to_ascii_lowercase().replace('_', "-")
    } else {
        env.to_owned()
    }
}

/// `name` as the `&'static str` clap takes (it stores names by reference unless its `string`
/// feature is on). The names are a fixed set, so each is made static once and reused however
/// often the command is built (every `Settings::default()` builds it).
fn static_name(name: String) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(known) = names.get(name.as_str()) {
        return known;
    }
    let name: &'static str = Box::leak(name.into_boxed_str());
    names.insert(name);
    name
}

/// `true`/`1` or `false`/`0`, in any case; anything else is refused.
pub(crate) fn parse_switch(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("'{s}' is not a switch; use true/1 or false/0")),
    }
}

/// Whole seconds within `range`, as a `Duration`.
fn secs(range: impl RangeBounds<u64>) -> impl TypedValueParser<Value = Duration> {
    clap::value_parser!(u64).range(range).map(Duration::from_secs)
}

/// Whole milliseconds within `range`, as a `Duration`.
fn millis(range: impl RangeBounds<u64>) -> impl TypedValueParser<Value = Duration> {
    clap::value_parser!(u64).range(range).map(Duration::from_millis)
}

/// A count (connections, bytes, entries) within `range`.
fn count(range: impl RangeBounds<u64>) -> impl TypedValueParser<Value = usize> {
    clap::value_parser!(u64).range(range).map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// A secret: held in a `Secret` from the moment it is parsed, so no `Debug` of the settings
/// shows it.
fn secret(s: &str) -> Result<Secret<String>, String> {
    Ok(Secret::new(s.to_owned()))
}

/// The text of a setting that is set to something other than blanks, trimmed.
fn non_blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line as `main` builds it, for the settings alone.
    fn command() -> Command {
        Settings::augment_args(Command::new("push-server"))
    }

    /// The settings from flags alone (no variable is read).
    pub(super) fn parse(flags: &[&str]) -> Settings {
        let matches = command()
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(std::iter::once("push-server").chain(flags.iter().copied()))
            .unwrap();
        Settings::from_arg_matches(&matches).unwrap()
    }

    #[test]
    fn switch_values() {
        for (s, v) in [("TRUE", true), ("1", true), ("False", false), ("0", false)] {
            assert_eq!(parse_switch(s), Ok(v));
        }
        assert!(parse_switch("yes").is_err());
        assert!(parse_switch("").is_err());
    }

    #[test]
    fn every_setting_has_a_variable_and_its_flag_and_value_name_follow_it() {
        let command = command();
        command.clone().debug_assert();
        for arg in command.get_arguments() {
            let env =
                arg.get_env().and_then(|e| e.to_str()).unwrap_or_else(|| panic!("{} has no variable", arg.get_id()));
            assert_eq!(arg.get_long(), Some(flag_of(env).as_str()));
            if let Some(names) = arg.get_value_names() {
                assert_eq!(names.iter().map(|n| n.as_str()).collect::<Vec<_>>(), [env]);
            }
        }
    }

    #[test]
    fn defaults_are_the_declared_ones_and_read_no_variable() {
        let defaults = Settings::augment_args(Command::new("defaults")).mut_args(|arg| arg.env(None));
        assert!(defaults.get_arguments().all(|a| a.get_env().is_none()), "no variable is consulted");
        let s = Settings::default();
        assert_eq!(
            (s.host.to_string(), s.port, s.database_url.as_str()),
            ("0.0.0.0".into(), 3000, "sqlite://push-server.db")
        );
        assert_eq!((s.dedup_ttl, s.relay.max_clock_skew), (Duration::from_secs(86_400), Duration::from_secs(300)));
        assert_eq!((s.max_body_bytes, s.log_format), (16 * 1024, LogFormat::Text));
        assert_eq!(
            RelaySettings::default().max_clock_skew,
            s.relay.max_clock_skew,
            "a section's defaults are the same"
        );
        assert!(s.validate().is_ok());
    }

    #[test]
    fn flags_and_variables_parse_into_the_sections() {
        let s = parse(&["--dedup-ttl-secs", "700", "--log-format", "JSON", "--admin-token", "t"]);
        assert_eq!((s.dedup_ttl, s.log_format), (Duration::from_secs(700), LogFormat::Json));
        assert_eq!(s.projects.admin_token().map(|t| t.expose().as_str()), Some("t"));
        assert!(format!("{s:?}").contains("admin_token: Some(Secret(..))"), "no secret in Debug");
    }

    #[test]
    fn the_dedup_window_must_cover_twice_the_skew() {
        let mut s = Settings { dedup_ttl: Duration::from_secs(599), ..Default::default() };
        assert!(matches!(s.validate(), Err(SettingsError::ReplayWindow { ttl: 599, skew: 300 })));
        s.dedup_ttl = Duration::from_secs(600);
        assert!(s.validate().is_ok());
        s.relay.max_clock_skew = Duration::from_secs(3601);
        s.dedup_ttl = Duration::from_secs(86_400);
        let e = s.validate().unwrap_err();
        assert!(matches!(e, SettingsError::SkewTooLarge { skew: 3601 }));
        assert_eq!(e.to_string(), "SIGNATURE_MAX_SKEW_SECS is 3601; at most 3600 is allowed");
    }

    #[test]
    fn validate_reports_the_first_broken_rule_in_composition_order() {
        let mut s = Settings { database_url: "mysql://x".into(), ..Default::default() };
        s.projects.default_project_id = Some("a.b".into());
        assert!(matches!(s.validate(), Err(SettingsError::DatabaseUrl)));
        s.database_url = "sqlite://x.db".into();
        assert!(matches!(s.validate(), Err(SettingsError::DefaultProjectId(_))));
    }
}
