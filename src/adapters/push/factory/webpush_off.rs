//! Web Push in a binary built without the `webpush` feature: uploads are refused and stored
//! identities build nothing, each saying why.

use std::sync::Arc;

use super::PushProviderFactory;
use crate::{
    domain::{Secret, WebPushCredentials},
    ports::{CredentialProblem, PushProvider},
};

const WITHOUT: &str = "this server was built without the `webpush` feature";

pub(super) fn check(_: &str, _: Option<Secret<String>>) -> Result<WebPushCredentials, Vec<CredentialProblem>> {
    Err(vec![CredentialProblem::new("private_key", WITHOUT)])
}

pub(super) fn stored(
    _: &PushProviderFactory,
    _: String,
    _: &WebPushCredentials,
) -> Result<Arc<dyn PushProvider>, String> {
    Err(WITHOUT.to_owned())
}
