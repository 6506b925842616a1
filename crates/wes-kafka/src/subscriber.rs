//! The executor side of Kafka dispatch: join your own consumer group, decode by schema id, drop
//! duplicates on `(planner_id, correlation_id)`, and hand events over in per-warehouse order.

use crate::consumer::offsets_at;
use crate::{Codec, KafkaError, client_config};
use futures::StreamExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use wes_events::{DispatchEvent, Event, catalog::topics};

/// How long an executor remembers a dispatch key (contract §1: 24 h).
pub const DEDUP_WINDOW_MILLIS: i64 = 24 * 3600 * 1000;

/// Remembers seen `(planner_id, correlation_id)` keys for the dedup window.
#[derive(Default)]
pub struct Dedup {
    seen: HashMap<(String, String), i64>,
    order: VecDeque<(i64, (String, String))>,
}

impl Dedup {
    /// `true` when the key is new (the event should be processed).
    pub fn first_time(&mut self, planner_id: &str, correlation_id: &str, now_millis: i64) -> bool {
        while let Some((at, _)) = self.order.front() {
            if now_millis - at < DEDUP_WINDOW_MILLIS {
                break;
            }
            let (_, key) = self.order.pop_front().expect("front exists");
            self.seen.remove(&key);
        }
        let key = (planner_id.to_owned(), correlation_id.to_owned());
        if self.seen.contains_key(&key) {
            return false;
        }
        self.seen.insert(key.clone(), now_millis);
        self.order.push_back((now_millis, key));
        true
    }
}

pub struct DispatchSubscriber {
    consumer: StreamConsumer,
    codec: Arc<Codec>,
    warehouse_frn: Option<String>,
    dedup: Dedup,
}

/// One delivered dispatch event with its position in the log.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub event: DispatchEvent,
}

/// Where a subscriber starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The group's committed position; a group without one gets only new events.
    Committed,
    /// The group's committed position; a group without one starts at the earliest event.
    CommittedOrEarliest,
    /// The first event written at or after this instant (Unix ms), on every partition, whatever
    /// the group committed before. The group is then used only to commit, not to share partitions.
    At(i64),
}

impl DispatchSubscriber {
    /// Reads the dispatch topic as `group_id` from `start`. `warehouse_frn` keeps only that
    /// warehouse's events.
    pub async fn new(
        bootstrap: &str,
        group_id: &str,
        codec: Arc<Codec>,
        warehouse_frn: Option<String>,
        start: Start,
    ) -> Result<Self, KafkaError> {
        let reset = if start == Start::Committed {
            "latest"
        } else {
            "earliest"
        };
        let consumer: StreamConsumer = client_config(bootstrap)
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", reset)
            .create()?;
        match start {
            Start::At(at) => {
                let mut list = TopicPartitionList::new();
                for (partition, offset) in offsets_at(bootstrap, topics::DISPATCH, at).await? {
                    list.add_partition_offset(topics::DISPATCH, partition, Offset::Offset(offset))?;
                }
                consumer.assign(&list)?;
            }
            _ => consumer.subscribe(&[topics::DISPATCH])?,
        }
        Ok(DispatchSubscriber {
            consumer,
            codec,
            warehouse_frn,
            dedup: Dedup::default(),
        })
    }

    /// The next new event for this warehouse. Duplicates are skipped. Offsets are committed after the
    /// caller got the event, so call `commit` once it is durably processed.
    pub async fn next(&mut self) -> Result<Delivered, KafkaError> {
        let mut stream = self.consumer.stream();
        loop {
            let message = stream
                .next()
                .await
                .ok_or_else(|| KafkaError::Admin("consumer closed".into()))??;
            if let (Some(frn), Some(key)) = (&self.warehouse_frn, message.key())
                && key != frn.as_bytes()
            {
                continue;
            }
            let Some(payload) = message.payload() else {
                continue;
            };
            let Event::Dispatch(event) = self.codec.decode(payload).await? else {
                continue;
            };
            let now = message.timestamp().to_millis().unwrap_or_default();
            if self
                .dedup
                .first_time(&event.planner_id, &event.correlation_id, now)
            {
                return Ok(Delivered {
                    partition: message.partition(),
                    offset: message.offset(),
                    event,
                });
            }
        }
    }

    /// Commits the consumer group's position up to everything returned so far.
    pub fn commit(&self) -> Result<(), KafkaError> {
        Ok(self.consumer.commit_consumer_state(CommitMode::Sync)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_drops_repeats_within_the_window_only() {
        let mut d = Dedup::default();
        assert!(d.first_time("p", "c1", 0));
        assert!(!d.first_time("p", "c1", 1_000));
        assert!(d.first_time("other", "c1", 1_000));
        assert!(d.first_time("p", "c1", DEDUP_WINDOW_MILLIS + 1));
    }
}
