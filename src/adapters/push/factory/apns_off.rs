//! APNS in a binary built without the `apns` feature: uploads are refused and stored credentials
//! build nothing, each saying why.

use std::sync::Arc;

use super::PushProviderFactory;
use crate::{
    domain::ApnsCredentials,
    ports::{ApnsFacts, CredentialProblem, PushProvider},
};

const WITHOUT: &str = "this server was built without the `apns` feature";

pub(super) fn check(_: &ApnsCredentials) -> Result<ApnsFacts, Vec<CredentialProblem>> {
    Err(vec![CredentialProblem::new("topic", WITHOUT)])
}

pub(super) fn stored(_: &PushProviderFactory, _: String, _: &ApnsCredentials) -> Result<Arc<dyn PushProvider>, String> {
    Err(WITHOUT.to_owned())
}
