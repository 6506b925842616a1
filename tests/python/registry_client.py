"""Confluent's Python SchemaRegistryClient against the hub's registry: every method the client
offers for schemas, subjects, versions, compatibility, config and mode, with the answers
Confluent documents. Usage: registry_client.py REGISTRY_URL. Exit 0 when every check holds."""

import json
import sys
import uuid

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.common.schema_registry_client import (
    ConfigCompatibilityLevel, ServerConfig)
from confluent_kafka.schema_registry.error import SchemaRegistryError

url = sys.argv[1]
client = SchemaRegistryClient({"url": url})
run = uuid.uuid4().hex[:8]
subject = f"py-{run}-value"
other = f"py-{run}-other-value"


def record(*fields):
    return Schema(json.dumps({"type": "record", "name": "R", "namespace": "py",
                              "fields": [{"name": "a", "type": "string"}, *fields]}), "AVRO")


def fails_with(code, call):
    try:
        call()
    except SchemaRegistryError as e:
        assert e.error_code == code, f"expected {code}, got {e.error_code}: {e}"
        return
    raise AssertionError(f"expected error {code}")


v1 = record()
v2 = record({"name": "b", "type": ["null", "string"], "default": None})
breaking = record({"name": "c", "type": "string"})

# Registering, reading back by id, by version, latest, lookup.
id1 = client.register_schema(subject, v1)
assert client.register_schema(subject, v1) == id1, "registering twice keeps the id"
full = client.register_schema_full_response(subject, v2)
id2 = full.schema_id
assert id2 != id1
assert json.loads(client.get_schema(id1).schema_str)["name"] == "R"
assert "AVRO" in client.get_schema_types()
assert client.get_versions(subject) == [1, 2]
assert client.get_version(subject, 1).schema_id == id1
assert client.get_latest_version(subject).version == 2
assert client.lookup_schema(subject, v1).version == 1
assert subject in client.get_subjects()
assert client.get_referenced_by(subject, 1) == []

# The same schema under another subject keeps its id; ids list their subjects and versions.
assert client.register_schema(other, v1) == id1
assert sorted(client.get_subjects_by_schema_id(id1)) == sorted([subject, other])
assert {(v.subject, v.version) for v in client.get_schema_versions(id1)} == {(subject, 1), (other, 1)}

# Compatibility (the client sends normalize=False&verbose=False), per version and against all.
assert client.test_compatibility(subject, v2) is True
assert client.test_compatibility(subject, breaking) is False
assert client.test_compatibility_all_versions(subject, v2) is True
fails_with(409, lambda: client.register_schema(subject, breaking))

# Compatibility levels and config: global, per subject, removed again.
client.set_compatibility(subject_name=subject, level="FULL")
assert client.get_compatibility(subject) == "FULL"
client.set_compatibility(level="BACKWARD")
assert client.get_compatibility() == "BACKWARD"
assert client.get_config(subject).compatibility_level.value == "FULL"  # GET answers compatibilityLevel
client.delete_config(subject)
fails_with(40408, lambda: client.get_compatibility(subject))
client.set_config(subject, ServerConfig(compatibility=ConfigCompatibilityLevel.FULL_TRANSITIVE))
assert client.get_compatibility(subject) == "FULL_TRANSITIVE"
client.delete_config(subject)
fails_with(40408, lambda: client.get_compatibility(subject))

# Mode: always READWRITE.
assert client.get_mode(subject) == "READWRITE"
assert client.get_global_mode() == "READWRITE"
assert client.update_mode(subject, "READWRITE") == "READWRITE"
fails_with(42204, lambda: client.update_mode(subject, "READONLY"))
assert client.update_global_mode("READWRITE") == "READWRITE"
assert client.delete_mode(subject) == "READWRITE"
assert client.get_contexts() == ["."]

# Data contracts (metadata, rules), schema GUIDs and associations are not offered: the client gets
# Confluent's JSON 404 rather than a page or an empty body.
fails_with(404, lambda: client.get_latest_with_metadata(subject, {"owner": "wes"}))
fails_with(404, lambda: client.get_schema_by_guid("5f2d4f0e-0000-4000-8000-000000000000"))
fails_with(404, lambda: client.get_associations_by_resource_name("wes", "topic"))

# Deletes as Confluent documents them: soft first, then permanent; soft-deleted versions are
# hidden; a permanent delete without a soft one is refused.
fails_with(40407, lambda: client.delete_version(subject, 1, permanent=True))
assert client.delete_version(subject, 1) == 1
fails_with(40402, lambda: client.get_version(subject, 1))
assert client.get_versions(subject) == [2]
fails_with(40406, lambda: client.delete_version(subject, 1))
assert client.delete_version(subject, 1, permanent=True) == 1
fails_with(40405, lambda: client.delete_subject(other, permanent=True))
assert client.delete_subject(other) == [1]
assert other not in client.get_subjects()
fails_with(40404, lambda: client.delete_subject(other))
assert client.delete_subject(other, permanent=True) == [1]
fails_with(40401, lambda: client.get_versions(other))
fails_with(40403, lambda: client.get_schema(999_999))

print("registry: every SchemaRegistryClient check passed")
