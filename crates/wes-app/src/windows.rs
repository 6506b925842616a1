//! Reading a window the way a supervisor needs it: the projection's row plus the per-SKU and
//! per-location breakdowns, the exceptions logged in the window and the late movements.

use crate::reconciler::through;
use crate::{App, AppError};
use serde_json::{Value, json};
use wes_domain::masterdata::Partner;
use wes_domain::reconcile::{WindowKey, by_location, by_sku};
use wes_domain::supervisor::QueueSource;
use wes_store::queries::QueueFilter;
use wes_store::windows::WindowRow;

/// Refuses a partner acting for a warehouse it may not.
pub fn check_warehouse(partner: &Partner, warehouse: &str) -> Result<(), AppError> {
    let allowed =
        wes_domain::WarehouseId::parse(warehouse).is_some_and(|w| partner.may_act_for(&w));
    if allowed {
        Ok(())
    } else {
        Err(AppError::CrossWarehouse(format!(
            "partner {} may not act for warehouse {warehouse}",
            partner.partner_id
        )))
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(e.to_string()))
}

impl App {
    /// The window `window_id`, which `partner` must be allowed to see.
    pub async fn window_for(
        &self,
        partner: &Partner,
        window_id: &str,
    ) -> Result<WindowRow, AppError> {
        let window = self
            .reads
            .window(&WindowKey::current_id(window_id))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no window {window_id}")))?;
        check_warehouse(partner, &window.warehouse_id)?;
        Ok(window)
    }

    /// A window with its breakdowns, the exceptions logged in it and its late movements.
    pub async fn window_detail(&self, window: WindowRow) -> Result<Value, AppError> {
        let comparison = wes_events::comparison_of(window.lines.as_deref().unwrap_or_default())?;
        let exceptions = self
            .reads
            .supervisor_queue(
                &QueueFilter {
                    warehouses: vec![window.warehouse_id.clone()],
                    source: Some(QueueSource::Exception),
                    from: Some(window.key.start.0),
                    to: Some(window.key.end.0),
                    ..QueueFilter::default()
                },
                1000,
            )
            .await?;
        let late = match &window.realtime_through {
            Some(positions) if window.decision_event_id.is_some() => Some(
                self.reads
                    .late_movements(&window.key, &through(positions))
                    .await?
                    .len(),
            ),
            _ => None,
        };
        let mut body = to_json(&window)?;
        body["by_sku"] = to_json(&by_sku(&comparison))?;
        body["by_location"] = to_json(&by_location(&comparison))?;
        body["exceptions"] = to_json(&exceptions)?;
        body["late_movements"] = json!(late);
        Ok(body)
    }
}
