"""wrk (Debian's `wrk` package, C, epoll) as the benchmarks' HTTP load generator for throughput
baselines: the Python generator in loadgen.py shares the 2 CPUs with the server under test and caps
the hello-world baseline (measured: wrk 5.3k-6.4k req/s against hello, loadgen 4.5k), which made
every "÷ hello" ratio read high. `make bench` installs wrk when it is missing; without it (and no
way to install) the benchmarks fall back to loadgen and say so in the figures."""

from __future__ import annotations

import json
import queue
import re
import shutil
import signal
import subprocess  # noqa: S404  (a fixed argument list, no shell)
import tempfile
import threading
import time
from pathlib import Path

from bench.loadgen import LOOPBACK, Load

#: Prints the run's summary as one JSON line wrk's own output cannot be confused with.
_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"connect\":%d,\"read\":%d," ..
    "\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50\":%d,\"p95\":%d,\"p99\":%d}\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


#: Sent with every request, as loadgen.request_bytes does.
BROWSER_HEADERS = {"User-Agent": "crm-bench", "Accept": "text/html,application/json"}


def available() -> bool:
    return shutil.which("wrk") is not None


def run(port: int, path: str = "/", *, headers: dict[str, str] | None = None, connections: int = 8,
        seconds: float = 5.0, threads: int = 2, host: str = "127.0.0.1") -> Load:  # fmt: skip
    """GET `path` over `connections` keep-alive connections for `seconds`; a Load whose
    `reported` holds the p50/p95/p99 wrk reports (`Load.percentile`; no per-request latencies)."""
    if host not in LOOPBACK:
        raise ValueError("the load generator only talks to loopback")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_REPORT)
    command = ["wrk", "-t", str(max(1, min(threads, connections))), "-c", str(connections),
               "-d", f"{max(1, round(seconds))}s", "--latency", "-s", script.name]  # fmt: skip
    # The headers loadgen (and so bench/signin.py) sends: Flask-Login ties a session to the
    # browser's User-Agent, and a request without it marks the session no longer fresh, which
    # re-signs the cookie on every answer (no browser changes its User-Agent between pages).
    for name, value in {**BROWSER_HEADERS, **(headers or {})}.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://{host}:{port}{path}")
    try:
        output = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=True
        ).stdout  # noqa: S603
    finally:
        Path(script.name).unlink(missing_ok=True)
    match = re.search(r"^WRKJSON (\{.*\})$", output, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    found = json.loads(match.group(1))
    load = Load()
    load.requests = int(found["requests"])
    load.seconds = found["duration_us"] / 1e6
    load.bytes = int(found["bytes"])
    # Non-2xx/3xx answers count as errors, like loadgen's `expect`.
    load.errors = sum(int(found[k]) for k in ("connect", "read", "write", "status", "timeout"))
    load.reported = {float(k[1:]): found[k] / 1e6 for k in ("p50", "p95", "p99")}
    return load


#: Sends each request of a file once (issue 25 item 5: the webhook's unique, signed deliveries).
#: The file holds the raw requests, each as its length in bytes, a newline and the bytes; thread i
#: of n takes requests i, i+n, i+2n... Once its share is sent a connection sends nothing more
#: (an empty write) and waits; once a thread's share is answered it prints WRKDONE, and the caller
#: stops wrk (SIGINT) when every thread has. The time is from the first request built to the last
#: answer read, on the monotonic clock (LuaJIT's ffi: wrk's own duration is the whole -d).
#: wrk's own error counts (connect, read, write, timeout) are errors; so is any unexpected status.
_EACH_ONCE = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } crm_timespec;
int clock_gettime(int clk_id, crm_timespec *tp);
]]
local clock = ffi.new("crm_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

local threads, next_id = {}, 0
function setup(thread)
  thread:set("id", next_id)
  table.insert(threads, thread)
  next_id = next_id + 1
end

function init(args)
  local path, n = args[1], tonumber(args[2])
  local handle = assert(io.open(path, "rb"))
  local data = handle:read("*a")
  handle:close()
  mine, sent, answered, first, last, statuses = {}, 0, 0, 0, 0, {}
  local pos, index = 1, 0
  while pos <= #data do
    local eol = data:find("\n", pos, true)
    local size = tonumber(data:sub(pos, eol - 1))
    if index % n == id then mine[#mine + 1] = data:sub(eol + 1, eol + size) end
    pos, index = eol + 1 + size, index + 1
  end
  if #mine == 0 then io.write("WRKDONE ", id, "\n"); io.flush() end
  -- wrk calls thread 0's request() once before the run, to check that it parses: not a send.
  checking = id == 0
end

function request()
  if checking then
    checking = false
    return mine[1] or "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
  end
  if sent >= #mine then return "" end
  sent = sent + 1
  if first == 0 then first = now_us() end
  return mine[sent]
end

function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if answered == #mine then
    last = now_us()
    io.write("WRKDONE ", id, "\n"); io.flush()
  end
end

done = function(summary, latency, requests)
  local first_us, last_us, sent_n, answered_n, codes = nil, 0, 0, 0, {}
  for _, t in ipairs(threads) do
    local f = t:get("first")
    if f > 0 and (first_us == nil or f < first_us) then first_us = f end
    if t:get("last") > last_us then last_us = t:get("last") end
    sent_n, answered_n = sent_n + t:get("sent"), answered_n + t:get("answered")
    for code, count in pairs(t:get("statuses")) do codes[code] = (codes[code] or 0) + count end
  end
  local parts = {}
  for code, count in pairs(codes) do parts[#parts + 1] = string.format("\"%d\":%d", code, count) end
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"sent\":%d,\"answered\":%d,\"first_us\":%d,\"last_us\":%d,\"statuses\":{%s}," ..
    "\"connect\":%d,\"read\":%d,\"write\":%d,\"timeout\":%d,\"bytes\":%d,\"p50\":%d,\"p95\":%d,\"p99\":%d}\n",
    sent_n, answered_n, first_us or 0, last_us, table.concat(parts, ","), e.connect, e.read, e.write,
    e.timeout, summary.bytes, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def run_each_once(port: int, requests: list[bytes], *, connections: int = 8, threads: int = 2,
                  timeout: float = 280.0, expect: tuple[int, ...] = (200,)) -> Load:  # fmt: skip
    """Send each raw request in `requests` once (in order within each wrk thread's share) over
    `connections` keep-alive connections, and stop when all are answered (or after `timeout` s).
    A Load with the answered count, the statuses, the time from the first request to the last
    answer, and wrk's p50/p95/p99 in `reported`."""
    threads = max(1, min(threads, connections))
    workdir = Path(tempfile.mkdtemp(prefix="crm-bench-wrk-"))
    script, data = workdir / "each_once.lua", workdir / "requests.bin"
    script.write_text(_EACH_ONCE)
    with data.open("wb") as handle:
        for raw in requests:
            handle.write(b"%d\n%s" % (len(raw), raw))
    # --timeout: a connection whose thread has sent its share waits with nothing in flight, which
    # wrk would otherwise count as a timeout every 2 s.
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{round(timeout) + 5}s",
               "--timeout", f"{round(timeout) + 5}s", "--latency", "-s", str(script),
               f"http://127.0.0.1:{port}/", "--", str(data), str(threads)]  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert proc.stdout is not None
    output: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline, done = time.monotonic() + timeout, 0
        while done < threads and (left := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            done += line.startswith("WRKDONE")
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # wrk stops, prints its summary and runs done()
        proc.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    match = re.search(r"^WRKJSON (\{.*\})$", "".join(output), re.MULTILINE)
    if not match:
        raise RuntimeError("wrk printed no summary:\n" + "".join(output))
    found = json.loads(match.group(1))
    load = Load()
    load.requests = int(found["answered"])
    load.seconds = max(0, found["last_us"] - found["first_us"]) / 1e6
    load.bytes = int(found["bytes"])
    load.statuses.update({int(code): int(n) for code, n in found["statuses"].items()})
    unexpected = sum(n for code, n in load.statuses.items() if code not in expect)
    load.errors = unexpected + sum(int(found[k]) for k in ("connect", "read", "write", "timeout"))
    load.reported = {float(k[1:]): found[k] / 1e6 for k in ("p50", "p95", "p99")}
    return load
