//! Capacity snapshots (contract §3): dashboards and trend charts only. Nothing here has a ledger or
//! accounting effect; the type carries no SKU, location or quantity of stock.

use crate::UtcMillis;
use crate::ids::*;
use crate::masterdata::MasterData;
use crate::rejection::Rejection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacitySnapshot {
    pub correlation_id: CorrelationId,
    pub warehouse_id: WarehouseId,
    pub occurred_at: UtcMillis,
    pub active_workers: i64,
    pub idle_robots: i64,
    /// Conveyor utilisation as a fraction, 0.0–1.0.
    pub conveyor_utilization: f64,
    /// Work in progress (units or totes) per zone.
    pub wip_per_zone: BTreeMap<String, i64>,
}

/// The rules a capacity snapshot obeys: a known warehouse, counts of zero or more, utilisation
/// as a fraction.
pub fn check_capacity(c: &CapacitySnapshot, md: &MasterData) -> Result<(), Rejection> {
    let negative = |field: &str, n: i64| {
        (n < 0).then(|| Rejection::unprocessable(field, format!("`{}` must be >= 0", &field[1..])))
    };
    if let Some(r) = negative("/active_workers", c.active_workers)
        .or_else(|| negative("/idle_robots", c.idle_robots))
    {
        return Err(r);
    }
    if !(0.0..=1.0).contains(&c.conveyor_utilization) {
        return Err(Rejection::unprocessable(
            "/conveyor_utilization",
            "`conveyor_utilization` is a fraction between 0 and 1",
        ));
    }
    if let Some((zone, _)) = c.wip_per_zone.iter().find(|(_, units)| **units < 0) {
        return Err(Rejection::unprocessable(
            &format!("/wip_per_zone/{zone}"),
            "WIP must be >= 0",
        ));
    }
    if !md.warehouses.contains_key(&c.warehouse_id) {
        return Err(Rejection::unprocessable(
            "/warehouse_id",
            format!("unknown warehouse {}", c.warehouse_id),
        ));
    }
    Ok(())
}

/// One bucket of a capacity trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendBucket {
    pub start: String,
    pub samples: usize,
    pub active_workers_avg: f64,
    pub active_workers_max: i64,
    pub idle_robots_avg: f64,
    pub conveyor_utilization_avg: f64,
    pub wip_per_zone_avg: BTreeMap<String, f64>,
}

/// Parses a bucket width like `30s`, `5m`, `1h`, `1d` into milliseconds.
pub fn parse_bucket(text: &str) -> Option<i64> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = number.parse().ok().filter(|n| *n > 0)?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

/// Groups snapshots (any order) into buckets of `width` ms aligned to the epoch; empty buckets are
/// left out.
pub fn trend(snapshots: &[CapacitySnapshot], width: i64) -> Vec<TrendBucket> {
    let mut buckets: BTreeMap<i64, Vec<&CapacitySnapshot>> = BTreeMap::new();
    for s in snapshots {
        buckets
            .entry(s.occurred_at.0.div_euclid(width) * width)
            .or_default()
            .push(s);
    }
    buckets
        .into_iter()
        .map(|(start, group)| {
            let n = group.len() as f64;
            let mut wip: BTreeMap<String, f64> = BTreeMap::new();
            for s in &group {
                for (zone, units) in &s.wip_per_zone {
                    *wip.entry(zone.clone()).or_default() += *units as f64 / n;
                }
            }
            TrendBucket {
                start: UtcMillis(start).to_rfc3339(),
                samples: group.len(),
                active_workers_avg: group.iter().map(|s| s.active_workers as f64).sum::<f64>() / n,
                active_workers_max: group.iter().map(|s| s.active_workers).max().unwrap_or(0),
                idle_robots_avg: group.iter().map(|s| s.idle_robots as f64).sum::<f64>() / n,
                conveyor_utilization_avg: group.iter().map(|s| s.conveyor_utilization).sum::<f64>()
                    / n,
                wip_per_zone_avg: wip,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(t: i64, workers: i64, wip: i64) -> CapacitySnapshot {
        CapacitySnapshot {
            correlation_id: CorrelationId::parse("c").unwrap(),
            warehouse_id: WarehouseId::parse("W").unwrap(),
            occurred_at: UtcMillis(t),
            active_workers: workers,
            idle_robots: 1,
            conveyor_utilization: 0.5,
            wip_per_zone: [("A".to_string(), wip)].into(),
        }
    }

    #[test]
    fn buckets_average_and_take_the_maximum() {
        let width = parse_bucket("5m").unwrap();
        assert_eq!(width, 300_000);
        let t = trend(
            &[snap(0, 10, 4), snap(60_000, 20, 8), snap(300_000, 5, 1)],
            width,
        );
        assert_eq!(t.len(), 2);
        assert_eq!(
            (
                t[0].samples,
                t[0].active_workers_avg,
                t[0].active_workers_max
            ),
            (2, 15.0, 20)
        );
        assert_eq!(t[0].wip_per_zone_avg["A"], 6.0);
        assert_eq!(t[1].start, "1970-01-01T00:05:00.000Z");
    }

    #[test]
    fn bucket_widths_parse_or_are_refused() {
        assert_eq!(parse_bucket("30s"), Some(30_000));
        assert_eq!(parse_bucket("1d"), Some(86_400_000));
        for bad in ["", "5", "m", "0m", "5w", "-5m"] {
            assert_eq!(parse_bucket(bad), None, "{bad}");
        }
    }
}
