"""`serve_app` under a real uvicorn: every log line is JSON, one per event, and a 500 neither
logs a second (raw) traceback nor drops the keep-alive connection (issue 14, item 7)."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

from tests.service.subprocess_server import serve_subprocess


def test_a_500_is_one_json_line_and_keeps_the_connection(
    tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    with serve_subprocess(tiny_bundle_dir, tmp_path, boom=True) as served:
        parts = urlsplit(served.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        connection.request("GET", "/boom", headers={"X-Request-ID": "req-boom"})
        response = connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 500
        assert body["error"]["code"] == "internal_error"
        assert "kaboom" not in json.dumps(body)  # internals stay in the log
        socket = connection.sock
        connection.request("GET", "/healthz")
        again = connection.getresponse()
        assert again.status == 200 and json.loads(again.read()) == {"status": "ok"}
        assert connection.sock is socket, "the keep-alive connection was dropped after a 500"
        connection.close()
    lines = [line for line in served.log.read_text().splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is JSON
    errors = [e for e in events if "kaboom" in json.dumps(e)]
    assert len(errors) == 1, errors
    assert errors[0]["request_id"] == "req-boom" and errors[0]["level"] == "ERROR"
    assert "Traceback" in errors[0]["exception"]
    # uvicorn's own lines (started, shutting down) came through the JSON handler too.
    assert any(e["logger"].startswith("uvicorn") for e in events)
    requests = [e for e in events if e.get("message") == "request" and e.get("path") == "/boom"]
    assert [r["status"] for r in requests] == [500]
