//! Performs the state's effects. Store work is quick and local, so it runs
//! inline and answers at once; Kubernetes and sensor calls run as tokio tasks
//! and answer through the event channel. The terminal side effects (OSC 52,
//! `$PAGER`) are left for the UI loop, which owns the terminal.

use super::effect::{Effect, ExportItem, RecordPurpose, StoreWrite};
use super::state::State;
use crate::event::{AppEvent, Event, InsertFailed, StoredBatch};
use crate::kube::Kube;
use crate::source::SensorClient;
use crate::store::{Store, StoreError};
use tokio::sync::mpsc;

#[derive(Default)]
pub struct Runner {
    pub store: Option<Store>,
    pub kube: Option<Kube>,
    pub tx: Option<mpsc::Sender<Event>>,
    /// OSC 52 sequences waiting for the UI loop to write to the terminal.
    pub clipboard: Vec<String>,
    /// Text waiting to be shown in `$PAGER` by the UI loop.
    pub pager: Option<String>,
}

impl Runner {
    /// Loads history, triage and silences into `state` and keeps the store.
    pub fn attach_store(&mut self, mut store: Store, state: &mut State) -> Result<(), StoreError> {
        state.silences = store.silences(state.now_ns)?;
        state.has_store = true;
        store.load_each(|a| state.load_one(a))?;
        state.prepare();
        self.store = Some(store);
        Ok(())
    }

    /// Performs one effect; returns the events it produced right away (the
    /// background ones arrive through `tx`).
    pub fn run(&mut self, effect: Effect) -> Vec<AppEvent> {
        match effect {
            Effect::StoreWrite(w) => self.store_write(w).into_iter().collect(),
            Effect::LoadRecord { id, purpose } => vec![self.load_record(id, purpose)],
            Effect::LoadPod {
                namespace,
                name,
                container,
            } => {
                let (Some(kube), Some(tx)) = (self.kube.clone(), self.tx.clone()) else {
                    return vec![AppEvent::Pod(Err("no Kubernetes access".into()))];
                };
                tokio::spawn(async move {
                    let c = (!container.is_empty()).then_some(container.as_str());
                    let r = crate::kube::load_pod(&kube, &namespace, &name, c)
                        .await
                        .map(Box::new)
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Event::App(AppEvent::Pod(r))).await;
                });
                Vec::new()
            }
            Effect::DeletePod { namespace, name } => {
                let (Some(kube), Some(tx)) = (self.kube.clone(), self.tx.clone()) else {
                    return vec![AppEvent::PodDeleted(Err(
                        "no Kubernetes access (--kube or a kubeconfig needed)".into(),
                    ))];
                };
                tokio::spawn(async move {
                    let r = crate::kube::delete_pod(&kube, &namespace, &name)
                        .await
                        .map(|_| format!("{namespace}/{name}"))
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Event::App(AppEvent::PodDeleted(r))).await;
                });
                Vec::new()
            }
            Effect::WriteException { draft, apply } => {
                let result = draft
                    .write()
                    .map(|content| (draft.path.display().to_string(), content));
                vec![AppEvent::ExceptionWritten { result, apply }]
            }
            Effect::ApplyRules {
                targets,
                file_name,
                content,
            } => {
                let Some(tx) = self.tx.clone() else {
                    return vec![AppEvent::RulesApplied(Err(
                        "no event channel to report the result".into(),
                    ))];
                };
                for t in targets {
                    let tx = tx.clone();
                    let (file_name, content) = (file_name.clone(), content.clone());
                    tokio::spawn(async move {
                        let r = match SensorClient::connect(&t).await {
                            Ok(mut c) => match c.put_rules_file(&file_name, &content).await {
                                Ok(resp) if resp.applied => {
                                    Ok(format!("{}: rules reloaded", t.name))
                                }
                                Ok(resp) => Err(crate::sanitize::sanitized(&format!(
                                    "{}: rejected: {}",
                                    t.name,
                                    resp.errors.join("; ")
                                ))),
                                Err(e) => Err(e.to_string()),
                            },
                            Err(e) => Err(e.to_string()),
                        };
                        let _ = tx.send(Event::App(AppEvent::RulesApplied(r))).await;
                    });
                }
                Vec::new()
            }
            Effect::Export { path, items } => vec![AppEvent::Done(self.export(&path, items))],
            Effect::Clipboard(text) => {
                self.clipboard.push(crate::sanitize::osc52(&text));
                Vec::new()
            }
            Effect::Pager(text) => {
                self.pager = Some(text);
                Vec::new()
            }
        }
    }

    fn store_write(&mut self, w: StoreWrite) -> Option<AppEvent> {
        let Some(store) = &mut self.store else {
            return match w {
                StoreWrite::Insert(batch) => Some(AppEvent::Stored(Err(InsertFailed {
                    batch,
                    error: "no store attached".into(),
                }))),
                _ => None,
            };
        };
        let failed = |e: StoreError| Some(AppEvent::Done(Err(e.to_string())));
        match w {
            StoreWrite::Insert(mut batch) => {
                Some(AppEvent::Stored(match store.insert(&mut batch) {
                    Ok(_) => {
                        let (dropped, retention_error) = match store.enforce_retention() {
                            Ok(d) => (d, None),
                            Err(e) => (Vec::new(), Some(e.to_string())),
                        };
                        Ok(StoredBatch {
                            alerts: batch,
                            dropped,
                            retention_error,
                        })
                    }
                    Err(e) => Err(InsertFailed {
                        batch,
                        error: e.to_string(),
                    }),
                }))
            }
            StoreWrite::SetState { ids, state } => {
                store.set_state(&ids, state).err().and_then(failed)
            }
            StoreWrite::AddNote { ids, time_ns, text } => {
                store.add_note(&ids, time_ns, &text).err().and_then(failed)
            }
            StoreWrite::AddSilence(s) => store.add_silence(&s).err().and_then(failed),
        }
    }

    fn load_record(&self, id: i64, purpose: RecordPurpose) -> AppEvent {
        let result = match &self.store {
            Some(s) => s
                .get(id)
                .map(|r| r.map(Box::new))
                .map_err(|e| e.to_string()),
            None => Err("no store attached".into()),
        };
        AppEvent::Record {
            id,
            purpose,
            result,
        }
    }

    /// Writes the items, reading the full record of each shed one as it goes
    /// (an export never holds every full record at once).
    fn export(&self, path: &std::path::Path, items: Vec<ExportItem>) -> Result<String, String> {
        let mut failed = None;
        let full = items.iter().map(|it| {
            let a = match (&self.store, it.shed) {
                (Some(s), true) => match s.get(it.alert.id) {
                    Ok(Some(a)) => a,
                    Ok(None) => it.alert.clone(),
                    Err(e) => {
                        failed.get_or_insert(e);
                        it.alert.clone()
                    }
                },
                _ => it.alert.clone(),
            };
            (a, it.state, it.notes.as_slice())
        });
        let written = crate::store::export(path, full);
        if let Some(err) = failed {
            return Err(format!("export {}: {err}", path.display()));
        }
        match written {
            Ok(n) => Ok(format!("exported {n} alerts to {}", path.display())),
            Err(e) => Err(format!("export {}: {e}", path.display())),
        }
    }
}
