//! Schema evolution of the catalog: every enum carries an `UNKNOWN` symbol and defaults to it, so a
//! reader holding today's schema still reads records a later version writes with a symbol it does
//! not know; and today's schemas are a compatible evolution of the ones before the defaults.

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use serde_json::Value as Json;
use wes_events::Catalog;

/// Fields added to records since the previous schemas (all with defaults).
const ADDED_FIELDS: [&str; 3] = ["expected_cost_decimal", "priority_level", "envelope"];

/// The symbol a later version adds to every enum.
const ADDED_LATER: &str = "ADDED_LATER";

/// Applies `f` to every inline enum definition of a schema document.
fn each_enum(schema: &mut Json, f: &mut impl FnMut(&mut serde_json::Map<String, Json>)) {
    match schema {
        Json::Object(map) => {
            if map.get("type") == Some(&Json::String("enum".into())) {
                f(map);
            }
            for value in map.values_mut() {
                each_enum(value, f);
            }
        }
        Json::Array(items) => items.iter_mut().for_each(|v| each_enum(v, f)),
        _ => {}
    }
}

fn catalog_schemas() -> Vec<(String, Json)> {
    Catalog::embedded()
        .topics
        .into_iter()
        .map(|t| {
            (
                t.name,
                serde_json::from_str(&t.schema).expect("schema is JSON"),
            )
        })
        .collect()
}

fn to_avro_datum(schema: &Schema, value: Value) -> apache_avro::AvroResult<Vec<u8>> {
    GenericDatumWriter::builder(schema)
        .build()?
        .write_value_to_vec(value)
}

/// Reads bytes written with `writer` as `reader` sees them (Avro schema resolution).
fn from_avro_datum(
    writer: &Schema,
    bytes: &mut &[u8],
    reader: Option<&Schema>,
) -> apache_avro::AvroResult<Value> {
    GenericDatumReader::builder(writer)
        .maybe_reader_schema(reader)
        .build()?
        .read_value(bytes)
}

fn parse(doc: &Json) -> Schema {
    Schema::parse_str(&doc.to_string()).expect("valid schema")
}

/// The schema as it was before enums had a default, `event_id` was typed as a uuid, costs had an
/// exact decimal and releases their priority word and envelope.
fn before_defaults(current: &Json) -> Json {
    let doc = previous(current, true);
    assert_ne!(&doc, current, "every schema changed: {}", current["name"]);
    doc
}

/// `before_defaults`, keeping the uuid type of `event_id` when `untype_uuids` is false.
fn previous(current: &Json, untype_uuids: bool) -> Json {
    fn undo(node: &mut Json, untype_uuids: bool) {
        match node {
            Json::Object(map) => {
                if map.get("type") == Some(&Json::from("enum")) {
                    map.remove("default");
                    if let Some(Json::Array(symbols)) = map.get_mut("symbols") {
                        symbols.retain(|s| s != "UNKNOWN");
                    }
                }
                if let Some(Json::Array(fields)) = map.get_mut("fields") {
                    fields.retain(|f| !ADDED_FIELDS.iter().any(|added| f["name"] == *added));
                }
                if untype_uuids && map.get("logicalType") == Some(&Json::from("uuid")) {
                    map.remove("logicalType");
                }
                map.values_mut().for_each(|v| undo(v, untype_uuids));
            }
            Json::Array(items) => items.iter_mut().for_each(|v| undo(v, untype_uuids)),
            _ => {}
        }
    }
    let mut doc = current.clone();
    undo(&mut doc, untype_uuids);
    doc
}

/// A later version that adds a symbol to every enum.
fn with_added_symbol(current: &Json) -> Json {
    let mut doc = current.clone();
    each_enum(&mut doc, &mut |e| {
        if let Some(Json::Array(symbols)) = e.get_mut("symbols") {
            symbols.insert(0, Json::String(ADDED_LATER.into()));
        }
    });
    doc
}

