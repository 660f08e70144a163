//! Test doubles shared by the state and pipeline tests.

use super::resolver::{LookupError, MetadataSource};
use super::types::{ContainerInfo, PodInfo};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A full container id used by the tests.
pub const CID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A metadata source answering from a script, one answer per lookup
/// (failing once the script is used up), recording when it was asked.
#[derive(Clone, Default)]
pub struct Scripted {
    pub answers:
        Arc<std::sync::Mutex<std::collections::VecDeque<Result<ContainerInfo, LookupError>>>>,
    pub asked: Arc<std::sync::Mutex<Vec<Instant>>>,
    pub delay: Duration,
}

impl Scripted {
    pub fn new(answers: Vec<Result<ContainerInfo, LookupError>>, delay: Duration) -> Scripted {
        Scripted {
            answers: Arc::new(std::sync::Mutex::new(answers.into())),
            asked: Arc::default(),
            delay,
        }
    }
}

impl MetadataSource for Scripted {
    fn lookup(&mut self, _full_id: &str) -> Result<ContainerInfo, LookupError> {
        self.asked.lock().unwrap().push(Instant::now());
        std::thread::sleep(self.delay);
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Err(LookupError::Failed("not found".into())))
    }
    fn endpoint(&self) -> Option<String> {
        Some("scripted".into())
    }
}

pub fn web_container() -> ContainerInfo {
    ContainerInfo {
        id: CID[..12].into(),
        full_id: CID.into(),
        name: "web".into(),
        image_repository: "nginx".into(),
        resolved: true,
        pod: Some(PodInfo {
            name: "web-1".into(),
            namespace: "shop".into(),
            ..PodInfo::default()
        }),
        ..ContainerInfo::default()
    }
}
