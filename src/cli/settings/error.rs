//! Why the settings cannot work together: one variant per rule, each worded after the variables
//! an operator has to fix.

use crate::domain::ProjectIdError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("SIGNATURE_MAX_SKEW_SECS is {skew}; at most {max} is allowed", max = super::MAX_CLOCK_SKEW_SECS)]
    SkewTooLarge { skew: u64 },
    #[error(
        "DEDUP_TTL_SECS ({ttl}) must be at least twice SIGNATURE_MAX_SKEW_SECS ({skew}): a signed request stays \
         replayable that long, and only dedup stops a replay"
    )]
    ReplayWindow { ttl: u64, skew: u64 },
    #[error("RELAY_PUBLIC_KEY: {0}")]
    RelayPublicKey(String),
    #[error("RELAY_URL must be an http:// or https:// URL, got '{0}'")]
    RelayUrl(String),
    #[error("ADMIN_TOKEN is set but CREDENTIALS_KEY is not: projects' credentials could not be stored encrypted")]
    AdminTokenWithoutKey,
    #[error("CREDENTIALS_KEY: {0}")]
    CredentialsKey(String),
    #[error("DATABASE_URL must start with sqlite:// or postgres://")]
    DatabaseUrl,
    #[error("DEDUP_BACKEND=postgres needs a postgres:// DATABASE_URL")]
    PostgresDedupWithoutPostgres,
    #[error("set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS")]
    RedisAmbiguous,
    #[error("DEDUP_BACKEND=redis needs REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS")]
    RedisUnset,
    #[error("REDIS_URL must start with redis:// or rediss://")]
    RedisUrl,
    #[error("REDIS_CLUSTER_NODES must be redis:// or rediss:// URLs")]
    RedisClusterNodes,
    #[error("REDIS_SENTINELS must be redis:// or rediss:// URLs")]
    RedisSentinels,
    #[error("REDIS_SENTINELS needs REDIS_SENTINEL_MASTER, the name of the master")]
    RedisSentinelMaster,
    #[error(
        "DEDUP_MIN_REPLICA_ACKS is set but dedup is not on Redis: replica acknowledgements need DEDUP_BACKEND=redis \
         with REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS"
    )]
    ReplicaAcksWithoutRedis,
    #[error("DEDUP_REPLICA_ACK_MS ({wait}) must be below STORAGE_TIMEOUT_MS ({timeout}), which bounds each claim")]
    ReplicaAckWait { wait: u128, timeout: u128 },
    #[error("APNS_KEY_PATH (token auth) and APNS_CERT_PATH (certificate auth) are both set; set only one")]
    ApnsAuthAmbiguous,
    #[error("APNS credentials are set but APNS_TOPIC (the app's bundle id) is not")]
    ApnsTopicMissing,
    #[error("APNS_KEY_PATH is set; APNS_KEY_ID and APNS_TEAM_ID are needed with it")]
    ApnsKeyIdsMissing,
    /// An egress proxy variable that cannot be used (the reason never quotes its value, which may
    /// hold a password).
    #[error("{variable}: {reason}")]
    Proxy { variable: &'static str, reason: String },
    #[error("{upper} and {lower} are both set, to different values; set one of them, or both alike")]
    ProxyCaseConflict { upper: &'static str, lower: &'static str },
    #[error("WEBPUSH_VAPID_PRIVATE_KEY is set but WEBPUSH_SUBJECT (mailto: or https:// contact) is not")]
    WebPushSubjectMissing,
    #[error("CORS_ALLOWED_ORIGINS: {0}")]
    CorsOrigins(String),
    #[error("{ours} and {theirs} (WalletConnect's name for it) are both set; set only one")]
    BothNames { ours: &'static str, theirs: &'static str },
    #[error("APNS_TYPE={0} but no APNS credentials of that type are set")]
    ApnsTypeWithoutCredentials(&'static str),
    #[error(
        "FCM_API_KEY is set: the legacy FCM API it is for was shut down by Google; use a service account \
         (FCM_V1_CREDENTIALS or FCM_CREDENTIALS_PATH) and unset FCM_API_KEY"
    )]
    FcmApiKey,
    #[error("DEFAULT_PROJECT_ID: {0}")]
    DefaultProjectId(ProjectIdError),
}
