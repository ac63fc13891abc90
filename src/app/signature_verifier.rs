//! The one task that verifies Relay signatures: it takes whatever signatures are queued when it is
//! free and verifies them as one batch (`domain::verify_batch`).
//!
//! At low load the queue holds one signature and the batch is one: no waiting for company. Under
//! load, requests queue while the task works, and the next batch takes them all (up to a bound),
//! so the more requests arrive the cheaper each signature gets. Before taking a batch the task
//! yields once to the scheduler: tokio runs a task woken by the running one next, so without the
//! yield the task would wake for each request and batch nothing; after it, every request that is
//! ready to run has queued its signature.

use std::sync::OnceLock;

use rand_core::{Infallible, TryCryptoRng, TryRng};
use tokio::sync::{mpsc, oneshot};

use crate::domain::{PreparedSignature, verify_batch};

/// At most this many signatures in one batch: 32 to 64 already gain most of what batching gives,
/// and a batch holds its worker thread for the time it takes (64 signatures: well under a
/// millisecond).
pub const MAX_BATCH: usize = 64;

/// How many signatures may wait for the task before a request waits to queue its own.
const QUEUE: usize = 4 * MAX_BATCH;

struct Job {
    signature: PreparedSignature,
    answer: oneshot::Sender<bool>,
}

/// A handle on the verifier task, started on the first signature (inside the runtime that serves
/// the requests).
#[derive(Default)]
pub struct SignatureVerifier {
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl SignatureVerifier {
    /// True when `signature` is valid (see `domain::verify_batch` for the rules). Verified in the
    /// task's next batch; if the task is gone (the runtime is shutting down), here.
    pub async fn verify(&self, signature: PreparedSignature) -> bool {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(run(receiver, |signatures| {
                verify_batch(signatures, Coefficients::for_batch(signatures.len()))
            }));
            sender
        });
        let (answer, answered) = oneshot::channel();
        let job = Job { signature, answer };
        match queue.send(job).await {
            // No answer (`false`) only when the task ended with the job unanswered: the runtime
            // is going down, or the task panicked. Refuse rather than let an unjudged request in.
            Ok(()) => answered.await.unwrap_or(false),
            Err(mpsc::error::SendError(job)) => job.signature.verify(),
        }
    }
}

/// The verifier task: a batch at a time, each judged by `verify` (`domain::verify_batch` but in
/// tests), until every handle is dropped.
async fn run(mut queue: mpsc::Receiver<Job>, mut verify: impl FnMut(&[PreparedSignature]) -> Vec<bool>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut signatures = Vec::with_capacity(MAX_BATCH);
    loop {
        // Wait for the first signature, then let every ready request queue its own.
        if queue.recv_many(&mut jobs, MAX_BATCH).await == 0 {
            return;
        }
        if jobs.len() < MAX_BATCH {
            tokio::task::yield_now().await;
            while jobs.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        signatures.extend(jobs.iter().map(|job| job.signature.clone()));
        let answers = verify(&signatures);
        signatures.clear();
        for (job, valid) in jobs.drain(..).zip(answers) {
            // A request that gave up (its client hung up) no longer listens; nothing to do.
            let _ = job.answer.send(valid);
        }
    }
}

/// The batch equation's random coefficients (16 bytes a signature), read from the operating
/// system in one call per batch rather than one per signature. They must be unpredictable to
/// whoever chose the signatures, or bad signatures could be made to cancel out.
struct Coefficients {
    bytes: Vec<u8>,
    used: usize,
}

impl Coefficients {
    fn for_batch(signatures: usize) -> Self {
        let mut bytes = vec![0u8; 16 * signatures];
        fill_from_system(&mut bytes);
        Self { bytes, used: 0 }
    }
}

fn fill_from_system(bytes: &mut [u8]) {
    // Without a random source no batch can be judged safely, and nothing else the server does
    // would work either (TLS, nonces): stop loudly rather than verify with predictable values.
    getrandom::fill(bytes).expect("the operating system's random source works");
}

impl TryRng for Coefficients {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, destination: &mut [u8]) -> Result<(), Infallible> {
        let end = self.used + destination.len();
        if end <= self.bytes.len() {
            destination.copy_from_slice(&self.bytes[self.used..end]);
            self.used = end;
        } else {
            // More asked than foreseen (a verifier that draws differently): straight from the
            // system, never a byte twice.
            fill_from_system(destination);
        }
        Ok(())
    }
}

