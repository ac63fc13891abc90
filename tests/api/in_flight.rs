//! What a `200` promises, black-box: duplicates of a notification that is still being delivered,
//! against the test kit's fake FCM (slow, failing slowly), counting what the fake was given. A
//! duplicate never gets a `200` for a notification that did not reach the provider: it waits for
//! the first delivery's outcome, delivers itself when that one fails, and answers `in_flight`
//! when its own deadline comes first.

use std::time::{Duration, Instant};

use push_server::cli::settings::Settings;
use push_testkit::{
    Reply, TestApp, encrypted,
    fake::{
        Answer,
        fcm::{Google, fcm_error, fcm_ok, spawn_for_with},
    },
    join_all,
};

const TOKEN: &str = "fcm-device-token:APA91b-in-flight";

/// Waits until the fake FCM has been asked once.
async fn until_fcm_asked(google: &Google) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while google.fcm_requests().is_empty() {
        assert!(Instant::now() < deadline, "FCM was never asked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A server on the fakes with `adjust`ed settings, and client `c1` registered as `fcm`.
async fn registered(google: &Google, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let app = spawn_for_with(google, adjust).await;
    assert!(app.register("c1", "fcm", TOKEN).await.is_ok_envelope());
    app
}

/// Sends `body` to `c1`, and once FCM has that delivery, the same again: both answers.
async fn first_and_duplicate(app: &TestApp, google: &Google, body: &str) -> (Reply, Reply) {
    tokio::join!(app.send("c1", body), async {
        until_fcm_asked(google).await;
        app.send("c1", body).await
    })
}

/// (a) The first delivery fails slowly (every attempt an `UNAVAILABLE` after 300 ms); a duplicate
/// sent meanwhile waits, then delivers it itself once the first gives up; the Relay's retry of
/// the first is then a duplicate. One delivery reaches FCM in all.
#[tokio::test]
async fn a_duplicate_of_a_delivery_that_fails_slowly_delivers_it_exactly_once() {
    let google = Google::start().await;
    let slow_failure = fcm_error(503, "UNAVAILABLE", Some("UNAVAILABLE")).after(Duration::from_millis(300));
    // The first send's three attempts fail; whatever comes after is accepted.
    google.fcm_answers_first(3, slow_failure, fcm_ok());
    let app = registered(&google, |_| {}).await;

    let body = encrypted("n1");
    let (first, duplicate) = first_and_duplicate(&app, &google, &body).await;
    assert_eq!(first.status, 502, "the first delivery failed: {}", first.text);
    assert_eq!(first.error_names(), ["fcm_unavailable"]);
    assert!(duplicate.is_ok_envelope(), "the duplicate delivered it: {}", duplicate.text);
    assert_eq!(google.fcm_requests().len(), 4, "three failed attempts, then the duplicate's delivery");

    // The Relay retries the id the first send answered 502 for: delivered already.
    let retry = app.send("c1", &body).await;
    assert!(retry.is_ok_envelope(), "{}", retry.text);
    assert_eq!(google.fcm_requests().len(), 4, "exactly one accepted delivery");
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains(r#"push_dedup_waits_total{outcome="released"} 1"#), "{metrics}");
}

/// (c) Many duplicates of one slow delivery: all answered `200` once it succeeded, not before, and
/// FCM asked once.
#[tokio::test]
async fn many_duplicates_of_a_slow_delivery_all_get_ok_once_it_succeeds_and_deliver_once() {
    let google = Google::start().await;
    let delay = Duration::from_millis(1500);
    google.fcm_answers(fcm_ok().after(delay));
    // One attempt outlasts the slow answer.
    let app = registered(&google, |s| s.provider.request_timeout = Duration::from_secs(3)).await;

    let body = encrypted("n1");
    let (first, duplicates) = tokio::join!(app.send("c1", &body), async {
        until_fcm_asked(&google).await;
        let asked = Instant::now();
        let sends = (0..32).map(|_| async {
            let reply = app.send("c1", &body).await;
            (reply, asked.elapsed())
        });
        join_all(sends).await
    });
    assert!(first.is_ok_envelope(), "{}", first.text);
    for (reply, after) in &duplicates {
        assert!(reply.is_ok_envelope(), "{}", reply.text);
        // FCM answers `delay` after it was asked: a duplicate answered before then was told 200
        // for a delivery whose outcome nobody knew yet.
        assert!(*after >= delay - Duration::from_millis(100), "a duplicate answered {after:?} after FCM was asked");
    }
    assert_eq!(google.fcm_requests().len(), 1, "one delivery for 33 sends");
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains(r#"push_dedup_waits_total{outcome="done"}"#), "{metrics}");
    assert!(
        metrics.contains(
            r#"push_notifications_total{outcome="duplicate",project="default",provider="fcm",push_type="fcm"} 32"#
        ),
        "{metrics}"
    );
}

/// A duplicate whose own deadline comes before the first delivery's outcome answers `503
/// in_flight` with `Retry-After` (the seconds left on the lease), having sent nothing; the retry
/// after that delay is a `200` without a second delivery.
#[tokio::test]
async fn a_duplicate_past_its_deadline_answers_in_flight_and_its_retry_is_ok() {
    let google = Google::start().await;
    google.fcm_answers(fcm_ok().after(Duration::from_millis(2500)));
    // A 2 s request deadline: a duplicate waits 1.5 s. One attempt outlasts the slow answer; the
    // lease is the 3 s of provider budget + 2 s.
    let app = registered(&google, |s| {
        s.http.request_timeout = Duration::from_secs(2);
        s.provider.request_timeout = Duration::from_secs(3);
    })
    .await;

    let body = encrypted("n1");
    let (first, duplicate) = first_and_duplicate(&app, &google, &body).await;
    // The first request's own deadline ended its wait; its delivery went on.
    assert_eq!((first.status, first.error_names()), (503, vec!["request_timeout".to_owned()]), "{}", first.text);
    assert_eq!(duplicate.status, 503, "{}", duplicate.text);
    assert_eq!(duplicate.error_names(), ["in_flight"]);
    let retry_after: u64 = duplicate.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry_after), "the lease left, in seconds: {retry_after}");
    assert_eq!(google.fcm_requests().len(), 1, "the duplicate sent nothing");

    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let retry = app.send("c1", &body).await;
    assert!(retry.is_ok_envelope(), "{}", retry.text);
    assert_eq!(google.fcm_requests().len(), 1, "delivered once");
}

/// An answer that is never sent keeps a delivery in flight until the provider budget ends it;
/// duplicates meanwhile are not answered `200`.
#[tokio::test]
async fn a_hanging_delivery_gives_its_duplicates_no_ok() {
    let google = Google::start().await;
    google.fcm_answers_first(2, Answer::status(200).hang(), fcm_ok());
    let app = registered(&google, |_| {}).await;

    let body = encrypted("n1");
    let (first, duplicate) = first_and_duplicate(&app, &google, &body).await;
    // Two attempts of 1 s time out (a third would not end within the 3 s budget): 502, the
    // claim released, and the waiting duplicate delivers.
    assert_eq!(first.status, 502, "{}", first.text);
    assert!(duplicate.is_ok_envelope(), "{}", duplicate.text);
    assert_eq!(google.fcm_requests().len(), 3);
}