/// A record of `schema` in which every enum holds `ADDED_LATER` when it has that symbol, else its
/// first (every union its last branch, every array and map one element, every string a UUID).
fn sample(schema: &Schema) -> Value {
    fn of(schema: &Schema, names: &apache_avro::schema::NamesRef<'_>) -> Value {
        match schema {
            Schema::Ref { name } => of(names[name], names),
            Schema::Record(r) => Value::Record(
                r.fields
                    .iter()
                    .map(|f| (f.name.clone(), of(&f.schema, names)))
                    .collect(),
            ),
            Schema::Enum(e) => {
                let at = e.symbols.iter().position(|s| s == ADDED_LATER).unwrap_or(0);
                Value::Enum(at as u32, e.symbols[at].clone())
            }
            Schema::Union(u) => {
                let last = u.variants().len() - 1;
                Value::Union(last as u32, Box::new(of(&u.variants()[last], names)))
            }
            Schema::Array(a) => Value::Array(vec![of(&a.items, names)]),
            Schema::Map(m) => Value::Map([("k".to_owned(), of(&m.types, names))].into()),
            // A UUID's text: `event_id` was a string holding one before it was typed as a uuid.
            Schema::String => Value::String(uuid::Uuid::nil().to_string()),
            Schema::Uuid(_) => Value::Uuid(uuid::Uuid::nil()),
            Schema::Long => Value::Long(7),
            Schema::Int => Value::Int(7),
            Schema::TimestampMillis => Value::TimestampMillis(1_700_000_000_000),
            Schema::Double => Value::Double(0.5),
            Schema::Decimal(_) => {
                Value::Decimal(apache_avro::Decimal::from(125_000_i64.to_be_bytes()))
            }
            Schema::Boolean => Value::Boolean(true),
            other => panic!("the sample has no value for {other:?}"),
        }
    }
    let names = apache_avro::schema::ResolvedSchema::try_from(schema).expect("resolvable");
    of(schema, names.get_names())
}

fn enum_symbols(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Enum(_, s) => out.push(s.clone()),
        Value::Record(fields) => fields.iter().for_each(|(_, v)| enum_symbols(v, out)),
        Value::Union(_, v) => enum_symbols(v, out),
        Value::Array(items) => items.iter().for_each(|v| enum_symbols(v, out)),
        Value::Map(m) => m.values().for_each(|v| enum_symbols(v, out)),
        _ => {}
    }
}

#[test]
fn every_enum_has_an_unknown_default() {
    for (topic, doc) in catalog_schemas() {
        let mut doc = doc;
        each_enum(&mut doc, &mut |e| {
            let name = e["name"].clone();
            assert_eq!(
                e.get("default"),
                Some(&Json::from("UNKNOWN")),
                "{topic}: {name}"
            );
            assert!(
                e["symbols"].as_array().unwrap().contains(&"UNKNOWN".into()),
                "{topic}: {name}"
            );
        });
    }
}

#[test]
fn a_reader_with_todays_schema_reads_a_symbol_added_later_as_unknown() {
    let mut enums_seen = 0;
    for (topic, doc) in catalog_schemas() {
        let reader = parse(&doc);
        let writer = parse(&with_added_symbol(&doc));
        let record = sample(&writer);
        let bytes = to_avro_datum(&writer, record).expect("encodes");
        let read = from_avro_datum(&writer, &mut bytes.as_slice(), Some(&reader))
            .unwrap_or_else(|e| panic!("{topic}: today's reader fails on a later writer: {e}"));
        let mut symbols = vec![];
        enum_symbols(&read, &mut symbols);
        assert!(
            symbols.iter().all(|s| s == "UNKNOWN"),
            "{topic}: {symbols:?}"
        );
        enums_seen += symbols.len();

        // What this guards against: the schemas before the defaults failed on the same record.
        let old_reader = parse(&before_defaults(&doc));
        if !symbols.is_empty() {
            assert!(
                from_avro_datum(&writer, &mut bytes.as_slice(), Some(&old_reader)).is_err(),
                "{topic}: a reader without defaults should fail on an unknown symbol"
            );
        }
    }
    assert!(
        enums_seen >= 15,
        "the catalog's enums were exercised ({enums_seen})"
    );
}

/// Readers that still hold the previous schema (consumers not yet upgraded) read today's records.
/// The previous `event_id` is kept a uuid here: apache-avro cannot resolve a uuid to a plain
/// string reader (the bytes are the same; Java and fastavro do it, which the Python exercise
/// checks with the previous schema in full).
#[test]
fn readers_with_the_previous_schemas_read_todays_records() {
    for (topic, doc) in catalog_schemas() {
        let today = parse(&doc);
        let old = parse(&previous(&doc, false));
        let bytes = to_avro_datum(&today, sample(&today)).expect("encodes");
        from_avro_datum(&today, &mut bytes.as_slice(), Some(&old)).unwrap_or_else(|e| {
            panic!("{topic}: the previous schema fails on today's record: {e}")
        });
    }
}

#[test]
fn todays_schemas_read_everything_written_before_the_defaults() {
    for (topic, doc) in catalog_schemas() {
        let old = parse(&before_defaults(&doc));
        let new = parse(&doc);
        SchemaCompatibility::can_read(&old, &new)
            .unwrap_or_else(|e| panic!("{topic}: not backward compatible: {e}"));
        let bytes = to_avro_datum(&old, sample(&old)).expect("encodes");
        from_avro_datum(&old, &mut bytes.as_slice(), Some(&new))
            .unwrap_or_else(|e| panic!("{topic}: {e}"));
    }
}
