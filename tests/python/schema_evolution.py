"""An old reader against a new writer, with Confluent's own serializers: for every schema of the
catalog, a later version that adds a symbol to every enum registers as a compatible evolution
(BACKWARD_TRANSITIVE, after the version without enum defaults and today's), and a consumer that
holds today's schema reads its records with each new symbol as UNKNOWN, where a consumer holding
the schema before the defaults fails. Usage: schema_evolution.py REGISTRY_URL SCHEMA_FILE...
Exit 0 when every check holds."""

import copy
import decimal
import json
import sys
import uuid

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

ADDED_LATER = "ADDED_LATER"


def enums(node):
    """Every inline enum definition of a schema document."""
    if isinstance(node, dict):
        if node.get("type") == "enum":
            yield node
        for value in node.values():
            yield from enums(value)
    elif isinstance(node, list):
        for value in node:
            yield from enums(value)


# Fields added to records since the previous schemas (all with defaults).
ADDED_FIELDS = {"expected_cost_decimal", "priority_level", "envelope"}


def before_defaults(doc):
    """The schema before enum defaults, uuid event ids and exact costs."""
    def undo(node):
        if isinstance(node, dict):
            if node.get("type") == "enum":
                node.pop("default", None)
                node["symbols"] = [s for s in node["symbols"] if s != "UNKNOWN"]
            if isinstance(node.get("fields"), list):
                node["fields"] = [f for f in node["fields"] if f["name"] not in ADDED_FIELDS]
            if node.get("logicalType") == "uuid":
                del node["logicalType"]
            for value in node.values():
                undo(value)
        elif isinstance(node, list):
            for value in node:
                undo(value)
    old = copy.deepcopy(doc)
    undo(old)
    assert old != doc, f"{doc['name']} did not change"
    return old


def with_added_symbol(doc):
    new = copy.deepcopy(doc)
    for e in enums(new):
        e["symbols"] = [ADDED_LATER] + e["symbols"]
    return new


def sample(schema, named):
    """A record in which every enum holds ADDED_LATER (unions take their last branch)."""
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        return sample(schema[-1], named)
    if isinstance(schema, dict):
        kind = schema["type"]
        if kind == "record":
            named[schema["name"]] = schema
            return {f["name"]: sample(f["type"], named) for f in schema["fields"]}
        if kind == "enum":
            named[schema["name"]] = schema
            return ADDED_LATER if ADDED_LATER in schema["symbols"] else schema["symbols"][0]
        if kind == "array":
            return [sample(schema["items"], named)]
        if kind == "map":
            return {"k": sample(schema["values"], named)}
        if schema.get("logicalType") == "uuid":
            return str(uuid.uuid4())
        if schema.get("logicalType") == "decimal":
            return decimal.Decimal("12.5")
        return sample(kind, named)
    return {"string": "text", "long": 7, "int": 7, "double": 0.5, "boolean": True}[schema]


def symbols(value, schema, named, out):
    """Collects the enum values of a decoded record, following its schema."""
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        symbols(value, schema[-1], named, out)
    elif isinstance(schema, dict):
        kind = schema["type"]
        if kind == "record":
            named[schema["name"]] = schema
            for f in schema["fields"]:
                symbols(value[f["name"]], f["type"], named, out)
        elif kind == "enum":
            named[schema["name"]] = schema
            out.append(value)
        elif kind == "array":
            for v in value:
                symbols(v, schema["items"], named, out)
        elif kind == "map":
            for v in value.values():
                symbols(v, schema["values"], named, out)


url, files = sys.argv[1], sys.argv[2:]
client = SchemaRegistryClient({"url": url})
run = uuid.uuid4().hex[:8]
checked = 0
for path in files:
    with open(path) as f:
        today = json.load(f)
    topic = f"py-evolution-{run}-{today['name']}"
    subject = f"{topic}-value"
    client.set_compatibility(subject_name=subject, level="BACKWARD_TRANSITIVE")
    old, later = before_defaults(today), with_added_symbol(today)
    for version in (old, today, later):
        client.register_schema(subject, Schema(json.dumps(version), "AVRO"))

    ctx = SerializationContext(topic, MessageField.VALUE)
    # A consumer that has not upgraded yet reads today's records (the cost as its double).
    todays = AvroSerializer(client, json.dumps(today), conf={"auto.register.schemas": False,
                                                             "use.latest.version": False})
    AvroDeserializer(client, json.dumps(old))(todays(sample(today, {}), ctx), ctx)

    writer = AvroSerializer(client, json.dumps(later), conf={"auto.register.schemas": False,
                                                             "use.latest.version": True})
    record = writer(sample(later, {}), ctx)

    read = AvroDeserializer(client, json.dumps(today))(record, ctx)
    found = []
    symbols(read, today, {}, found)
    assert all(s == "UNKNOWN" for s in found), f"{path}: {found}"
    checked += len(found)
    if not found:
        continue
    try:
        AvroDeserializer(client, json.dumps(old))(record, ctx)
    except Exception:  # the reader before the defaults cannot resolve the new symbol
        pass
    else:
        raise AssertionError(f"{path}: a reader without enum defaults read an unknown symbol")

assert checked >= 15, f"only {checked} enum values were exercised"
print(f"schema evolution: {len(files)} schemas, {checked} enum values read as UNKNOWN")