impl TryCryptoRng for Coefficients {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ed25519_dalek::{Signer, SigningKey};

    use super::*;
    use crate::domain::RelayPublicKey;

    fn prepared(message: &[u8], signed: &[u8]) -> PreparedSignature {
        let signer = SigningKey::from_bytes(&[5; 32]);
        PreparedSignature::new(&RelayPublicKey::from(signer.verifying_key()), &signer.sign(signed), message)
    }

    #[tokio::test]
    async fn one_signature_at_a_time_is_answered() {
        let verifier = SignatureVerifier::default();
        assert!(verifier.verify(prepared(b"a", b"a")).await);
        assert!(!verifier.verify(prepared(b"a", b"b")).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_signatures_each_get_their_own_answer() {
        let verifier = Arc::new(SignatureVerifier::default());
        let tasks: Vec<_> = (0..300u32)
            .map(|i| {
                let verifier = Arc::clone(&verifier);
                tokio::spawn(async move {
                    let message = i.to_le_bytes();
                    let signed = if i % 7 == 0 { (i + 1).to_le_bytes() } else { message };
                    (i, verifier.verify(prepared(&message, &signed)).await)
                })
            })
            .collect();
        for task in tasks {
            let (i, valid) = task.await.unwrap();
            assert_eq!(valid, i % 7 != 0, "signature {i}");
        }
    }

    /// Runs the verifier task recording each batch's size, sends `count` signatures from as
    /// many tasks at once (or one after the other when not `together`), and answers the sizes.
    async fn batch_sizes(count: u32, together: bool) -> Vec<usize> {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = sizes.clone();
        tokio::spawn(run(receiver, move |signatures| {
            recorded.lock().unwrap().push(signatures.len());
            signatures.iter().map(PreparedSignature::verify).collect()
        }));
        let send = |i: u32| {
            let sender = sender.clone();
            async move {
                let (answer, answered) = oneshot::channel();
                let message = i.to_le_bytes();
                sender.send(Job { signature: prepared(&message, &message), answer }).await.unwrap();
                assert!(answered.await.unwrap(), "signature {i}");
            }
        };
        if together {
            let tasks: Vec<_> = (0..count).map(|i| tokio::spawn(send(i))).collect();
            for task in tasks {
                task.await.unwrap();
            }
        } else {
            for i in 0..count {
                send(i).await;
            }
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), count as usize, "every signature verified once");
        sizes
    }

    #[tokio::test]
    async fn alone_a_signature_is_a_batch_of_one() {
        assert_eq!(batch_sizes(5, false).await, [1; 5]);
    }

    #[tokio::test]
    async fn signatures_that_arrive_together_share_batches_up_to_the_bound() {
        // 150 requests ready at once on one thread: the task waits for them all to queue (its
        // yield), then takes at most MAX_BATCH a time.
        let sizes = batch_sizes(150, true).await;
        assert!(sizes.iter().all(|size| *size <= MAX_BATCH), "{sizes:?}");
        assert!(sizes.len() <= 150usize.div_ceil(MAX_BATCH) + 1, "batched, not one by one: {sizes:?}");
    }

    #[test]
    fn coefficients_never_repeat_a_byte_past_the_batch() {
        let mut rng = Coefficients::for_batch(1);
        let mut first = [0u8; 16];
        rng.try_fill_bytes(&mut first).unwrap();
        assert_eq!(&first[..], &rng.bytes[..]);
        let mut more = [0u8; 16];
        rng.try_fill_bytes(&mut more).unwrap();
        assert_ne!(first, more, "the second draw comes from the system, not the batch's bytes again");
    }
}
