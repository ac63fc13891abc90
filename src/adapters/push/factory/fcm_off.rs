//! FCM in a binary built without the `fcm` feature: uploads are refused and stored service
//! accounts build nothing, each saying why.

use std::sync::Arc;

use super::PushProviderFactory;
use crate::{
    domain::FcmCredentials,
    ports::{CredentialProblem, PushProvider},
};

const WITHOUT: &str = "this server was built without the `fcm` feature";

pub(super) fn check(_: &FcmCredentials) -> Result<(), Vec<CredentialProblem>> {
    Err(vec![CredentialProblem::new("project_id", WITHOUT)])
}

pub(super) fn stored(_: &PushProviderFactory, _: String, _: &FcmCredentials) -> Result<Arc<dyn PushProvider>, String> {
    Err(WITHOUT.to_owned())
}
