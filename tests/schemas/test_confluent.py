"""The Schema Registry path: the real confluent_kafka client against a stand-in server.

No Schema Registry can run here, so ``_FakeRegistry`` implements the four REST endpoints the
codec uses (register, fetch by id, set compatibility, read compatibility) with the registry's
JSON shapes and error codes. Everything on the client side is the real library.
"""
from __future__ import annotations

import json
import re
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from schema_samples import FULL

from casenotes.schemas import SCHEMA_NAMES, AvroCodec, DecodeError, default_catalog, make_codec
from casenotes.schemas.confluent import RegistryFraming


class _FakeRegistry(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.schemas: list[str] = []  # id - 1 -> schema string
        self.subjects: dict[str, list[int]] = {}
        self.config: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _FakeRegistry

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def do_POST(self):
        path = self.path.split("?")[0]
        self.server.requests.append(("POST", path))
        m = re.fullmatch(r"/subjects/([^/]+)/versions", path)
        if not m:
            return self._reply(404, {"error_code": 404, "message": "not found"})
        schema = self._body()["schema"]
        if schema not in self.server.schemas:
            self.server.schemas.append(schema)
        sid = self.server.schemas.index(schema) + 1
        versions = self.server.subjects.setdefault(m[1], [])
        if sid not in versions:
            versions.append(sid)
        self._reply(200, {"id": sid})

    def do_GET(self):
        path = self.path.split("?")[0]
        self.server.requests.append(("GET", path))
        if m := re.fullmatch(r"/schemas/ids/(\d+)", path):
            sid = int(m[1])
            if 1 <= sid <= len(self.server.schemas):
                return self._reply(200, {"schema": self.server.schemas[sid - 1]})
            return self._reply(404, {"error_code": 40403, "message": "Schema not found"})
        if m := re.fullmatch(r"/config/([^/]+)", path):
            if m[1] in self.server.config:
                return self._reply(200, {"compatibilityLevel": self.server.config[m[1]]})
        self._reply(404, {"error_code": 40401, "message": "Subject not found"})

    def do_PUT(self):
        path = self.path.split("?")[0]
        self.server.requests.append(("PUT", path))
        if m := re.fullmatch(r"/config/([^/]+)", path):
            level = self._body()["compatibility"]
            self.server.config[m[1]] = level
            return self._reply(200, {"compatibility": level})
        self._reply(404, {"error_code": 404, "message": "not found"})


@pytest.fixture
def registry():
    server = _FakeRegistry()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_round_trip_with_confluent_framing(registry, name):
    codec = make_codec(registry.url)
    data = codec.encode(name, FULL[name])
    magic, sid = struct.unpack(">bI", data[:5])
    assert (magic, sid) == (0, 1)
    record_name = default_catalog().current[name].record_name
    assert registry.subjects == {f"casenotes.{record_name}-value": [1]}
    # A second process (fresh codec, empty caches) fetches the writer schema by id.
    assert make_codec(registry.url).decode(data, name) == FULL[name]


def test_ids_are_cached_after_first_use(registry):
    codec = make_codec(registry.url)
    for _ in range(3):
        codec.encode("agent_edit", FULL["agent_edit"])
        codec.encode("case_note", FULL["case_note"])
    assert [r for r in registry.requests if r[0] == "POST"] == [
        ("POST", "/subjects/casenotes.AgentEdit-value/versions"),
        ("POST", "/subjects/casenotes.CaseNote-value/versions"),
    ]
    reader = make_codec(registry.url)
    payload = codec.encode("case_note", FULL["case_note"])
    for _ in range(3):
        reader.decode(payload, "case_note")
    assert registry.requests.count(("GET", "/schemas/ids/2")) == 1


def test_unknown_id_and_wrong_record_type_are_decode_errors(registry):
    codec = make_codec(registry.url)
    body = codec.encode("agent_edit", FULL["agent_edit"])[5:]
    with pytest.raises(DecodeError, match="unknown schema id 99"):
        codec.decode(struct.pack(">bI", 0, 99) + body, "agent_edit")
    with pytest.raises(DecodeError, match="payload is io.casenotes.AgentEdit, expected io.casenotes.CaseNote"):
        codec.decode(codec.encode("agent_edit", FULL["agent_edit"]), "case_note")
    with pytest.raises(DecodeError, match="truncated Schema Registry header"):
        codec.decode(b"\x00\x00\x01", "agent_edit")


def test_registry_codec_still_reads_single_object_payloads(registry):
    single = make_codec("").encode("conversation_event", FULL["conversation_event"])
    assert make_codec(registry.url).decode(single, "conversation_event") == FULL["conversation_event"]
    assert registry.requests == []


def test_set_compatibility_on_every_subject(registry):
    framing = RegistryFraming.from_url(registry.url)
    subjects = framing.set_compatibility(default_catalog())
    assert len(subjects) == len(SCHEMA_NAMES)
    assert registry.config == {s: "BACKWARD_TRANSITIVE" for s in subjects}
    assert framing.client.get_compatibility("casenotes.CaseNote-value") == "BACKWARD_TRANSITIVE"


def test_unreachable_registry_is_not_a_decode_error():
    # Port 9 (discard) on localhost refuses connections: the payload may be fine, so the
    # caller must see an infrastructure error and retry, not a DecodeError to dead-letter.
    codec = AvroCodec(registry=RegistryFraming.from_url("http://127.0.0.1:9", {"max.retries": 0}))
    with pytest.raises(Exception) as info:
        codec.decode(b"\x00\x00\x00\x00\x07\x02", "agent_edit")
    assert not isinstance(info.value, DecodeError)
