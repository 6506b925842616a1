//! The OpenAPI 3.1 document of the whole HTTP surface, served at `/openapi.json` and kept in
//! `docs/openapi.json` (`wes openapi > docs/openapi.json`). A test fails when a route of the
//! router is missing here, or when the file and the served document differ.

use serde_json::{Map, Value, json};

/// Who may call an operation.
#[derive(Clone, Copy)]
enum Access {
    Public,
    Executor,
    Admin,
    Supervisor,
}

impl Access {
    fn security(self) -> Value {
        match self {
            Access::Public => json!([]),
            _ => json!([{"mutualTLS": []}, {"bearerKey": []}]),
        }
    }
    fn note(self) -> &'static str {
        match self {
            Access::Public => "No credential.",
            Access::Executor => {
                "Role EXECUTOR (client certificate or API key); every item's warehouse must be allowed for the credential."
            }
            Access::Admin => "Role ADMIN.",
            Access::Supervisor => "Role SUPERVISOR, limited to the partner's warehouses.",
        }
    }
    fn errors(self) -> &'static [u16] {
        match self {
            Access::Public => &[],
            Access::Executor => &[401, 403, 429],
            Access::Admin | Access::Supervisor => &[401, 403],
        }
    }
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn text(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn param(location: &str, name: &str, required: bool, description: &str) -> Value {
    json!({"name": name, "in": location, "required": required, "description": description, "schema": {"type": "string"}})
}

/// An RFC 3339 instant in the query.
fn instant(name: &str, required: bool, description: &str) -> Value {
    let mut p = param("query", name, required, description);
    p["schema"]["format"] = "date-time".into();
    p
}

fn path_param(name: &str, description: &str) -> Value {
    param("path", name, true, description)
}

fn query(name: &str, description: &str) -> Value {
    param("query", name, false, description)
}

fn limit() -> Value {
    json!({"name": "limit", "in": "query", "required": false, "description": "Most rows returned (1-10000, default 100).",
           "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}})
}

struct Op {
    summary: &'static str,
    description: &'static str,
    tag: &'static str,
    access: Access,
    parameters: Vec<Value>,
    body: Option<Value>,
    ok: Value,
    errors: &'static [u16],
}

impl Op {
    fn build(self, id: &str) -> Value {
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({"description": "OK", "content": {"application/json": {"schema": self.ok}}}),
        );
        let mut codes: Vec<u16> = self
            .access
            .errors()
            .iter()
            .chain(self.errors)
            .copied()
            .collect();
        codes.extend([500, 503]);
        codes.sort_unstable();
        codes.dedup();
        for code in codes {
            responses.insert(
                code.to_string(),
                json!({"$ref": format!("#/components/responses/{code}")}),
            );
        }
        let mut op = json!({
            "operationId": id, "summary": self.summary, "tags": [self.tag],
            "description": format!("{} {}", self.description, self.access.note()),
            "security": self.access.security(), "responses": responses,
        });
        if !self.parameters.is_empty() {
            op["parameters"] = Value::Array(self.parameters);
        }
        if let Some(body) = self.body {
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": body}}});
        }
        op
    }
}

/// A realtime endpoint: one item or an array of them, with the contract's response rules.
fn realtime(summary: &'static str, description: &'static str, item: &str) -> Op {
    Op {
        summary,
        description,
        tag: "realtime",
        access: Access::Executor,
        parameters: vec![],
        body: Some(
            json!({"oneOf": [schema(item), {"type": "array", "minItems": 1, "maxItems": 200, "items": schema(item)}]}),
        ),
        ok: json!({"oneOf": [schema("ItemResult"), schema("BatchResult")]}),
        errors: &[400, 409, 413, 415, 422],
    }
}

fn routes() -> Vec<(&'static str, &'static str, &'static str, Op)> {
    use Access::*;
    let object = json!({"type": "object"});
    vec![
        (
            "/healthz",
            "get",
            "healthz",
            Op {
                summary: "Liveness",
                description: "Answers while the process runs.",
                tag: "operations",
                access: Public,
                parameters: vec![],
                body: None,
                ok: object.clone(),
                errors: &[],
            },
        ),
        (
            "/readyz",
            "get",
            "readyz",
            Op {
                summary: "Readiness",
                description: "200 when broker, registry, database and projections are usable; otherwise a 503 problem whose `checks` member says which failed.",
                tag: "operations",
                access: Public,
                parameters: vec![],
                body: None,
                ok: object.clone(),
                errors: &[],
            },
        ),
        (
            "/openapi.json",
            "get",
            "openapi",
            Op {
                summary: "This document",
                description: "The OpenAPI 3.1 document of the HTTP API.",
                tag: "operations",
                access: Public,
                parameters: vec![],
                body: None,
                ok: object.clone(),
                errors: &[],
            },
        ),
        (
            "/wes/v1/realtime/movements",
            "post",
            "postMovements",
            realtime(
                "Report movements",
                "Applied to the inventory ledger (source WES, executor partner and correlation id kept).",
                "Movement",
            ),
        ),
        (
            "/wes/v1/realtime/exceptions",
            "post",
            "postExceptions",
            realtime(
                "Report exceptions",
                "Each accepted exception is an event on `wes.realtime.exceptions.v1`, opens a supervisor-queue entry (entry id = the exception's event id) and raises a notification on `wes.notifications.v1`. A replay creates neither again. Never affects the ledger.",
                "Exception",
            ),
        ),
        (
            "/wes/v1/realtime/work-status",
            "post",
            "postWorkStatus",
            realtime(
                "Report task status",
                "Task lifecycle; terminal states stay terminal, older events do not move the status back, illegal steps are recorded and flagged. No ledger effect.",
                "WorkStatus",
            ),
        ),
        (
            "/wes/v1/realtime/capacity",
            "post",
            "postCapacity",
            realtime(
                "Report capacity",
                "Snapshots for dashboards and trends only; never inventory or accounting.",
                "CapacitySnapshot",
            ),
        ),
        (
            "/wes/v1/confirmation/shift-summary",
            "post",
            "postShiftSummary",
            Op {
                summary: "Confirm a shift's movement totals",
                description: "One object: the window `[window_start, window_end)` and its cumulative totals per (sku, kind, from_location, to_location, lot). Same window and correlation_id: 200 replay; same window, another correlation_id: 409 `#state-conflict`. The reconciler answers the window's status: RECONCILED, DISCREPANCY (a supervisor-queue entry and an URGENT notification) or PENDING (decided on the next replay).",
                tag: "confirmation",
                access: Executor,
                parameters: vec![],
                body: Some(schema("ShiftSummary")),
                ok: schema("ConfirmationResult"),
                errors: &[400, 409, 413, 415, 422],
            },
        ),
        (
            "/wes/v1/confirmation/cycle-count",
            "post",
            "postCycleCount",
            Op {
                summary: "Confirm counted stock",
                description: "One object: the window and `counts[]` per (sku, location, lot, serial). Compared with the ledger's balances as of `window_end` for the counted keys only. Same keys and answers as the shift summary.",
                tag: "confirmation",
                access: Executor,
                parameters: vec![],
                body: Some(schema("CycleCount")),
                ok: schema("ConfirmationResult"),
                errors: &[400, 409, 413, 415, 422],
            },
        ),
        (
            "/wes/v1/confirmation/inventory-snapshot",
            "post",
            "postInventorySnapshot",
            Op {
                summary: "Confirm a stock snapshot",
                description: "One object: the window, `scope` FULL or PARTIAL, `as_of` (within the window) and `quantities[]` per (sku, location, lot, serial). Compared with the ledger's balances as of `as_of`; a FULL snapshot also flags stock the ledger has and the snapshot lacks.",
                tag: "confirmation",
                access: Executor,
                parameters: vec![],
                body: Some(schema("InventorySnapshot")),
                ok: schema("ConfirmationResult"),
                errors: &[400, 409, 413, 415, 422],
            },
        ),
        (
            "/planner/v1/windows",
            "get",
            "windows",
            Op {
                summary: "Confirmation windows",
                description: "Windows of the caller's warehouses, newest first.",
                tag: "supervisor",
                access: Supervisor,
                parameters: vec![
                    query("warehouse_id", "Only this warehouse."),
                    query("status", "PENDING, DISCREPANCY or RECONCILED."),
                    limit(),
                ],
                body: None,
                ok: object.clone(),
                errors: &[400],
            },
        ),
        (
            "/planner/v1/windows/{window_id}",
            "get",
            "window",
            Op {
                summary: "One window",
                description: "Confirmation totals, realtime sums and their per-line comparison, per-SKU and per-location breakdowns, the exceptions logged in the window, and the movements of the window that arrived after it was decided (`late_movements`).",
                tag: "supervisor",
                access: Supervisor,
                parameters: vec![path_param(
                    "window_id",
                    "The window id from a confirmation's answer or the window list (a UUID; no escaping needed). The key text `partner|warehouse|start ms|end ms` that served as the id before (percent-encoded) finds the window too.",
                )],
                body: None,
                ok: object.clone(),
                errors: &[404],
            },
        ),
        (
            "/planner/v1/windows/{window_id}/resolve",
            "post",
            "resolveWindow",
            Op {
                summary: "Resolve a discrepancy",
                description: "`accept-confirmation` appends compensating ADJUST movements (partner `wes/reconciler`) so the ledger equals the confirmation; `accept-realtime` discards the confirmation's deltas; `manual-adjustment` (counts and snapshots only; 422 for a shift summary) appends the supervisor's `adjustments` after checking that with them the ledger as of the count matches it (409 and nothing written otherwise). The window becomes RECONCILED, `wes.window.reconciled.v1` carries resolved_by, resolution and resolution_reason, and the window's queue entry is closed. 409 unless the window is in DISCREPANCY.",
                tag: "supervisor",
                access: Supervisor,
                parameters: vec![path_param(
                    "window_id",
                    "Window id (a UUID), as in the window's `window_id`; the earlier key text `partner|warehouse|start ms|end ms`, percent-encoded, works too.",
                )],
                body: Some(
                    json!({"type": "object", "required": ["supervisor_id", "reason", "resolution"], "additionalProperties": false, "properties": {"supervisor_id": {"type": "string"}, "reason": {"type": "string", "minLength": 1, "maxLength": 2000}, "resolution": {"enum": ["accept-confirmation", "accept-realtime", "manual-adjustment"]}, "adjustments": {"type": "array", "description": "manual-adjustment only: signed ADJUST quantities.", "items": {"type": "object", "required": ["sku", "location", "qty"], "properties": {"sku": {"type": "string"}, "location": {"type": "string"}, "lot": {"type": "string"}, "serial": {"type": "string"}, "qty": {"type": "integer"}}}}}}),
                ),
                ok: object.clone(),
                errors: &[400, 404, 409],
            },
        ),
        (
            "/planner/v1/documents/{doc_type}/{doc_id}/tasks",
            "get",
            "tasksOfDocument",
            Op {
                summary: "Tasks of a document",
                description: "Current status of every task of the document.",
                tag: "tasks",
                access: Admin,
                parameters: vec![
                    path_param("doc_type", "Document type (SHIPPER, RECEIVER, ...)."),
                    path_param("doc_id", "Document id."),
                    query("warehouse_id", "Only this warehouse."),
                ],
                body: None,
                ok: object.clone(),
                errors: &[400],
            },
        ),
        (
            "/planner/v1/warehouses/{warehouse_id}/tasks/{task_id}",
            "get",
            "task",
            Op {
                summary: "One task and its history",
                description: "Current state and every status event, flagged ones included.",
                tag: "tasks",
                access: Admin,
                parameters: vec![
                    path_param("warehouse_id", "Warehouse."),
                    path_param("task_id", "Task."),
                ],
                body: None,
                ok: object.clone(),
                errors: &[404],
            },
        ),
        (
            "/planner/v1/capacity/trends",
            "get",
            "capacityTrends",
            Op {
                summary: "Capacity trend series",
                description: "Time-bucketed averages and maxima of the capacity snapshots.",
                tag: "capacity",
                access: Admin,
                parameters: vec![
                    param("query", "warehouse_id", true, "Warehouse."),
                    instant("from", true, "RFC 3339, inclusive."),
                    instant("to", true, "RFC 3339, exclusive."),
                    param("query", "bucket", true, "Bucket width: 30s, 5m, 1h, 1d."),
                ],
                body: None,
                ok: object.clone(),
                errors: &[400],
            },
        ),
        (
            "/planner/v1/supervisor/queue",
            "get",
            "supervisorQueue",
            Op {
                summary: "The supervisor queue",
                description: "Entries of the caller's warehouses, most severe first, then oldest first.",
                tag: "supervisor",
                access: Supervisor,
                parameters: vec![
                    query(
                        "warehouse_id",
                        "Only this warehouse (must be allowed for the credential).",
                    ),
                    query(
                        "source",
                        "EXCEPTION, WINDOW_DISCREPANCY, LATE_MOVEMENT or DISPATCH_DEAD_LETTER.",
                    ),
                    query("status", "OPEN, ACKNOWLEDGED or CLOSED."),
                    query("severity", "LOW, MEDIUM, HIGH or URGENT."),
                    query("code", "Exception code."),
                    instant("from", false, "RFC 3339: occurred at or after."),
                    instant("to", false, "RFC 3339: occurred before."),
                    limit(),
                ],
                body: None,
                ok: json!({"type": "object", "properties": {"entries": {"type": "array", "items": schema("QueueEntry")}, "truncated": {"type": "boolean"}}}),
                errors: &[400],
            },
        ),
        (
            "/planner/v1/supervisor/queue/{entry_id}",
            "get",
            "supervisorEntry",
            Op {
                summary: "One queue entry",
                description: "The entry with its audit trail (`steps`).",
                tag: "supervisor",
                access: Supervisor,
                parameters: vec![path_param("entry_id", "Entry id.")],
                body: None,
                ok: schema("QueueEntry"),
                errors: &[404],
            },
        ),
        (
            "/planner/v1/supervisor/queue/{entry_id}/acknowledge",
            "post",
            "acknowledgeEntry",
            Op {
                summary: "Acknowledge an entry",
                description: "OPEN → ACKNOWLEDGED, recorded as an event on `wes.supervisor.actions.v1`; answers the entry once the queue shows it. 409 unless OPEN.",
                tag: "supervisor",
                access: Supervisor,
                parameters: vec![path_param("entry_id", "Entry id.")],
                body: Some(schema("SupervisorAction")),
                ok: schema("QueueEntry"),
                errors: &[400, 404, 409],
            },
        ),
        (
            "/planner/v1/supervisor/queue/{entry_id}/close",
            "post",
            "closeEntry",
            Op {
                summary: "Close an entry",
                description: "OPEN or ACKNOWLEDGED → CLOSED with a non-empty reason. 409 when already closed.",
                tag: "supervisor",
                access: Supervisor,
                parameters: vec![path_param("entry_id", "Entry id.")],
                body: Some(schema("SupervisorAction")),
                ok: schema("QueueEntry"),
                errors: &[400, 404, 409],
            },
        ),
        (
            "/planner/v1/releases",
            "post",
            "postReleases",
            Op {
                summary: "Release documents to dispatch",
                description: "One release or an array; each is a dispatch event on `wms-wes.dispatch.events.v1` keyed by warehouse_frn. Keyed (planner_id, correlation_id) like realtime items.",
                tag: "dispatch",
                access: Admin,
                parameters: vec![],
                body: Some(
                    json!({"oneOf": [schema("Release"), {"type": "array", "minItems": 1, "maxItems": 200, "items": schema("Release")}]}),
                ),
                ok: json!({"oneOf": [schema("ItemResult"), schema("BatchResult")]}),
                errors: &[400, 409, 413, 415, 422],
            },
        ),
        (
            "/planner/v1/releases/{correlation_id}/amend",
            "post",
            "amendRelease",
            Op {
                summary: "Amend or reprioritize a live release",
                description: "Appends a CANCELLED of the live release `correlation_id`, then the body as a fresh release of the same warehouse and document, in that order and in one partition; both or neither. The CANCELLED's correlation id is derived from the fresh release's, so a retry with the same body (and its `correlation_id`) replays both.",
                tag: "dispatch",
                access: Admin,
                parameters: vec![path_param("correlation_id", "The live release to amend.")],
                body: Some(schema("Release")),
                ok: json!({"type": "object", "required": ["cancellation", "release"], "properties": {
                    "cancellation": schema("ItemResult"), "release": schema("ItemResult")}}),
                errors: &[400, 404, 409, 413, 415, 422],
            },
        ),
        (
            "/wes/v1/dispatch/pending",
            "get",
            "getPendingDispatch",
            Op {
                summary: "Poll-mode dispatch: the next page of releases",
                description: "The releases of a warehouse configured for POLLING to this executor, in the warehouse's log order, each as the contract's envelope exactly as the planner sent it. After `since` (a `next_cursor` this hub gave out), or after the acknowledged position: without an ack the same page comes back. `next_cursor` is empty when the page is empty. 409 when the warehouse uses another transport (the problem names it) or none.",
                tag: "dispatch",
                access: Executor,
                parameters: vec![
                    query("since", "A cursor from an earlier page (opaque)."),
                    json!({"name": "limit", "in": "query", "required": false, "description": "Most events returned (1-100, default 100).",
                           "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100}}),
                    query(
                        "warehouse_id",
                        "Required when the credential acts for more than one warehouse.",
                    ),
                ],
                body: None,
                ok: schema("PendingPage"),
                errors: &[400, 404, 409],
            },
        ),
        (
            "/wes/v1/dispatch/ack",
            "post",
            "ackDispatch",
            Op {
                summary: "Poll-mode dispatch: acknowledge up to a cursor",
                description: "Moves the executor's position to `cursor` once it has processed the events up to it durably. The same cursor again is a 200 no-op (`advanced: false`); a cursor behind the acknowledged one is 409; an unknown cursor is 404. Acks are events: they survive restarts and rebuilds.",
                tag: "dispatch",
                access: Executor,
                parameters: vec![query(
                    "warehouse_id",
                    "Required when the credential acts for more than one warehouse (or give it in the body).",
                )],
                body: Some(
                    json!({"type": "object", "required": ["cursor"], "additionalProperties": false, "properties": {
                    "cursor": {"type": "string"}, "warehouse_id": {"type": "string"}}}),
                ),
                ok: json!({"type": "object", "properties": {"warehouse_id": {"type": "string"}, "cursor": {"type": "string"}, "advanced": {"type": "boolean"}, "replay": {"type": "boolean"}}}),
                errors: &[400, 404, 409, 413, 415],
            },
        ),
        (
            "/planner/v1/dispatch/deliveries",
            "get",
            "getWebhookDeliveries",
            Op {
                summary: "Webhook deliveries",
                description: "Newest first: each release of a WEBHOOK warehouse with its status (PENDING, RETRYING, DELIVERED, DEAD_LETTERED), attempts, last status code and error, first and next attempt time.",
                tag: "dispatch",
                access: Admin,
                parameters: vec![
                    query("warehouse_id", "Warehouse."),
                    query(
                        "status",
                        "PENDING, RETRYING, DELIVERED, DEAD_LETTERED or DROPPED.",
                    ),
                    limit(),
                ],
                body: None,
                ok: json!({"type": "object", "properties": {"deliveries": {"type": "array", "items": schema("WebhookDelivery")}}}),
                errors: &[400],
            },
        ),
        (
            "/planner/v1/dispatch/dead-letters/{delivery_id}/redrive",
            "post",
            "redriveDeadLetter",
            Op {
                summary: "Send a dead-lettered delivery again",
                description: "Back to PENDING with a fresh round of attempts; being its lane's oldest, it goes before the lane's later releases. 404 for an unknown delivery, 409 when it is not DEAD_LETTERED.",
                tag: "dispatch",
                access: Admin,
                parameters: vec![path_param(
                    "delivery_id",
                    "The delivery id (X-FGAI-Delivery-Id).",
                )],
                body: None,
                ok: schema("WebhookDelivery"),
                errors: &[404, 409],
            },
        ),
        (
            "/planner/v1/warehouses/{warehouse_id}/dispatch-transport",
            "get",
            "getDispatchTransport",
            Op {
                summary: "A warehouse's dispatch transport",
                description: "KAFKA, WEBHOOK or POLLING, the executor, the webhook URL, whether a secret is set (never the secret) and where delivery started in the dispatch topic.",
                tag: "dispatch",
                access: Admin,
                parameters: vec![path_param("warehouse_id", "Warehouse id.")],
                body: None,
                ok: schema("DispatchTransport"),
                errors: &[400, 404],
            },
        ),
        (
            "/planner/v1/warehouses/{warehouse_id}/dispatch-transport",
            "put",
            "putDispatchTransport",
            Op {
                summary: "Configure a warehouse's dispatch transport",
                description: "One transport per warehouse. A new transport delivers the releases appended after it was configured. The same body again is a no-op (`UNCHANGED`); the same transport with another executor or URL is `UPDATED` and keeps its position; another transport while one is set is 409 (DELETE it first), and so is another webhook secret. The secret is kept sealed (AES-256-GCM) and never shown.",
                tag: "dispatch",
                access: Admin,
                parameters: vec![path_param("warehouse_id", "Warehouse id.")],
                body: Some(
                    json!({"type": "object", "required": ["transport", "partner_id"], "additionalProperties": false, "properties": {
                    "transport": {"enum": ["KAFKA", "WEBHOOK", "POLLING"]},
                    "partner_id": text("The executor (role EXECUTOR, allowed for the warehouse)."),
                    "url": text("WEBHOOK only: the receiver's http(s) URL."),
                    "secret": {"type": "string", "minLength": 16, "maxLength": 256, "description": "WEBHOOK only: the HMAC-SHA256 signing secret."}}}),
                ),
                ok: json!({"type": "object", "properties": {"outcome": {"enum": ["CONFIGURED", "UPDATED", "UNCHANGED"]}, "transport": schema("DispatchTransport")}}),
                errors: &[400, 409, 413, 415, 422],
            },
        ),
        (
            "/planner/v1/warehouses/{warehouse_id}/dispatch-transport/rotate-secret",
            "post",
            "rotateWebhookSecret",
            Op {
                summary: "Rotate a webhook transport's secret",
                description: "The new secret signs from now on; the one it replaces stays the previous secret, which deliveries are also signed with (`X-FGAI-Signature-Previous`) during the overlap after the rotation. The same secret again is a no-op (`rotated: false`). 409 when the warehouse's transport is not WEBHOOK, 404 when it has none.",
                tag: "dispatch",
                access: Admin,
                parameters: vec![path_param("warehouse_id", "Warehouse id.")],
                body: Some(
                    json!({"type": "object", "required": ["secret"], "additionalProperties": false, "properties": {
                    "secret": {"type": "string", "minLength": 16, "maxLength": 256}}}),
                ),
                ok: json!({"type": "object", "properties": {"rotated": {"type": "boolean"}, "transport": schema("DispatchTransport")}}),
                errors: &[400, 404, 409, 413, 415],
            },
        ),
        (
            "/planner/v1/warehouses/{warehouse_id}/dispatch-transport",
            "delete",
            "deleteDispatchTransport",
            Op {
                summary: "Remove a warehouse's dispatch transport",
                description: "Delivery by it stops; the Kafka dispatch topic keeps carrying every release.",
                tag: "dispatch",
                access: Admin,
                parameters: vec![path_param("warehouse_id", "Warehouse id.")],
                body: None,
                ok: json!({"type": "object", "properties": {"warehouse_id": {"type": "string"}, "removed": {"type": "boolean"}}}),
                errors: &[400, 404],
            },
        ),
        (
            "/planner/v1/releases",
            "get",
            "getReleases",
            Op {
                summary: "Dispatched releases",
                description: "Releases and cancellations as the dispatch projection holds them.",
                tag: "dispatch",
                access: Admin,
                parameters: vec![
                    query("warehouse_id", "Warehouse."),
                    query("document_id", "Document id."),
                    limit(),
                ],
                body: None,
                ok: object.clone(),
                errors: &[400],
            },
        ),
        (
            "/planner/v1/ledger/balances",
            "get",
            "balances",
            Op {
                summary: "Ledger balances",
                description: "Per (warehouse, SKU, location, lot, serial).",
                tag: "ledger",
                access: Admin,
                parameters: vec![
                    query("warehouse_id", "Warehouse."),
                    query("sku", "SKU."),
                    query("location", "Location."),
                    limit(),
                ],
                body: None,
                ok: object.clone(),
                errors: &[400],
            },
        ),
        (
            "/planner/v1/ledger/movements",
            "get",
            "ledgerMovements",
            Op {
                summary: "The movement log",
                description: "Applied movements in occurred_at order.",
                tag: "ledger",
                access: Admin,
                parameters: vec![
                    query("warehouse_id", "Warehouse."),
                    query("sku", "SKU."),
                    query("location", "From or to this location."),
                    query("correlation_id", "Executor correlation id."),
                    query("partner_id", "Executor partner."),
                    limit(),
                ],
                body: None,
                ok: object.clone(),
                errors: &[400],
            },
        ),
        (
            "/planner/v1/projections",
            "get",
            "projections",
            Op {
                summary: "Projection status",
                description: "Offsets, lag and health of every projection.",
                tag: "operations",
                access: Admin,
                parameters: vec![],
                body: None,
                ok: object.clone(),
                errors: &[],
            },
        ),
        (
            "/planner/v1/projections/{name}/rebuild",
            "post",
            "rebuildProjection",
            Op {
                summary: "Rebuild a projection",
                description: "Replays the log into shadow tables and swaps them in atomically.",
                tag: "operations",
                access: Admin,
                parameters: vec![path_param(
                    "name",
                    "masterdata, ledger, dispatch, tasks, capacity, supervisor or windows.",
                )],
                body: None,
                ok: object.clone(),
                errors: &[404],
            },
        ),
        (
            "/planner/v1/masterdata",
            "get",
            "getMasterData",
            Op {
                summary: "All master data",
                description: "Warehouses, SKUs, locations and partners (keys as key ids only).",
                tag: "masterdata",
                access: Admin,
                parameters: vec![],
                body: None,
                ok: object.clone(),
                errors: &[],
            },
        ),
        (
            "/planner/v1/masterdata",
            "post",
            "postMasterData",
            Op {
                summary: "Import master data",
                description: "Any mix of the four kinds; answers once validation sees it.",
                tag: "masterdata",
                access: Admin,
                parameters: vec![],
                body: Some(schema("Bundle")),
                ok: schema("BundleReport"),
                errors: &[400, 404, 422],
            },
        ),
        (
            "/planner/v1/warehouses/{warehouse_id}",
            "put",
            "putWarehouse",
            Op {
                summary: "Create or update a warehouse",
                description: "Upsert.",
                tag: "masterdata",
                access: Admin,
                parameters: vec![path_param("warehouse_id", "Warehouse.")],
                body: Some(schema("Warehouse")),
                ok: schema("BundleReport"),
                errors: &[400, 422],
            },
        ),
        (
            "/planner/v1/skus/{sku}",
            "put",
            "putSku",
            Op {
                summary: "Create or update a SKU",
                description: "Upsert.",
                tag: "masterdata",
                access: Admin,
                parameters: vec![path_param("sku", "SKU.")],
                body: Some(schema("Sku")),
                ok: schema("BundleReport"),
                errors: &[400, 422],
            },
        ),
        (
            "/planner/v1/warehouses/{warehouse_id}/locations/{location}",
            "put",
            "putLocation",
            Op {
                summary: "Create a location",
                description: "Upsert.",
                tag: "masterdata",
                access: Admin,
                parameters: vec![
                    path_param("warehouse_id", "Warehouse."),
                    path_param("location", "Location code."),
                ],
                body: Some(object.clone()),
                ok: schema("BundleReport"),
                errors: &[400, 422],
            },
        ),
        (
            "/planner/v1/partners/{partner_id}",
            "put",
            "putPartner",
            Op {
                summary: "Create or update a partner",
                description: "Upsert of the registry entry: role, warehouses, keys, enrolled certificates, bearer switch.",
                tag: "masterdata",
                access: Admin,
                parameters: vec![path_param(
                    "partner_id",
                    "Partner id, URL-encoded (`WH-Tokyo-01%2FAcmeWES`).",
                )],
                body: Some(schema("Partner")),
                ok: schema("BundleReport"),
                errors: &[400, 404, 422],
            },
        ),
        (
            "/planner/v1/partners/{partner_id}/keys",
            "post",
            "issueKey",
            Op {
                summary: "Issue an API key",
                description: "Adds a generated key and returns it once. Body optional: `{expires_at}`.",
                tag: "masterdata",
                access: Admin,
                parameters: vec![path_param("partner_id", "Partner id, URL-encoded.")],
                body: None,
                ok: object.clone(),
                errors: &[400, 404],
            },
        ),
        (
            "/planner/v1/partners/{partner_id}/keys/{key_id}",
            "delete",
            "revokeKey",
            Op {
                summary: "Revoke an API key",
                description: "Effective when the call answers.",
                tag: "masterdata",
                access: Admin,
                parameters: vec![
                    path_param("partner_id", "Partner id, URL-encoded."),
                    path_param("key_id", "Key id (first 16 hex digits of its digest)."),
                ],
                body: None,
                ok: object,
                errors: &[400, 404],
            },
        ),
    ]
}

fn components() -> Value {
    let doc_ref = json!({"type": "object", "required": ["type", "id"], "properties": {
        "type": {"enum": ["PR", "PO", "SO", "RECEIVER", "SHIPPER", "WORKORDER", "TRANSFER_ORDER", "VASORDER", "REFURBISH_ORDER", "CYCLE_COUNT", "OTHER"]},
        "id": {"type": "string"}, "line_no": {"type": "integer", "minimum": 1}}});
    let id = json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$"});
    let time = json!({"type": "string", "format": "date-time", "description": "RFC 3339, seconds or milliseconds."});
    let problem_response = |description: &str| json!({"description": description, "content": {"application/problem+json": {"schema": schema("Problem")}}});
    let retry = json!({"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}});
    let mut retrying_429 = problem_response("Rate limited: retry after `Retry-After` seconds.");
    retrying_429["headers"] = retry.clone();
    let mut retrying_503 = problem_response(
        "A dependency (broker, registry, database) is unavailable or the hub's outbound queue is full; retry after `Retry-After` seconds with the same correlation ids.",
    );
    retrying_503["headers"] = retry;
    json!({
        "securitySchemes": {
            "mutualTLS": {"type": "mutualTLS", "description": "Production: a client certificate whose SHA-256 thumbprint is enrolled for the partner, on the mTLS listener (`WES_TLS_ADDR`). Self-signed certificates are refused unless enrolled."},
            "bearerKey": {"type": "http", "scheme": "bearer", "description": "Dev/test: `Authorization: Bearer <API key>`; refused for partners with `bearer_allowed: false`."}
        },
        "responses": {
            "400": problem_response("Malformed: invalid JSON, missing required field, unknown enum value."),
            "401": problem_response("Missing, unknown, expired or revoked credential; unenrolled certificate; bearer key for a partner that refuses them."),
            "403": problem_response("Credential valid but not for this role (`#forbidden`) or warehouse (`#cross-warehouse-credential`)."),
            "404": problem_response("The named entity does not exist."),
            "409": problem_response("State conflict: same key still in flight (`#request-in-flight`), or a step the entity's state does not allow (`#state-conflict`)."),
            "413": problem_response("Body over the size limit (4 MiB default) or more array items than allowed (200 default)."),
            "415": problem_response("Content type is not JSON."),
            "422": problem_response("Business-invalid: unknown SKU, location or warehouse, wrong UoM, malformed document_ref, key reused with a different payload."),
            "429": retrying_429,
            "500": problem_response("Platform failure; quote the trace_id."),
            "503": retrying_503,
        },
        "schemas": {
            "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "instance", "trace_id"], "properties": {
                "type": {"type": "string", "description": "`urn:wes:problem#<slug>`; docs/errors.md lists every slug."},
                "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
                "instance": {"type": "string", "description": "The request path."},
                "trace_id": {"type": "string", "description": "From W3C `traceparent` when given, else generated; also in the logs and `x-trace-id`."},
                "field": {"type": "string", "description": "JSON pointer of the offending field, when one is at fault."}}},
            "ItemResult": {"type": "object", "required": ["correlation_id", "status", "replay"], "properties": {
                "correlation_id": {"type": "string"}, "status": {"enum": ["ACCEPTED", "REPLAY"]}, "replay": {"type": "boolean"}}},
            "BatchResult": {"type": "object", "required": ["replay", "results", "summary"], "properties": {
                "replay": {"type": "boolean", "description": "True only when every item was a replay."},
                "results": {"type": "array", "items": {"type": "object", "properties": {
                    "correlation_id": {"type": ["string", "null"]}, "status": {"enum": ["ACCEPTED", "REPLAY", "REJECTED"]},
                    "problem": schema("Problem")}}},
                "summary": {"type": "object", "properties": {"accepted": {"type": "integer"}, "replay": {"type": "integer"}, "rejected": {"type": "integer"}}}}},
            "DocumentRef": doc_ref,
            "Movement": {"type": "object", "required": ["correlation_id", "kind", "warehouse_id", "sku", "qty", "uom", "occurred_at"], "properties": {
                "correlation_id": id, "kind": {"enum": ["PICK", "PUT", "MOVE", "ADJUST", "CONSUME", "PRODUCE", "RECEIVE", "SHIP"]},
                "warehouse_id": id, "sku": id, "qty": {"type": "integer", "description": "> 0, except ADJUST which may be negative."},
                "uom": {"type": "string", "description": "Must equal the SKU's base UoM."},
                "from_location": {"type": "string", "description": "Required for PICK, MOVE, CONSUME, SHIP."},
                "to_location": {"type": "string", "description": "Required for PUT, MOVE, PRODUCE, RECEIVE."},
                "lot": {"type": "string", "description": "Required for lot-tracked SKUs."}, "serial": {"type": "string", "description": "Required for serial-tracked SKUs; one per record."},
                "document_ref": schema("DocumentRef"), "occurred_at": time,
                "actor": {"type": "object", "properties": {"kind": {"enum": ["HUMAN", "ROBOT", "DEVICE", "SYSTEM"]}, "id": {"type": "string"}}}}},
            "Exception": {"type": "object", "required": ["correlation_id", "warehouse_id", "code", "severity", "occurred_at"], "properties": {
                "correlation_id": id, "warehouse_id": id,
                "code": {"enum": ["SHORT_PICK", "DAMAGED_PRODUCT", "WRONG_SKU", "ROBOT_STUCK", "WORKER_UNAVAILABLE", "DEVICE_FAULT", "SUBSYSTEM_OFFLINE", "OTHER"]},
                "severity": {"enum": ["LOW", "MEDIUM", "HIGH", "URGENT"]}, "occurred_at": time, "document_ref": schema("DocumentRef"),
                "sku": {"type": "string", "description": "Must exist."}, "location": {"type": "string", "description": "Must exist in the warehouse."},
                "qty": {"type": "integer", "minimum": 0}, "device_id": id, "message": {"type": "string", "maxLength": 2000}}},
            "WorkStatus": {"type": "object", "required": ["correlation_id", "warehouse_id", "task_id", "document_ref", "status", "occurred_at"], "properties": {
                "correlation_id": id, "warehouse_id": id, "task_id": id, "document_ref": schema("DocumentRef"),
                "status": {"enum": ["ASSIGNED", "IN_PROGRESS", "PAUSED", "COMPLETED", "CANCELLED", "FAILED"]},
                "worker_id": id, "robot_id": id, "occurred_at": time, "reason": {"type": "string", "maxLength": 2000}}},
            "CapacitySnapshot": {"type": "object", "required": ["correlation_id", "warehouse_id", "occurred_at"], "properties": {
                "correlation_id": id, "warehouse_id": id, "occurred_at": time,
                "active_workers": {"type": "integer", "minimum": 0}, "idle_robots": {"type": "integer", "minimum": 0},
                "conveyor_utilization": {"type": "number", "minimum": 0, "maximum": 1},
                "wip_per_zone": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}}},
            "Release": {"type": "object", "required": ["kind", "warehouse_id", "document_ref"], "properties": {
                "kind": {"enum": ["SHIPPER_RELEASED", "RECEIVER_EXPECTED", "WORKORDER_RELEASED", "TRANSFER_OUT_RELEASED", "TRANSFER_IN_EXPECTED", "VASORDER_RELEASED", "REFURBISH_ORDER_RELEASED", "CANCELLED"]},
                "correlation_id": text("Assigned when missing."), "planner_id": text("Defaults to the hub's WES_PLANNER_ID."),
                "warehouse_id": id, "document_ref": schema("DocumentRef"),
                "routing": {"type": "object", "description": "The whole recipe inline: ordered `ops` (op_id, kind, sku, qty, locations, carton, dock, expected time/cost, bom_deltas, skills, resources, …; `operations` is accepted instead, not both); unknown operation fields are kept.", "properties": {"ops": {"type": "array", "items": {"type": "object", "required": ["op_id", "kind"]}}, "operations": {"type": "array", "items": {"type": "object", "required": ["op_id", "kind"]}}}},
                "meta": {"type": "object", "description": "Unknown fields are kept and delivered.", "properties": {"priority": {"enum": ["LOW", "NORMAL", "HIGH", "URGENT"], "description": "Default NORMAL. A number is still accepted: below 0 LOW, 0 NORMAL, 1 HIGH, above URGENT."}, "released_at": time}},
                "lines": {"type": "array", "items": {"type": "object"}, "description": "Expected lines (ASN-driven receivers)."},
                "cancelled_correlation_id": text("CANCELLED only: the release it cancels.")}},
            "DispatchTransport": {"type": "object", "properties": {
                "warehouse_id": {"type": "string"}, "transport": {"enum": ["KAFKA", "WEBHOOK", "POLLING"]},
                "partner_id": {"type": "string"}, "url": {"type": "string"}, "secret_set": {"type": "boolean"}, "rotated_at": time,
                "configured_at": time, "starts_at": {"type": "array", "items": {"type": "object", "properties": {
                    "topic": {"type": "string"}, "partition": {"type": "integer"}, "offset": {"type": "integer"}}}}}},
            "WebhookDelivery": {"type": "object", "properties": {
                "delivery_id": {"type": "string"}, "planner_id": {"type": "string"}, "warehouse_id": {"type": "string"},
                "correlation_id": {"type": "string"}, "kafka_partition": {"type": "integer"}, "kafka_offset": {"type": "integer"},
                "status": {"enum": ["PENDING", "RETRYING", "DELIVERED", "DEAD_LETTERED", "DROPPED"]}, "attempts": {"type": "integer"},
                "first_attempt_at": {"type": ["string", "null"], "format": "date-time"}, "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                "last_status_code": {"type": ["integer", "null"]}, "last_error": {"type": ["string", "null"]},
                "updated_at": time, "redrives": {"type": "integer"}}},
            "PendingPage": {"type": "object", "required": ["warehouse_id", "events", "next_cursor"], "properties": {
                "warehouse_id": {"type": "string"},
                "events": {"type": "array", "items": {"type": "object", "description": "The contract's release envelope, as the planner sent it."}},
                "next_cursor": {"type": "string", "description": "Opaque; empty when the page is empty."}}},
            "QueueEntry": {"type": "object", "properties": {
                "entry_id": text("The exception's event id."), "warehouse_id": {"type": "string"}, "status": {"enum": ["OPEN", "ACKNOWLEDGED", "CLOSED"]},
                "source": {"type": "string"}, "code": {"type": "string"}, "severity": {"enum": ["LOW", "MEDIUM", "HIGH", "URGENT"]},
                "occurred_at": time, "opened_at": time, "partner_id": {"type": "string"}, "correlation_id": {"type": "string"},
                "document_ref": schema("DocumentRef"), "sku": {"type": "string"}, "location": {"type": "string"}, "qty": {"type": "integer"},
                "device_id": {"type": "string"}, "message": {"type": "string"},
                "acknowledged": {"type": ["object", "null"], "properties": {"by": {"type": "string"}, "at": time}},
                "closed": {"type": ["object", "null"], "properties": {"by": {"type": "string"}, "at": time, "reason": {"type": "string"}}},
                "steps": {"type": "array", "description": "Detail only: the audit trail.", "items": {"type": "object", "properties": {
                    "event_id": {"type": "string"}, "step": {"enum": ["OPENED", "ACKNOWLEDGED", "CLOSED"]}, "by": {"type": "string"},
                    "partner_id": {"type": "string"}, "at": time, "reason": {"type": ["string", "null"]}}}}}},
            "ShiftSummary": {"type": "object", "required": ["correlation_id", "warehouse_id", "window_start", "window_end", "totals"], "properties": {
                "correlation_id": id, "warehouse_id": id, "window_start": time, "window_end": time,
                "totals": {"type": "array", "items": {"type": "object", "required": ["sku", "kind", "qty", "uom"], "description": "A movement without its identity: from_location / to_location as the kind requires, lot when tracked; one line per key.", "properties": {
                    "sku": id, "kind": {"enum": ["PICK", "PUT", "MOVE", "ADJUST", "CONSUME", "PRODUCE", "RECEIVE", "SHIP"]},
                    "from_location": {"type": "string"}, "to_location": {"type": "string"}, "lot": {"type": "string"},
                    "qty": {"type": "integer"}, "uom": {"type": "string"}}}}}},
            "StockLine": {"type": "object", "required": ["sku", "location", "qty"], "properties": {
                "sku": id, "location": id, "lot": {"type": "string", "description": "Exactly when the SKU is lot-tracked."},
                "serial": {"type": "string", "description": "Exactly when the SKU is serial-tracked (then qty 0 or 1)."},
                "qty": {"type": "integer", "minimum": 0}, "uom": {"type": "string", "description": "Optional; the SKU's base unit."}}},
            "CycleCount": {"type": "object", "required": ["correlation_id", "warehouse_id", "window_start", "window_end", "counts"], "properties": {
                "correlation_id": id, "warehouse_id": id, "window_start": time, "window_end": time,
                "counts": {"type": "array", "items": schema("StockLine")}}},
            "InventorySnapshot": {"type": "object", "required": ["correlation_id", "warehouse_id", "window_start", "window_end", "scope", "as_of", "quantities"], "properties": {
                "correlation_id": id, "warehouse_id": id, "window_start": time, "window_end": time,
                "scope": {"enum": ["FULL", "PARTIAL"]}, "as_of": time,
                "quantities": {"type": "array", "items": schema("StockLine")}}},
            "ConfirmationResult": {"type": "object", "properties": {
                "correlation_id": {"type": "string"}, "status": {"enum": ["ACCEPTED", "REPLAY"]}, "replay": {"type": "boolean"},
                "window_id": {"type": "string"}, "window_status": {"enum": ["PENDING", "DISCREPANCY", "RECONCILED"]}}},
            "SupervisorAction": {"type": "object", "required": ["supervisor_id"], "additionalProperties": false, "properties": {
                "supervisor_id": {"type": "string", "description": "The person acting."},
                "reason": {"type": "string", "maxLength": 2000, "description": "Required (non-empty) to close; `note` is accepted as an alias."}}},
            "Warehouse": {"type": "object", "required": ["name"], "properties": {"warehouse_id": id, "name": {"type": "string"}}},
            "Sku": {"type": "object", "required": ["base_uom"], "properties": {"sku": id, "base_uom": {"type": "string", "maxLength": 16},
                "tracking": {"enum": ["NONE", "LOT", "SERIAL"]}, "description": {"type": "string"}}},
            "Partner": {"type": "object", "properties": {
                "partner_id": id, "role": {"enum": ["EXECUTOR", "ADMIN", "SUPERVISOR"], "default": "EXECUTOR"},
                "allowed_warehouses": {"type": "array", "items": {"type": "string"}},
                "api_keys": {"type": "array", "items": {"type": "string", "minLength": 16, "maxLength": 256}, "description": "Raw keys to add; stored only as SHA-256 digests."},
                "api_key_sha256": {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}},
                "api_key_expires_at": time, "revoke_key_ids": {"type": "array", "items": {"type": "string"}},
                "cert_sha256": {"type": "array", "items": {"type": "string"}, "description": "Client-certificate SHA-256 thumbprints to enroll (hex, colons allowed)."},
                "revoke_cert_sha256": {"type": "array", "items": {"type": "string"}},
                "bearer_allowed": {"type": "boolean", "description": "false: only mTLS authenticates this partner."}}},
            "Bundle": {"type": "object", "additionalProperties": false, "properties": {
                "warehouses": {"type": "array", "items": schema("Warehouse")}, "skus": {"type": "array", "items": schema("Sku")},
                "locations": {"type": "array", "items": {"type": "object", "required": ["warehouse_id", "location"], "properties": {"warehouse_id": id, "location": id}}},
                "partners": {"type": "array", "items": schema("Partner")}}},
            "BundleReport": {"type": "object", "properties": {"written": {"type": "integer"}, "unchanged": {"type": "integer"},
                "visible": {"type": "boolean", "description": "Whether validation already sees the change."}}}
        }
    })
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (path, method, id, op) in routes() {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = op.build(id);
    }
    json!({
        "openapi": "3.1.0",
        "servers": [{"url": "/", "description": "The hub serving this document (it is also at /openapi.json)."}],
        "info": {
            "title": "wes: warehouse-execution hub",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The planner side of the planner/executor contract. Partner routes live under /wes/v1/, planner-internal routes under /planner/v1/. Every 4xx/5xx is application/problem+json."
        },
        "tags": [
            {"name": "realtime", "description": "Executor → planner, best effort (contract §3)."},
            {"name": "confirmation", "description": "Executor → planner, authoritative (contract §4)."},
            {"name": "supervisor", "description": "The supervisor queue and reconciliation windows."},
            {"name": "dispatch", "description": "Planner → executor releases (contract §2)."},
            {"name": "ledger"}, {"name": "tasks"}, {"name": "capacity"}, {"name": "masterdata"}, {"name": "operations"}
        ],
        "paths": paths,
        "components": components(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_route_of_the_router_is_documented_and_nothing_else() {
        let documented: BTreeSet<String> = document()["paths"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let routed: BTreeSet<String> = crate::route_paths()
            .into_iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(documented, routed);
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/").skip(1) {
            let target = &part[..part.find('"').unwrap()];
            let mut node = &doc["components"];
            for segment in target.split('/') {
                node = &node[segment];
            }
            assert!(!node.is_null(), "dangling $ref {target}");
        }
    }
}
